"""Shared fixtures. Every test run, and each pytest-xdist worker of a run, gets its own
ROS_DOMAIN_ID, so parallel runs and workers on one host never see each other's DDS traffic; it is
set before anything can initialise rclpy."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Domain ids 1..100 are safe on Linux with default port settings. One run picks a base id; under
# pytest-xdist the workers inherit it from the controller and each takes base + its own index, so a
# run's workers never see each other's DDS traffic either.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")            # "gw0", "gw1", ... in a worker
if _WORKER is None or "DEPTH_ROS_TEST_DOMAIN_BASE" not in os.environ:
    _seed = os.getpid() ^ int.from_bytes(os.urandom(4), "little")
    os.environ["DEPTH_ROS_TEST_DOMAIN_BASE"] = str(random.Random(_seed).randint(1, 100 - 16))
    # One ONNX export cache per test run, shared by its workers and the node processes they start
    # (its graphs are written atomically, the built-in INT8 calibration set under a lock).
    os.environ["DEPTH_ROS_CACHE"] = tempfile.mkdtemp(prefix="depth_ros_test_cache_")
_INDEX = int(_WORKER[2:]) if _WORKER else 0
os.environ["ROS_DOMAIN_ID"] = str(int(os.environ["DEPTH_ROS_TEST_DOMAIN_BASE"]) + _INDEX % 16)
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
if _WORKER is not None:
    # Two workers share the cores: torch's OpenMP threads, one per worker (and per process it
    # starts), rather than two each spinning against the other's. (ONNX Runtime keeps its own.)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under pytest-xdist, a test marked ``alone`` has the machine to itself: it holds the run's
    lock exclusively while every other test holds it shared, so the other worker waits between
    its tests. Around the whole of each test (the set-up and tear-down of its fixtures, whatever
    their scope, included), for the tests that play a bag at its recorded rate and count what
    arrives in time, which a second worker's load would make fail. Without xdist, nothing to do."""
    if _WORKER is None:
        yield
        return
    with open(Path(os.environ["DEPTH_ROS_CACHE"]) / ".tests.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if item.get_closest_marker("alone") else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def in_process(capsys):
    """``run(main, argv)``: a command's ``main`` in this process, as ``(exit code, stdout, stderr)``.
    For help and usage errors, where a process would spend its time on imports; the tests that
    exercise a command itself run it as a process."""
    def run(main, argv) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as done:          # argparse's help and usage errors
            code = done.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """Folder of this interpreter's console scripts (the project's .venv/bin under the README command)."""
    return Path(sys.executable).parent


@pytest.fixture(scope="session")
def sim_bag(tmp_path_factory) -> Path:
    """A small simulated street bag (6 frames at 320x96), written once per session."""
    from depth_ros.bag.simulate import write_sim_bag

    return write_sim_bag(tmp_path_factory.mktemp("bags") / "street", "street", 6, seed=3, width=320, height=96,
                         progress=False)


@pytest.fixture(scope="session")
def confidence_model(tmp_path_factory) -> Path:
    """A model file whose confidence output varies per pixel: ``san_efficientnet_lite0_spn`` with
    initial weights and a random last confidence layer."""
    import torch

    from depth_core.models import create_model, save_model

    torch.manual_seed(0)
    model = create_model("san_efficientnet_lite0_spn")
    torch.nn.init.normal_(model.confidence.net[-1].weight, std=0.5)
    return save_model(model, tmp_path_factory.mktemp("confidence") / "conf.safetensors")


@pytest.fixture(scope="session")
def colcon_install(repo_root, venv_bin, tmp_path_factory) -> Path:
    """``colcon build`` of this package into a temporary workspace; returns its install folder."""
    colcon = venv_bin / "colcon"
    if not colcon.exists():
        colcon = shutil.which("colcon")
    assert colcon, "colcon is part of the dev extra: run scripts/setup.sh"
    ws = tmp_path_factory.mktemp("colcon_ws")
    result = subprocess.run([str(colcon), "--log-base", str(ws / "log"), "build", "--paths", str(repo_root),
                             "--build-base", str(ws / "build"), "--install-base", str(ws / "install")],
                            cwd=ws, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws / "install"


@pytest.fixture(scope="session")
def lagged_bag(tmp_path_factory) -> Path:
    """A simulated street at 10 m/s whose LiDAR captures each scan 50 ms before the image (its cloud
    stamped then, /tf carrying the odometry at both stamps): 4 frames at 320x96."""
    from depth_ros.bag.simulate import write_sim_bag

    return write_sim_bag(tmp_path_factory.mktemp("bags") / "lagged", "street", 4, seed=3, width=320, height=96,
                         progress=False, speed=10.0, lidar_lag=0.05)

"""Shared fixtures. Every test run gets its own ROS_DOMAIN_ID so parallel runs on one host never
see each other's DDS traffic; it is set before anything can initialise rclpy."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Domain ids 1..100 are safe on Linux with default port settings; pick one per run.
os.environ["ROS_DOMAIN_ID"] = str(random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little")).randint(1, 100))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# One ONNX export cache per test run, shared by the node processes it starts.
os.environ["DEPTH_ROS_CACHE"] = tempfile.mkdtemp(prefix="depth_ros_test_cache_")

REPO = Path(__file__).resolve().parents[1]


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

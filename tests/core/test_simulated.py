"""Generating simulated frame sets: random rigs recorded per sequence, parallel workers, resuming
after an interruption, and miniature runs."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from depth_core.data import FrameDataset, write_simulated_dataset
from depth_core.data.simulated import GENERATION_FILE, ensure_simulated_dataset
from depth_core.utils.files import OutputError

SMALL = dict(width=48, height=32, sequence_length=2, progress=False)


def _tree_digest(root: Path) -> dict[str, str]:
    """Hashes of every file under ``root`` (relative paths)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_random_rigs_are_drawn_per_sequence_and_recorded(tmp_path):
    summary = write_simulated_dataset(tmp_path / "ds", ["yard", "street"], 4, rigs="random", workers=1, **SMALL)
    assert [s["name"] for s in summary["sequences"]] == ["yard_0000", "yard_0001", "street_0000", "street_0001"]
    ds = FrameDataset(tmp_path / "ds")
    rigs = [ds[i]["rig"] for i in range(0, len(ds), 2)]
    assert all(r["name"] == "random" and r["lidar"]["model"] for r in rigs)
    # One rig per sequence: the LiDAR, the mount and the field of view differ between sequences.
    assert len({(r["lidar"]["model"], r["mount"]["camera_xyz"][2], r["camera"]["hfov_deg"]) for r in rigs}) == 4
    item = ds[0]
    assert item["K"][0, 0] == pytest.approx(0.5 * 48 / math.tan(math.radians(item["rig"]["camera"]["hfov_deg"]) / 2))
    assert item["lidar"]["beams"] == item["rig"]["lidar"]["beams"]


def test_presets_are_cycled_and_a_bad_rig_fails_before_rendering(tmp_path):
    write_simulated_dataset(tmp_path / "p", ["street"], 4, rigs=["vga60", "kitti_like"], workers=1, **SMALL)
    ds = FrameDataset(tmp_path / "p")
    assert [ds[i]["rig"]["name"] for i in (0, 2)] == ["vga60", "kitti_like"]
    with pytest.raises(ValueError, match="unknown rig 'vga61'"):
        write_simulated_dataset(tmp_path / "bad", ["street"], 2, rigs="vga61", **SMALL)
    with pytest.raises(ValueError, match="above what 'indoor' allows"):
        write_simulated_dataset(tmp_path / "bad", ["indoor"], 2, rigs="high_mount", **SMALL)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_parallel_workers_write_the_same_files_as_one_process(tmp_path):
    write_simulated_dataset(tmp_path / "one", ["yard", "indoor"], 4, rigs="random", workers=1, **SMALL)
    write_simulated_dataset(tmp_path / "two", ["yard", "indoor"], 4, rigs="random", workers=2, **SMALL)
    assert _tree_digest(tmp_path / "one") == _tree_digest(tmp_path / "two")


RESUME_FRAMES = 60      # 30 sequences: three written before the kill, 27 to come


def _simulate_cmd(out: Path, *extra: str, frames: int = RESUME_FRAMES, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "depth_core.cli", "simulate", "--out", str(out), "--scene", "yard",
            "--frames", str(frames), "--sequence-length", "2", "--width", "48", "--height", "32", "--rigs", "random",
            "--workers", str(workers), *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The data set an interrupted generation must resume to, written in one go."""
    reference = tmp_path_factory.mktemp("uninterrupted") / "ds"
    write_simulated_dataset(reference, ["yard"], RESUME_FRAMES, rigs="random", workers=2, **SMALL)
    return reference


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_an_interrupted_generation_resumes_to_the_same_data_set(tmp_path, how, uninterrupted):
    out = tmp_path / "out"
    # Ctrl-C's default disposition in the child, whatever the test runner set for itself (an
    # ignored SIGINT is inherited, and Python then never raises KeyboardInterrupt).
    proc = subprocess.Popen(_simulate_cmd(out, "--quiet"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out / "yard_0002").is_dir():   # three complete sequences, 27 to come
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    assert not (out / "dataset.json").exists() and (out / GENERATION_FILE).is_file()
    if how == "interrupt":
        # Ctrl-C: the partial sequence is removed at once, the complete ones are kept and the
        # user is told how to resume.
        assert not list(out.glob(".*.partial"))
        assert "run the same command again to resume" in stderr
    kept = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(kept) >= 3

    done = subprocess.run(_simulate_cmd(out, workers=2), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(kept)} sequences already done" in done.stderr
    assert "frame/s" in done.stderr   # the progress bar
    assert not list(out.glob(".*.partial")) and not (out / GENERATION_FILE).exists()
    assert _tree_digest(out) == _tree_digest(uninterrupted)


@pytest.mark.slow
def test_interrupted_simulation_leaves_no_partial_dataset(tmp_path):
    """Ctrl-C while the first (here the only) sequence is being written: nothing is left at all."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "depth_core.cli", "simulate", "--out", str(out), "--scene", "yard",
           "--frames", "400", "--sequence-length", "400", "--width", "48", "--height", "32", "--workers", "1",
           "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    partial = out / ".yard_0000.partial"
    deadline = time.monotonic() + 120
    while not (partial.is_dir() and any(partial.rglob("*.png"))):   # until it has started writing
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    assert list(tmp_path.iterdir()) == [], proc.stderr.read().decode()


def test_resuming_with_other_settings_is_refused_with_the_fix(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / GENERATION_FILE).write_text(json.dumps({"request": {"scenes": ["yard"], "frames": 99}}))
    with pytest.raises(OutputError, match=r"unfinished simulation with other settings \(.*frames.*\).*--overwrite"):
        write_simulated_dataset(out, ["yard"], 4, **SMALL)
    write_simulated_dataset(out, ["yard"], 2, overwrite=True, **SMALL)
    assert (out / "dataset.json").is_file()


def test_a_miniature_run_generates_one_sequence_per_world_and_the_full_run_keeps_it(tmp_path, caplog):
    root = tmp_path / "ds"
    mini = ensure_simulated_dataset(root, ["yard", "indoor"], 6, max_sequences=1, workers=1, **SMALL)
    assert len(mini) == 4 and not (root / "dataset.json").exists()
    first = (root / "yard_0000" / "image" / "000000.png").stat().st_mtime_ns
    full = ensure_simulated_dataset(root, ["yard", "indoor"], 6, workers=1, **SMALL)
    assert len(full) == 12 and (root / "dataset.json").is_file()
    assert (root / "yard_0000" / "image" / "000000.png").stat().st_mtime_ns == first


@pytest.mark.slow
def test_simulate_cli_prints_what_it_does_before_rendering(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(_simulate_cmd(tmp_path / "cli", frames=2, workers=2), capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "simulating 2 frames in 1 sequences (yard; rigs: random" in done.stderr
    assert "wrote 2 samples in 1 sequences (yard; rigs random" in done.stdout

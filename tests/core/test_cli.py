"""The ``depth-core`` command line: help for every command, ``simulate`` and ``eval``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from depth_core.cli import main as depth_core_main
from depth_core.data import FrameDataset
from depth_core.data.simulated import sequence_seed
from depth_core.geometry import project_lidar
from depth_core.models import create_model, save_model
from depth_core.sim import Simulator, default_config


@pytest.mark.slow
def test_eval_reports_rows_sweep_and_plot(tmp_path, frames, capsys):
    model = tmp_path / "m.safetensors"

    torch.manual_seed(0)
    save_model(create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]), model)
    out = tmp_path / "report"
    assert depth_core_main(["eval", "--model", str(model), "--backend", "torch", "--data", str(frames), "--baselines",
                            "--sweep", "0,0.2,1", "--flip", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert set(result["rows"]) == {"prediction", "completion", "classical", "median"}
    # Without --input-size the model runs where it was configured (and trained), not at each image's size.
    assert "native size" not in result["estimator"], result["estimator"]
    assert [r["fraction"] for r in result["sweep"]] == [0.0, 0.2, 1.0]
    assert (out / "sparsity_sweep.png").stat().st_size > 1000 and "| completion |" in (out / "metrics.md").read_text()
    assert "| classical |" in capsys.readouterr().out
    assert depth_core_main(["eval", "--data", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope/dataset.json: not found" in capsys.readouterr().err


def test_eval_of_a_frame_set_whose_truth_is_the_lidar_scores_held_out_points(tmp_path, frames):
    """A frame set from a bag without a depth topic has the LiDAR as ground truth: given every
    point, a completion would be scored on its own input. Like training's report, eval gives it 30 %
    of each scan and scores the rest."""
    lidar = tmp_path / "lidar_truth"
    shutil.copytree(frames, lidar)
    meta = json.loads((lidar / "dataset.json").read_text())
    (lidar / "dataset.json").write_text(json.dumps({**meta, "ground_truth": "lidar"}))
    runs = {}
    for name, data in (("rendered", frames), ("lidar", lidar)):
        out = tmp_path / name
        assert depth_core_main(["eval", "--model", "classical", "--data", str(data), "--baselines", "--out", str(out),
                                "--quiet"]) == 0
        runs[name] = json.loads((out / "metrics.json").read_text())
    assert runs["rendered"]["input_fraction"] == 1.0 and runs["rendered"]["score_given"] is True
    assert runs["lidar"]["input_fraction"] == pytest.approx(0.3) and runs["lidar"]["score_given"] is False
    assert "only where no point was given" in (tmp_path / "lidar" / "metrics.md").read_text()


@pytest.mark.slow
def test_eval_reports_the_sparsification_of_a_model_with_a_confidence(tmp_path, frames, confidence_model):
    out = tmp_path / "report"
    assert depth_core_main(["eval", "--model", str(confidence_model), "--backend", "torch", "--data", str(frames),
                            "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "metrics.json").read_text())
    for row in ("prediction", "completion"):
        curve = result["sparsification"][row]
        assert [r["kept"] for r in curve] == [1.0, 0.75, 0.5, 0.25]
        assert curve[0]["abs_rel"] == pytest.approx(result["rows"][row]["abs_rel"], rel=0.5)
        assert curve[0]["points"] > curve[-1]["points"] > 0
    report = (out / "metrics.md").read_text()
    assert "## Sparsification" in report and "| completion |" in report.split("## Sparsification")[1]


def test_depth_core_simulate_writes_a_readable_training_set(tmp_path, capsys):
    out = tmp_path / "sim"
    code = depth_core_main(["simulate", "--out", str(out), "--frames", "3", "--scene", "street", "indoor",
                            "--sequence-length", "2", "--width", "96", "--height", "64", "--seed", "4", "--quiet"])
    assert code == 0
    assert "wrote 6 samples in 4 sequences" in capsys.readouterr().out
    meta = json.loads((out / "dataset.json").read_text())
    assert [s["name"] for s in meta["sequences"]] == ["street_0000", "street_0001", "indoor_0000", "indoor_0001"]
    calib = json.loads((out / "street_0001" / "calib.json").read_text())
    assert set(calib) >= {"K", "camera", "T_cam_lidar", "lidar_extrinsic", "lidar", "label"}

    data = FrameDataset(out)
    assert len(data) == 6 and len(FrameDataset(out, labels=["indoor"])) == 3
    sample = data[2]  # street_0001, frame 0: re-render it and compare
    sim = Simulator(default_config("street", width=96, height=64), seed=sequence_seed(4, "street", 1), frames=1)
    frame = sim.render(0)
    assert sample["sequence"] == "street_0001" and sample["index"] == 0
    np.testing.assert_array_equal(sample["rgb"], frame.rgb)
    expected_depth = np.where(np.isfinite(frame.depth), frame.depth, 0)
    assert np.abs(sample["depth"] - expected_depth).max() <= 1 / 512 + 1e-6
    np.testing.assert_allclose(sample["K"], sim.intrinsics.K)
    np.testing.assert_allclose(sample["T_cam_lidar"], sim.rig.T_cam_lidar)
    sparse = project_lidar(frame.lidar_points, sample["T_cam_lidar"], sample["K"], 64, 96)
    np.testing.assert_array_equal(sample["sparse_depth"] > 0, sparse > 0)
    assert np.abs(sample["sparse_depth"] - sparse).max() <= 1 / 512 + 1e-6


@pytest.mark.parametrize("argv, match", [
    (["--frames", "0"], "argument --frames: must be >= 1, got 0"),
    (["--scene", "moon"], "argument --scene: invalid choice: 'moon'"),
    (["--frames", "two"], "argument --frames: expected a whole number"),
])
def test_simulate_rejects_bad_arguments_in_one_line(tmp_path, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        depth_core_main(["simulate", "--out", str(tmp_path / "x"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err
    assert list(tmp_path.iterdir()) == []


def test_simulate_refuses_unwritable_or_existing_output_and_leaves_nothing(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert depth_core_main(["simulate", "--out", str(blocker / "sub"), "--frames", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "is a file, not a folder" in err
    existing = tmp_path / "existing"
    existing.mkdir()
    assert depth_core_main(["simulate", "--out", str(existing), "--frames", "1", "--quiet"]) == 2
    assert "already exists (pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "existing"]


def test_every_depth_core_command_has_help(in_process):
    for command in ("simulate", "train", "eval", "export", "build-engine"):
        code, out, _ = in_process(depth_core_main, [command, "--help"])
        assert code == 0 and f"usage: depth-core {command}" in out
    for option in ("--precision {fp32,fp16,int8}", "--calibration", "--dynamic", "--timing-cache", "--out"):
        assert option in out        # build-engine's


@pytest.mark.slow
def test_the_module_runs_as_the_depth_core_command():
    run = subprocess.run([sys.executable, "-m", "depth_core.cli", "export", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "usage: depth-core export" in run.stdout, run.stderr

"""The documented fine-tuning recipe end to end, in miniature: a simulated bag -> depth-ros-dataset
-> depth-core train config/train/finetune.yaml -> a model that depth-ros-eval replays."""

from __future__ import annotations

import json
import subprocess

import pytest


@pytest.mark.slow
def test_a_miniature_finetune_of_a_bag_gives_a_model_the_replay_loads(tmp_path, venv_bin, sim_bag, repo_root):
    ds, run = tmp_path / "ds", tmp_path / "run"
    made = subprocess.run([str(venv_bin / "depth-ros-dataset"), str(sim_bag), "--out", str(ds), "--quiet",
                           "--accumulate", "1"], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    train = subprocess.run([str(venv_bin / "depth-core"), "train", str(repo_root / "config/train/finetune.yaml"),
                            f"data.0.root={ds}", "--out", str(run), "--max-steps", "3", "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    # The closing lines: the before/after table and how to run the node with the new model.
    assert "| prediction |" in train.stdout and "| classical |" in train.stdout
    assert f"ros2 launch depth_ros san.launch.py model:={run / 'model.safetensors'}" in train.stdout
    report = (run / "report.md").read_text()
    assert "30 % of each image's LiDAR points" in report    # LiDAR ground truth: scored at held-out points
    assert json.loads((run / "report.json").read_text())["sparse_truth"] is True
    assert "## Confidence" in report and "| prediction |" in report.split("## Confidence")[1]
    out = tmp_path / "replay"
    replay = subprocess.run([str(venv_bin / "depth-ros-eval"), str(sim_bag), "--image-topic", "/camera/image_raw",
                             "--camera-info-topic", "/camera/camera_info", "--lidar-topic", "/lidar/points",
                             "--model", str(run / "model.safetensors"), "--backend", "onnxruntime", "--out", str(out),
                             "--no-output-bag", "--samples", "0"], capture_output=True, text=True, timeout=600)
    assert replay.returncode == 0, replay.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frames"] == 6 and "model.safetensors" in metrics["model"]
    assert 0 < metrics["results"]["completion"]["abs_rel"] < 1


@pytest.mark.slow
def test_a_miniature_video_finetune_of_a_camera_only_bag(tmp_path, venv_bin, sim_bag, repo_root):
    """The camera-only recipe: depth-ros-dataset with no LiDAR -> finetune_video.yaml -> depth-ros-eval."""
    ds, run = tmp_path / "ds", tmp_path / "run"
    made = subprocess.run([str(venv_bin / "depth-ros-dataset"), str(sim_bag), "--out", str(ds), "--quiet",
                           "--no-lidar"], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    assert "video frame set" in made.stdout and "finetune_video.yaml" in made.stdout
    summary = json.loads((ds / "dataset.json").read_text())
    assert summary["ground_truth"] == "none" and summary["samples"] == 6
    assert "T_base_cam" in json.loads((ds / "seq_0000/calib.json").read_text())
    # Six frames: the miniature lowers the frame minimum that protects a real run.
    train = subprocess.run([str(venv_bin / "depth-core"), "train", str(repo_root / "config/train/finetune_video.yaml"),
                            f"data.0.root={ds}", "video.min_frames=2", "holdout=0.4", "--out", str(run),
                            "--max-steps", "3", "--quiet"], capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    report = (run / "report.md").read_text()
    assert "photometric error" in report and "| before |" in report and "| after |" in report
    rows = json.loads((run / "report.json").read_text())["rows"]
    assert 0 < rows["after"]["prediction"]["photometric"] < 1
    from PIL import Image as PILImage

    text = PILImage.open(run / "report_samples.png").text["Description"]
    assert "depth, before" in text and "photometric error, after" in text and "depth (m)" in text
    out = tmp_path / "replay"
    replay = subprocess.run([str(venv_bin / "depth-ros-eval"), str(sim_bag), "--image-topic", "/camera/image_raw",
                             "--camera-info-topic", "/camera/camera_info", "--lidar-topic", "/lidar/points",
                             "--model", str(run / "model.safetensors"), "--out", str(out), "--no-output-bag",
                             "--samples", "0"], capture_output=True, text=True, timeout=600)
    assert replay.returncode == 0, replay.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["frames"] == 6 and 0 < metrics["results"]["prediction"]["abs_rel"]


def test_a_camera_only_bag_without_odometry_is_refused_before_any_image(tmp_path, venv_bin, sim_bag):
    made = subprocess.run([str(venv_bin / "depth-ros-dataset"), str(sim_bag), "--out", str(tmp_path / "ds"),
                           "--no-lidar", "--base-frame", "robot_base", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 2
    assert "no odometry" in made.stderr and "/tf has transforms to base_link" in made.stderr
    assert "--base-frame" in made.stderr and not (tmp_path / "ds").exists()
    assert made.stderr.count("\n") == 1      # one line, no traceback

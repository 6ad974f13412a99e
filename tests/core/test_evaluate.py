"""Offline evaluation: protocols, ground-truth regions, flip averaging, held-out completion
scoring, the averaging over images and the report's sweep section."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from depth_core.cli import main as depth_core_main
from depth_core.data import FrameDataset
from depth_core.evaluate import flip_averaged, sweep_series, sweep_table
from depth_core.inference import load_estimator
from depth_core.metrics import DEPTH_METRIC_KEYS, average_metrics
from depth_core.models import create_model


def test_flip_averaging_unflips_every_output(frames):
    sample = FrameDataset(frames)[0]
    est = load_estimator("classical")
    plain = est.predict(sample["rgb"], sample["K"], sample["sparse_depth"]).depth
    averaged = flip_averaged(est, sample["rgb"], sample["K"], sample["sparse_depth"]).depth
    ok = np.isfinite(plain) & np.isfinite(averaged)
    assert np.median(np.abs(averaged[ok] - plain[ok]) / plain[ok]) < 0.01   # a mirrored result would differ


def test_eval_on_the_lidar_field_of_view_drops_what_the_scanner_cannot_see(tmp_path, frames, capsys):
    from depth_core.evaluate import evaluate, restrict_ground_truth

    sample = FrameDataset(frames)[0]
    dense = sample["depth"]
    fov = restrict_ground_truth(sample, "lidar_fov")
    kept = (fov > 0).sum()
    # Every LiDAR return lies inside its own field of view; the street's sky-side rows do not.
    lidar = sample["sparse_depth"] > 0
    assert np.mean(fov[lidar & (dense > 0)] > 0) > 0.98
    assert 0 < kept < (dense > 0).sum() and np.array_equal(fov[fov > 0], dense[fov > 0])
    est = load_estimator("classical")
    a = evaluate(est, FrameDataset(frames), samples=2, progress=False)
    b = evaluate(est, FrameDataset(frames), samples=2, gt_region="lidar_fov", progress=False)
    assert b["gt_region"] == "lidar_fov" and b["rows"]["completion"]["points"] < a["rows"]["completion"]["points"]
    with pytest.raises(ValueError, match="gt_region: expected one of dense, lidar_fov"):
        restrict_ground_truth(sample, "sky")
    with pytest.raises(ValueError, match="has no LiDAR model"):
        restrict_ground_truth({**sample, "lidar": None}, "lidar_fov")
    out = tmp_path / "fov"
    assert depth_core_main(["eval", "--model", "classical", "--data", str(frames), "--gt-region", "lidar_fov",
                            "--samples", "2", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["gt_region"] == "lidar_fov"
    assert "ground truth lidar_fov" in (out / "metrics.md").read_text()


def test_image_only_models_get_no_completion_row_or_sweep(frames):
    from depth_core.evaluate import evaluate

    torch.manual_seed(0)
    model = create_model("fusanet", arch={"channels": 8}).eval()
    result = evaluate(load_estimator(model, "torch", input_size=(64, 96)), FrameDataset(frames), samples=2,
                      sweep=(0.5,), classical=load_estimator("classical"), progress=False)
    assert set(result["rows"]) == {"prediction", "classical", "median"} and "sweep" not in result


def test_against_lidar_truth_the_completion_is_scored_at_points_it_was_not_given(frames):
    from depth_core.data import DatasetConfig, build_dataset
    from depth_core.evaluate import evaluate, sparse_ground_truth
    from depth_core.inference import load_estimator

    lidar = build_dataset(DatasetConfig(type="frames", root=str(frames), ground_truth="lidar"))
    assert sparse_ground_truth(lidar) and not sparse_ground_truth(FrameDataset(frames))   # rendered depth
    classical = load_estimator("classical")
    everything = evaluate(classical, lidar, baselines=(), classical=classical, progress=False)
    held = evaluate(classical, lidar, baselines=(), classical=classical, input_fraction=0.3, score_given=False,
                    progress=False)
    # Given every point, the completion is scored on the scan it was given (nearly reproduced);
    # given 30 %, only at the other 70 %, which it must infer.
    points = everything["rows"]["classical"]["points"]
    assert 0.6 * points < held["rows"]["classical"]["points"] < 0.8 * points
    assert held["rows"]["classical"]["abs_rel"] > 1.5 * everything["rows"]["classical"]["abs_rel"]
    assert held["input_fraction"] == 0.3 and held["score_given"] is False


def test_bags_with_one_scan_and_with_accumulated_scans_are_lidar_truth_together():
    """Validation over two bags, one extracted with --accumulate and one without, still scores
    the completion at held-out points; a LiDAR bag with a depth-camera one does not claim it."""
    from depth_core.data.views import ConcatView
    from depth_core.evaluate import sparse_ground_truth

    def view(*kinds):
        return ConcatView([_Set(k) for k in kinds])

    assert sparse_ground_truth(view("lidar", "lidar_accumulated"))
    assert sparse_ground_truth(view("lidar_accumulated", "lidar_accumulated"))
    assert not sparse_ground_truth(view("lidar", "depth_image"))
    assert not sparse_ground_truth(view("rendered"))


class _Set(list):
    """A one-sample data set that records its ground truth kind, as a frame set does."""

    def __init__(self, ground_truth):
        super().__init__([None])
        self.ground_truth = ground_truth




def _scores(value: float, points: int, **extra) -> dict:
    return {**{k: value for k in DEPTH_METRIC_KEYS}, "points": points, **extra}


def test_scores_are_averaged_over_the_images_that_had_a_scored_pixel():
    rows = [_scores(9.0, 0, coverage=0.0), _scores(1.0, 10, coverage=0.5), _scores(3.0, 30, coverage=1.0)]
    mean = average_metrics(rows)
    assert mean["abs_rel"] == mean["rmse"] == 2.0 and mean["coverage"] == 0.75
    assert mean["images"] == 2 and mean["points"] == 40
    assert "coverage" not in average_metrics([_scores(1.0, 5)], "frames")
    assert average_metrics([_scores(1.0, 5)], "frames")["frames"] == 1
    assert average_metrics([_scores(1.0, 0)]) == {"images": 0} and average_metrics([], "frames") == {"frames": 0}


def test_the_sweep_section_lists_the_scored_fractions_beside_its_plot():
    sweep = [{"fraction": 0.0, **_scores(0.2, 5)}, {"fraction": 0.5, "images": 0}, {"fraction": 1.0, **_scores(0.1, 5)}]
    lines = sweep_table(sweep)
    assert lines[0] == "## Sparsity sweep" and "![sparsity sweep](sparsity_sweep.png)" in lines
    assert [line.split(" | ")[0] for line in lines if line.startswith("| ") and "%" in line] == ["| 0%", "| 100%"]
    assert sweep_series(sweep) == ([0.1, 100.0], [0.2, 0.1])


def test_the_median_baseline_is_the_median_of_the_pixels_it_is_scored_on():
    """Under a crop (KITTI's Garg crop) the constant-median baseline takes the median inside it."""
    from depth_core.evaluate import evaluate
    from depth_core.inference import load_estimator
    from depth_core.metrics import compute_depth_metrics

    gt = np.full((100, 200), 10.0, np.float32)
    gt[:50] = 70.0                                  # above the crop: most of it far, as the sky-side rows
    gt[:30, :] = 75.0
    sample = {"rgb": np.zeros((100, 200, 3), np.uint8), "K": np.array([[100.0, 0, 100], [0, 100, 50], [0, 0, 1]]),
              "depth": gt, "sparse_depth": np.zeros_like(gt)}
    result = evaluate(load_estimator("classical"), [sample], "kitti", progress=False)
    want = compute_depth_metrics(np.full_like(gt, 10.0), gt, 1e-3, 80.0, crop="garg")
    assert result["rows"]["median"]["abs_rel"] == pytest.approx(want["abs_rel"])

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from depth_core.geometry import backproject, rotation_from_euler
from depth_core.metrics import (
    DEPTH_METRIC_KEYS,
    compute_depth_metrics,
    depth_to_normals,
    edge_f1,
    kendall_tau,
    kitti_eigen_crop,
    kitti_garg_crop,
    normal_error,
    nyu_eigen_crop,
    ssim,
    whdr,
)

PRED = [1.5, 4.0, 3.6, 1.0]
GT = [2.0, 4.0, 3.0, 2.0]


def _by_hand():
    """Each metric written out per pixel with the math module, independently of the library."""
    n = len(GT)
    pairs = list(zip(PRED, GT))
    d = [math.log(p) - math.log(g) for p, g in pairs]
    ratio = [max(p / g, g / p) for p, g in pairs]
    inv = [1000 / p - 1000 / g for p, g in pairs]
    return {
        "abs_rel": sum(abs(p - g) / g for p, g in pairs) / n,
        "sq_rel": sum((p - g) ** 2 / g for p, g in pairs) / n,
        "rmse": math.sqrt(sum((p - g) ** 2 for p, g in pairs) / n),
        "rmse_log": math.sqrt(sum(x * x for x in d) / n),
        "log10": sum(abs(math.log10(p) - math.log10(g)) for p, g in pairs) / n,
        "silog": 100 * math.sqrt(sum(x * x for x in d) / n - (sum(d) / n) ** 2),
        "delta1": sum(r < 1.25 for r in ratio) / n,
        "delta2": sum(r < 1.25**2 for r in ratio) / n,
        "delta3": sum(r < 1.25**3 for r in ratio) / n,
        "mae": sum(abs(p - g) for p, g in pairs) / n,
        "irmse": math.sqrt(sum(x * x for x in inv) / n),
        "imae": sum(abs(x) for x in inv) / n,
    }


def test_metrics_match_hand_computed_values():
    got = compute_depth_metrics(np.array([PRED]), np.array([GT]))
    expected = _by_hand()
    for key in DEPTH_METRIC_KEYS:
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key
    # Spot values: pixel 4 (1 m vs 2 m) alone has inverse error 500 1/km; ratios 1.33, 1, 1.2, 2.
    assert got["delta1"] == 0.5 and got["delta2"] == 0.75 and got["delta3"] == 0.75
    assert got["points"] == 4 and got["coverage"] == 1.0


def test_metrics_accept_torch_tensors_and_batches():
    pred = torch.tensor([[PRED], [GT]], dtype=torch.float32).unsqueeze(1)  # [B=2,1,1,4]
    gt = torch.tensor([[GT], [GT]], dtype=torch.float32).unsqueeze(1)
    got = compute_depth_metrics(pred, gt)
    expected = _by_hand()
    # The KITTI convention: per-image metrics, then averaged (the second image is perfect).
    assert got["abs_rel"] == pytest.approx(expected["abs_rel"] / 2, rel=1e-6)
    assert got["delta1"] == pytest.approx((0.5 + 1.0) / 2)
    assert got["points"] == 8


def test_range_mask_clipping_and_missing_predictions():
    gt = np.array([[0.0, np.nan, 5.0, 100.0, 10.0]])
    pred = np.array([[3.0, 3.0, 200.0, 3.0, np.nan]])
    got = compute_depth_metrics(pred, gt, min_depth=1e-3, max_depth=80.0)
    # Only gt=5 and gt=10 count; the NaN prediction is left out; 200 is clipped to 80.
    assert got["points"] == 1 and got["coverage"] == 0.5
    assert got["mae"] == pytest.approx(75.0)
    empty = compute_depth_metrics(np.ones((2, 2)), np.zeros((2, 2)))
    assert empty["points"] == 0 and math.isnan(empty["abs_rel"])


def test_median_scaling_removes_a_global_scale():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 30, (20, 30))
    got = compute_depth_metrics(gt * 2.0, gt, median_scaling=True)
    assert got["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    assert got["median_scale"] == pytest.approx(0.5)
    assert compute_depth_metrics(gt * 2.0, gt)["abs_rel"] == pytest.approx(1.0)


def test_evaluation_crops():
    garg = kitti_garg_crop(375, 1242)
    rows, cols = np.flatnonzero(garg.any(1)), np.flatnonzero(garg.any(0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (153, 371, 44, 1197)
    eigen = kitti_eigen_crop(375, 1242)
    rows = np.flatnonzero(eigen.any(1))
    assert (rows[0], rows[-1] + 1) == (124, 342)
    nyu = nyu_eigen_crop(480, 640)
    assert nyu.sum() == (471 - 45) * (601 - 41) and nyu[45, 41] and not nyu[44, 41] and not nyu[45, 601]
    gt = np.full((375, 1242), 10.0)
    pred = gt.copy()
    pred[:100] = 20.0  # outside the Garg crop: does not count
    assert compute_depth_metrics(pred, gt, crop="garg")["abs_rel"] == 0.0
    with pytest.raises(ValueError, match="unknown crop 'kitty'"):
        compute_depth_metrics(pred, gt, crop="kitty")


def test_kendall_tau_counts_concordant_and_discordant_pairs():
    gt = np.array([1.0, 2.0, 3.0, 4.0])
    assert kendall_tau(np.array([1.0, 3.0, 2.0, 4.0]), gt) == pytest.approx(4 / 6)   # 5 concordant, 1 discordant
    assert kendall_tau(np.array([1.0, 1.0, 2.0, 3.0]), gt) == pytest.approx(5 / 6)   # a tie counts as neither
    assert kendall_tau(gt[::-1], gt) == pytest.approx(-1.0)
    assert kendall_tau(torch.tensor(gt * 7 + 1), torch.tensor(gt)) == pytest.approx(1.0)


def test_whdr_is_zero_for_a_scaled_prediction_and_high_for_reversed_order():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 10, (30, 40))
    assert whdr(gt * 3, gt) == 0.0
    assert 0.0 < whdr(np.sqrt(gt), gt) < 0.2  # same order, but ratios near the 2 % tie band change
    reversed_order = whdr(1.0 / gt, gt)
    assert reversed_order > 0.9
    assert whdr(1.0 / gt, gt, seed=1) == pytest.approx(reversed_order, abs=0.02)


def _step_depth():
    depth = np.full((40, 60), 5.0)
    depth[:, 30:] = 2.0
    return depth


def test_edge_f1():
    gt = _step_depth()
    assert edge_f1(gt, gt) == 1.0
    assert edge_f1(np.full_like(gt, 3.0), gt) == 0.0
    shifted = np.roll(gt, 6, axis=1)
    assert edge_f1(shifted, gt) < 0.2


def test_ssim():
    gt = _step_depth() + np.linspace(0, 1, 60)[None, :]
    assert ssim(gt, gt) == pytest.approx(1.0)
    noisy = gt + np.random.default_rng(0).normal(0, 0.5, gt.shape)
    assert ssim(noisy, gt) < 0.8


def test_surface_normals_of_a_known_plane():
    K = np.array([[200.0, 0, 79.5], [0, 200.0, 59.5], [0, 0, 1]])
    n_true = np.array([0.3, -0.5, -1.0])
    n_true /= np.linalg.norm(n_true)          # plane n.p = -4, facing the camera
    rays = backproject(np.ones((120, 160)), K)
    depth = -4.0 / (rays @ n_true)
    normals = depth_to_normals(depth, K)
    inner = normals[2:-2, 2:-2].reshape(-1, 3)
    np.testing.assert_allclose(inner, np.broadcast_to(n_true, inner.shape), atol=1e-6)
    # Rotate the plane: the error is the angle between the two normals everywhere.
    n_tilt = rotation_from_euler(np.radians(10), 0, 0) @ n_true
    angle = np.degrees(np.arccos(n_tilt @ n_true))
    tilted = -4.0 / (rays @ n_tilt)
    err = normal_error(tilted, depth, K)
    assert err["normal_angle_deg"] == pytest.approx(angle, abs=1e-3)
    assert err["normal_cos_dist"] == pytest.approx(1 - n_tilt @ n_true, abs=1e-6)
    assert normal_error(depth, depth, K)["normal_angle_deg"] == pytest.approx(0.0, abs=1e-5)
    # Without K: image-gradient normals still agree for identical maps.
    assert normal_error(depth, depth)["normal_cos_dist"] == pytest.approx(0.0, abs=1e-9)

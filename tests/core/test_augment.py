"""Augmentation keeps image, ground truth, sparse input, rings and K consistent; sparse-input
policies; mixing of data sets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_core.data.augment import (
    AugmentConfig,
    SparseConfig,
    _hflip,
    _rotate,
    augment_sample,
    block_sector,
    camera_scan,
    move_sparse,
    precise_scan,
    sample_sparse,
)
from depth_core.data.training import MixedSampler, mixing_weights
from depth_core.geometry import backproject, project_points


def _sample(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(2, 30, (h, w)).astype(np.float32)
    sparse = np.where(rng.uniform(size=(h, w)) < 0.3, depth, 0).astype(np.float32)
    ring = np.where(sparse > 0, np.arange(h)[:, None] % 16, -1).astype(np.int16)
    K = np.array([[50.0, 0, 30.0], [0, 50.0, 20.0], [0, 0, 1]])
    return {"rgb": rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "depth": depth, "sparse_depth": sparse,
            "ring": ring, "K": K}


def test_flip_moves_every_map_and_k_together():
    s = _sample()
    f = _hflip(s)
    for key in ("rgb", "depth", "sparse_depth", "ring"):
        np.testing.assert_array_equal(f[key], s[key][:, ::-1])
    # Geometry stays consistent: points of the flipped depth, mirrored in x, reproject with the
    # original K onto the original pixels.
    pts = backproject(f["depth"], f["K"]).reshape(-1, 3) * np.array([-1, 1, 1])
    np.testing.assert_allclose(project_points(pts, s["K"], 48, 64), s["depth"], rtol=1e-5)


def test_rotation_is_a_roll_about_the_principal_point():
    s = _sample()
    s["depth"][:] = 7.0
    r = _rotate(s, 5.0)
    inside = r["depth"] > 0
    assert inside.mean() > 0.8 and (r["depth"][inside] == 7.0).all()   # depth values unchanged
    assert r["depth"][20, 30] == 7.0                                      # the principal point stays put
    assert (r["ring"][r["sparse_depth"] > 0] >= 0).all()
    # Points move: none is copied, and only those rotated out of the image (or onto a nearer
    # point's pixel) are lost. A nearest-neighbour warp dropped some and copied others.
    given = s["sparse_depth"][s["sparse_depth"] > 0]
    moved = r["sparse_depth"][r["sparse_depth"] > 0]
    assert len(np.unique(moved)) == len(moved) and set(moved) <= set(given)
    assert len(moved) >= 0.9 * len(given)
    had = s["sparse_depth"] > 0
    ring_of = {float(d): int(g) for d, g in zip(s["sparse_depth"][had], s["ring"][had])}
    assert all(ring_of[float(d)] == int(g) for d, g in zip(moved, r["ring"][r["sparse_depth"] > 0]))  # its own ring


def test_crop_shifts_the_principal_point_and_pads_small_images():
    cfg = AugmentConfig(crop=(32, 40), hflip=0.0, rotate_p=0.0, channel_swap=0.0)
    s = _sample()
    out = augment_sample(s, cfg, np.random.default_rng(3))
    assert out["rgb"].shape == (32, 40, 3) and out["depth"].shape == (32, 40)
    dx, dy = s["K"][0, 2] - out["K"][0, 2], s["K"][1, 2] - out["K"][1, 2]
    np.testing.assert_array_equal(out["depth"], s["depth"][int(dy):int(dy) + 32, int(dx):int(dx) + 40])
    big = augment_sample(s, AugmentConfig(crop=(64, 80), hflip=0.0, rotate_p=0.0), np.random.default_rng(0))
    assert big["depth"].shape == (64, 80) and (big["depth"][48:] == 0).all()


def test_shrinking_keeps_a_lidar_truth_and_every_input_point_with_its_ring():
    """Shrunk to the pixel budget, a LiDAR scan as ground truth (fine-tuning on a bag) keeps one
    point per pixel it lands in, the nearest, as the input does, and each input point keeps its
    own ring. Dense ground truth is still resized by nearest neighbour."""
    from depth_core.data.augment import _rescale

    rng = np.random.default_rng(5)
    h, w = 120, 160
    scan = np.zeros((h, w), np.float32)
    rows = np.arange(0, h, 6)                                    # 20 rings, 6 px apart, every 3rd column
    scan[rows[:, None], np.arange(0, w, 3)[None, :]] = rng.uniform(2, 40, (len(rows), len(range(0, w, 3))))
    ring = np.where(scan > 0, np.arange(h)[:, None] // 6, -1).astype(np.int16)
    given = np.where(rng.uniform(size=(h, w)) < 0.3, scan, 0).astype(np.float32)
    sample = {"rgb": rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "depth": scan, "sparse_depth": given,
              "ring": np.where(given > 0, ring, -1).astype(np.int16), "K": np.diag([100.0, 100.0, 1.0])}
    out = _rescale(sample, 0.5)
    # Rings 6 px apart and points 3 px apart land in distinct pixels at half size: none is lost.
    assert np.count_nonzero(out["depth"]) == np.count_nonzero(scan)
    assert np.count_nonzero(out["sparse_depth"]) == np.count_nonzero(given)
    kept = out["sparse_depth"] > 0
    assert (out["ring"][kept] >= 0).all() and (out["ring"][~kept] == -1).all()
    np.testing.assert_array_equal(out["ring"][kept], (2 * np.nonzero(kept)[0]) // 6)   # its own ring, rows halved
    dense = {**sample, "depth": rng.uniform(2, 40, (h, w)).astype(np.float32)}
    np.testing.assert_array_equal(_rescale(dense, 0.5)["depth"],
                                  cv2.resize(dense["depth"], (w // 2, h // 2), interpolation=cv2.INTER_NEAREST))


def test_photometric_changes_only_the_image():
    cfg = AugmentConfig(crop=None, hflip=0.0, rotate_p=0.0, channel_swap=1.0, window_drop=1.0)
    s = _sample()
    out = augment_sample(s, cfg, np.random.default_rng(1))
    assert not np.array_equal(out["rgb"], s["rgb"])
    np.testing.assert_array_equal(out["depth"], s["depth"])


def test_image_mismatch_rolls_only_the_image():
    still = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "channel_swap": 0.0}
    s = _sample()
    plain = augment_sample(s, AugmentConfig(crop=None, hflip=0.0, rotate_p=0.0, **still), np.random.default_rng(2))
    for seed in range(6):
        cfg = AugmentConfig(crop=None, hflip=0.0, rotate_p=0.0, image_mismatch=1.0, **still)
        out = augment_sample(s, cfg, np.random.default_rng(seed))
        for key in ("depth", "sparse_depth", "ring", "K"):
            np.testing.assert_array_equal(out[key], s[key])
        shifts = [k for k in range(64) for img in (out["rgb"], out["rgb"][:, ::-1])
                  if np.array_equal(img, np.roll(plain["rgb"], k, axis=1))]
        assert shifts and all(16 <= k <= 48 for k in shifts)
    assert np.array_equal(augment_sample(s, AugmentConfig(crop=None, hflip=0.0, rotate_p=0.0, image_mismatch=0.0,
                                                          **still), np.random.default_rng(2))["rgb"], plain["rgb"])


def test_sparse_policies():
    s = _sample()
    cfg = SparseConfig()
    rng = np.random.default_rng(0)
    n_all = (s["sparse_depth"] > 0).sum()
    assert sample_sparse(s, cfg, rng, "none")[0].sum() == 0
    assert (sample_sparse(s, cfg, rng, "all")[0] > 0).sum() == n_all
    pts = sample_sparse(s, cfg, rng, "points")[0]
    assert (pts > 0).sum() in (200, 500) and np.isin(pts[pts > 0], s["depth"]).all()
    noisy = dict(s, sparse_depth=s["sparse_depth"] * 1.01)   # a scan that differs from the truth
    scan_pts = sample_sparse(noisy, SparseConfig(points=(200,), points_from_scan=1.0), rng, "points")[0]
    assert (scan_pts > 0).sum() == 200 and np.isin(scan_pts[scan_pts > 0], noisy["sparse_depth"]).all()
    assert not np.isin(scan_pts[scan_pts > 0], s["depth"]).any()
    # off (the default), no random number is drawn for it: older configs draw the same points
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    sample_sparse(s, SparseConfig(points=(200,)), a, "points")
    b.choice([200]), b.choice(np.flatnonzero(s["depth"] > 0), 200, replace=False)
    assert a.uniform() == b.uniform()
    frac = (sample_sparse(s, cfg, rng, "fraction")[0] > 0).sum() / n_all
    assert 0.1 < frac < 0.3
    beams = sample_sparse(s, SparseConfig(beam_keep_every=(4,)), rng, "beams")[0]
    kept_rings = np.unique(s["ring"][beams > 0])
    assert len(kept_rings) == 4 and len(np.unique(kept_rings % 4)) == 1
    no_rings = dict(s, ring=None)
    no_beams, used = sample_sparse(no_rings, cfg, rng, "beams")
    assert used == "fraction" and 0.1 < (no_beams > 0).sum() / n_all < 0.3    # part of the scan, not all of it
    blobs = np.zeros((48, 64), np.uint8)
    for y, x in ((12, 12), (12, 40), (30, 22), (34, 50)):
        blobs[y - 4:y + 4, x - 4:x + 4] = 255           # bright squares: SIFT finds their corners
    s["rgb"] = np.repeat(blobs[..., None], 3, axis=2)
    sift = sample_sparse(s, cfg, rng, "sift")[0]
    assert 0 < (sift > 0).sum() <= cfg.sift_points and (sift[sift > 0] == s["depth"][sift > 0]).all()
    with pytest.raises(ValueError, match="sparse mode must be one of"):
        sample_sparse(s, cfg, rng, "radar")


def test_inputs_like_real_scans_ranges_rosette_blocked_sector_miscalibration_and_motion():
    s = _sample(96, 128)
    rng = np.random.default_rng(1)
    n_all = (s["sparse_depth"] > 0).sum()
    counts = {(sample_sparse(s, SparseConfig(points_range=(100, 2000)), rng, "points")[0] > 0).sum() for _ in range(8)}
    assert len(counts) > 4 and min(counts) >= 100 and max(counts) <= 2000
    shares = [(sample_sparse(s, SparseConfig(fraction_range=(0.05, 0.8)), rng, "fraction")[0] > 0).sum() / n_all
              for _ in range(8)]
    assert 0.03 < min(shares) and max(shares) < 0.82 and max(shares) - min(shares) > 0.1
    livox, mode = sample_sparse(s, SparseConfig(livox_points=(3000, 3000)), rng, "livox")
    assert mode == "livox" and 0 < (livox > 0).sum() <= 3000
    assert (livox[livox > 0] == s["depth"][livox > 0]).all()         # exact values, from the denser truth
    rows, cols = np.nonzero(livox)
    assert cols.max() - cols.min() > 40 and rows.max() - rows.min() > 40   # a rosette, not a line
    blocked = block_sector(s["sparse_depth"], np.random.default_rng(2))
    empty_cols = np.flatnonzero((blocked > 0).sum(0) == 0)
    assert 0.1 * 128 - 1 <= empty_cols.size and (np.diff(empty_cols) == 1).all()   # one band of columns
    assert ((blocked > 0) <= (s["sparse_depth"] > 0)).all()
    same = move_sparse(s["sparse_depth"], s["K"], np.eye(3), np.zeros(3))
    np.testing.assert_allclose(same, s["sparse_depth"], rtol=1e-6)
    back = move_sparse(s["sparse_depth"], s["K"], np.eye(3), np.array([0, 0, 0.5]))   # scan 0.5 m behind
    moved = back > 0
    assert moved.sum() > 0.5 * n_all and np.isin(np.round(back[moved] - 0.5, 3),
                                                  np.round(s["sparse_depth"][s["sparse_depth"] > 0], 3)).mean() > 0.99
    cfg = SparseConfig(modes={"all": 1.0}, miscalibration=1.0, miscalibration_deg=1.0)
    turned, _ = sample_sparse(s, cfg, np.random.default_rng(5), "all")
    assert (turned > 0).sum() > 0.5 * n_all and not np.array_equal(turned > 0, s["sparse_depth"] > 0)
    clean, _ = sample_sparse(s, SparseConfig(modes={"all": 1.0}), np.random.default_rng(5), "all")
    np.testing.assert_array_equal(clean, s["sparse_depth"])         # no corruption unless asked


def test_precise_scan_takes_the_rendered_depth_at_the_scans_pixels():
    s = _sample()
    noisy = s["sparse_depth"] * np.where(s["sparse_depth"] > 0, 1.03, 1.0).astype(np.float32)  # 3 % off
    s = dict(s, sparse_depth=noisy)
    before = noisy.copy()
    s["depth"][0, :] = np.nan                        # no rendered depth here: those points keep their value
    points = noisy > 0
    exact = precise_scan(s, SparseConfig(precise=1.0, precise_noise=0.0), np.random.default_rng(0))
    assert ((exact["sparse_depth"] > 0) == points).all()   # the same pixels, only the values change
    rendered = points & np.isfinite(s["depth"])
    np.testing.assert_array_equal(exact["sparse_depth"][rendered], s["depth"][rendered])
    np.testing.assert_array_equal(exact["sparse_depth"][points & ~rendered], noisy[points & ~rendered])
    assert s["sparse_depth"] is noisy                # the input sample is untouched
    np.testing.assert_array_equal(noisy, before)
    rel = [(precise_scan(s, SparseConfig(precise=1.0, precise_noise=0.01), np.random.default_rng(i))
            ["sparse_depth"][rendered] / s["depth"][rendered] - 1).std() for i in range(6)]
    assert 0 < min(rel) and max(rel) <= 0.011 and max(rel) - min(rel) > 1e-3   # a noise level drawn per frame
    rng = np.random.default_rng(3)
    assert precise_scan(s, SparseConfig(), rng) is s and rng.uniform() == np.random.default_rng(3).uniform()
    kept = sum(precise_scan(s, SparseConfig(precise=0.3), np.random.default_rng(i)) is s for i in range(200))
    assert 110 < kept < 170                          # about 70 % of the scans left as the LiDAR gave them
    # training sees it in the input and in the held-out points it is scored at
    from depth_core.data.training import TrainingSet

    still = AugmentConfig(crop=None, hflip=0.0, rotate_p=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
                          channel_swap=0.0)
    item = TrainingSet([[s]], still, SparseConfig(modes={"all": 1.0}, precise=1.0, precise_noise=0.0),
                       max_depth=80.0)[(0, 0, 0)]
    for key in ("sparse_depth", "lidar"):
        np.testing.assert_array_equal(item[key][0].numpy()[rendered], s["depth"][rendered])
    with pytest.raises(ValueError, match="sparse.precise is a probability"):
        SparseConfig(precise=1.5)
    with pytest.raises(ValueError, match="sparse.points_from_scan is a probability"):
        SparseConfig(points_from_scan=-0.1)
    with pytest.raises(ValueError, match="sparse.precise_noise"):
        SparseConfig(precise_noise=0.5)


def test_camera_scan_is_a_lidar_at_the_camera_sampled_from_the_rendered_depth():
    s = _sample(h=60, w=120)
    s["depth"][:, :8] = np.nan                       # no rendered depth here: no point
    scan_before, ring_before = s["sparse_depth"], s["ring"]
    copies = scan_before.copy(), ring_before.copy()
    cfg = SparseConfig(camera_scan=1.0, camera_scan_beams=(12, 12), camera_scan_azimuth_deg=(0.5, 0.5),
                       precise_noise=0.0)
    out = camera_scan(s, cfg, np.random.default_rng(0))
    scan, ring = out["sparse_depth"], out["ring"]
    points = scan > 0
    np.testing.assert_array_equal(scan[points], s["depth"][points])       # exact, without noise
    assert not points[:, :8].any() and ((ring >= 0) == points).all()
    assert sorted(np.unique(ring[points])) == list(range(12))             # 12 rings, all in the image
    # A ring is dense along the row: the middle rings have a point in nearly every one of the 112
    # columns with depth (0.5 deg is under a pixel near the axis at f = 50; the outer rings curve out
    # of this wide view).
    assert all(np.unique(np.nonzero(ring == b)[1]).size >= 100 for b in range(3, 10))
    assert s["sparse_depth"] is scan_before and s["ring"] is ring_before    # the input sample is untouched
    np.testing.assert_array_equal(scan_before, copies[0])
    np.testing.assert_array_equal(ring_before, copies[1])
    scans = [camera_scan(s, SparseConfig(camera_scan=1.0, precise_noise=0.01), np.random.default_rng(i))
             ["sparse_depth"] for i in range(6)]
    rel = [(r[r > 0] / s["depth"][r > 0] - 1).std() for r in scans]
    assert max(rel) <= 0.011 and max(rel) - min(rel) > 1e-3               # a noise level drawn per frame
    counts = {len(np.unique(camera_scan(s, SparseConfig(camera_scan=1.0), np.random.default_rng(i))["ring"])) - 1
              for i in range(20)}
    assert min(counts) >= 8 and max(counts) <= 40 and len(counts) > 5     # beams drawn from (8, 40)
    rng = np.random.default_rng(3)
    assert camera_scan(s, SparseConfig(), rng) is s and rng.uniform() == np.random.default_rng(3).uniform()
    kept = sum(camera_scan(s, SparseConfig(camera_scan=0.3), np.random.default_rng(i)) is s for i in range(200))
    assert 110 < kept < 170
    # Training takes its input from it and is scored at the rest of it; its rings feed the beams mode.
    from depth_core.data.training import TrainingSet

    still = AugmentConfig(crop=None, hflip=0.0, rotate_p=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
                          channel_swap=0.0)
    item = TrainingSet([[s]], still, SparseConfig(modes={"beams": 1.0}, beam_keep_every=(2,), camera_scan=1.0,
                                                   camera_scan_beams=(12, 12), precise_noise=0.0),
                       max_depth=80.0)[(0, 0, 0)]
    lidar, given = item["lidar"][0].numpy(), item["sparse_depth"][0].numpy()
    assert item["sparse_mode"] == "beams" and 0.3 < (given > 0).sum() / (lidar > 0).sum() < 0.7
    np.testing.assert_array_equal(lidar[lidar > 0], s["depth"][lidar > 0])
    assert ((given > 0) <= (lidar > 0)).all()
    with pytest.raises(ValueError, match="sparse.camera_scan is a probability"):
        SparseConfig(camera_scan=2.0)
    with pytest.raises(ValueError, match="camera_scan_beams"):
        SparseConfig(camera_scan_beams=(10, 5))
    with pytest.raises(ValueError, match="camera_scan_azimuth_deg"):
        SparseConfig(camera_scan_azimuth_deg=(0.0, 0.2))


def test_mixing_draws_data_sets_in_proportion_to_k_over_k_i():
    probs = mixing_weights([1000, 100, 10])
    np.testing.assert_allclose(probs, [1 / 111, 10 / 111, 100 / 111] / np.sum([1 / 111, 10 / 111, 100 / 111]))
    np.testing.assert_allclose(probs, [0.009009, 0.09009, 0.9009], rtol=1e-3)  # K/k_i normalised
    assert mixing_weights([10, 10], [3.0, 1.0]).tolist() == [0.75, 0.25]
    sampler = MixedSampler([1000, 100, 10], mixing_weights([1000, 100, 10], [1, 1, 1]), seed=0)
    draws = [d for d, _, _ in (next(it) for it in [iter(sampler)] for _ in range(3000))]
    assert abs(np.mean(np.array(draws) == 0) - 1 / 3) < 0.05
    # Incremental mixing: data set 1 only joins after 100 samples.
    late = iter(MixedSampler([10, 10], np.array([0.5, 0.5]), starts=[0, 100]))
    first = [next(late)[0] for _ in range(100)]
    later = [next(late)[0] for _ in range(200)]
    assert set(first) == {0} and 1 in later
    # Ranks draw different streams; the same rank repeats itself.
    def stream(rank):
        it = iter(MixedSampler([50], np.array([1.0]), rank=rank))
        return [next(it)[1] for _ in range(20)]

    assert stream(0) == stream(0) and stream(0) != stream(1)

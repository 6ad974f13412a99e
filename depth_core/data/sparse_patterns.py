"""Sparse depth inputs sampled from a dense depth map, for data sets that have no LiDAR (RGB-D
sets such as 7-Scenes): a spinning multi-beam LiDAR's pattern as if the scanner sat at the camera
centre, N random points, or nothing. Pure array functions; the values kept are exactly the depth
map's (no noise), on valid pixels only.

A spinning LiDAR fires its beams at fixed elevations and steps in azimuth. Projected into a
pinhole camera, a beam of elevation ``e`` hits column ``u`` at row
``v = cy - fy * tan(e) * sqrt(1 + ((u - cx) / fx) ** 2)``: the rows bend away from the horizon
towards the image edges, as real LiDAR scans do in KITTI images.
"""

from __future__ import annotations

import numpy as np

__all__ = ["T_CAM_LIDAR_AT_CAMERA", "camera_vertical_fov_deg", "lidar_pattern_sparse", "random_points_sparse"]

#: A LiDAR at the camera centre, REP-103 axes (x forward, y left, z up), mapped into the camera
#: optical frame (x right, y down, z forward).
T_CAM_LIDAR_AT_CAMERA = np.array([[0.0, -1.0, 0.0, 0.0],
                                  [0.0, 0.0, -1.0, 0.0],
                                  [1.0, 0.0, 0.0, 0.0],
                                  [0.0, 0.0, 0.0, 1.0]])


def _check(depth, K) -> tuple[np.ndarray, float, float, float, float]:
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"expected depth [H,W], got shape {depth.shape}")
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"expected a 3x3 intrinsic matrix with positive focal lengths, got {K.tolist()}")
    if K[0, 1] != 0:
        raise ValueError("lidar_pattern_sparse: a skewed camera (K[0,1] != 0) is not supported")
    return depth, K[0, 0], K[1, 1], K[0, 2], K[1, 2]


def camera_vertical_fov_deg(K, shape: tuple[int, int], shrink: float = 0.95) -> tuple[float, float]:
    """``(down, up)`` elevations in degrees of the image's bottom and top rows on the optical
    axis' column, each multiplied by ``shrink`` (the default LiDAR field of view: just inside
    the camera's, so that the outer beams stay in the image over most of its width)."""
    K = np.asarray(K, dtype=np.float64)
    h = shape[0]
    up = np.degrees(np.arctan((K[1, 2] + 0.5) / K[1, 1]))
    down = -np.degrees(np.arctan((h - 0.5 - K[1, 2]) / K[1, 1]))
    return float(down * shrink), float(up * shrink)


def _nearest(cont: np.ndarray, target: np.ndarray, size: int, angle) -> np.ndarray:
    """Of the two integer pixel coordinates around the continuous ``cont``, the one whose ray
    angle ``angle(coord)`` is closer to ``target`` (radians); -1 where it lies outside
    ``[0, size)`` (the ray misses the image)."""
    lo = np.floor(cont)
    hi = lo + 1
    pick = np.where(np.abs(angle(lo) - target) <= np.abs(angle(hi) - target), lo, hi)
    return np.where((pick >= 0) & (pick < size), pick, -1).astype(np.int64)


def lidar_pattern_sparse(depth, K, beams: int = 32, fov_deg: tuple[float, float] | None = None,
                         azimuth_step_deg: float = 0.2, azimuth_offset_deg: float = 0.0,
                         min_range: float = 0.0, max_range: float | None = None, dropout: float = 0.0,
                         rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A ``beams``-beam spinning LiDAR at the camera centre, sampled from ``depth`` [H,W] metres
    (0 = invalid) seen through the pinhole ``K``.

    Beam elevations are spread uniformly over ``fov_deg = (down, up)`` degrees (default
    :func:`camera_vertical_fov_deg`), ring 0 the lowest; azimuths step by ``azimuth_step_deg``
    starting from ``azimuth_offset_deg`` (the firing phase) across the image width. Each
    (beam, azimuth) takes the pixel whose ray is closest to it in azimuth (its column) and then in
    elevation (its row in that column); the point exists where that pixel's depth is valid, its
    range (along the ray) within ``[min_range, max_range]`` and, with ``dropout`` > 0, it
    survives a random drop (needs ``rng``).

    Returns ``sparse`` [H,W] float32 (the depth's own values, 0 = no point) and ``ring`` [H,W]
    int16 (the beam of each point, -1 = none).
    """
    depth, fx, fy, cx, cy = _check(depth, K)
    h, w = depth.shape
    if beams < 1:
        raise ValueError(f"beams must be >= 1, got {beams}")
    if not azimuth_step_deg > 0:
        raise ValueError(f"azimuth_step_deg must be > 0, got {azimuth_step_deg}")
    down, up = camera_vertical_fov_deg(K, depth.shape) if fov_deg is None else map(float, fov_deg)
    if not down < up and beams > 1:
        raise ValueError(f"fov_deg must be (down, up) with down < up, got {fov_deg}")
    if dropout and rng is None:
        raise ValueError("dropout needs an rng")
    elevation = np.radians(np.linspace(down, up, beams) if beams > 1 else np.array([0.5 * (down + up)]))

    # Azimuths (positive to the right) covering the image width, on the grid offset + k * step.
    step = np.radians(azimuth_step_deg)
    left, right = np.arctan((-0.5 - cx) / fx), np.arctan((w - 0.5 - cx) / fx)
    offset = np.radians(azimuth_offset_deg)
    k0, k1 = np.ceil((left - offset) / step), np.floor((right - offset) / step)
    azimuth = offset + step * np.arange(k0, k1 + 1)

    def col_angle(u):
        return np.arctan((u - cx) / fx)

    cols = _nearest(cx + fx * np.tan(azimuth), azimuth, w, col_angle)
    cols = np.unique(cols[cols >= 0])
    x = (cols - cx) / fx
    fold = np.sqrt(1.0 + x * x)                                  # [C]

    def row_angle(v):
        return np.arctan2(-(v - cy) / fy, fold[None, :])

    target = np.broadcast_to(elevation[:, None], (beams, cols.size))
    rows = _nearest(cy - fy * np.tan(target) * fold[None, :], target, h, row_angle)   # [B,C]
    ring_idx = np.broadcast_to(np.arange(beams)[:, None], rows.shape)
    col_idx = np.broadcast_to(cols[None, :], rows.shape)
    keep = rows >= 0
    r, c, b = rows[keep], col_idx[keep], ring_idx[keep]
    z = depth[r, c].astype(np.float64)
    with np.errstate(invalid="ignore"):
        rng_m = z * np.sqrt(1.0 + ((c - cx) / fx) ** 2 + ((r - cy) / fy) ** 2)
        ok = np.isfinite(z) & (z > 0) & (rng_m >= min_range)
        if max_range is not None:
            ok &= rng_m <= max_range
    if dropout:
        ok &= rng.uniform(size=ok.shape) >= dropout
    sparse = np.zeros((h, w), np.float32)
    ring = np.full((h, w), -1, np.int16)
    sparse[r[ok], c[ok]] = depth[r[ok], c[ok]]
    ring[r[ok], c[ok]] = b[ok]
    return sparse, ring


def random_points_sparse(depth, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct random valid pixels of ``depth`` [H,W] (all of them when fewer are valid),
    with their exact values; float32 [H,W], 0 elsewhere."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"expected depth [H,W], got shape {depth.shape}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    with np.errstate(invalid="ignore"):
        valid = np.flatnonzero(np.isfinite(depth) & (depth > 0))
    chosen = rng.choice(valid, min(n, valid.size), replace=False) if valid.size else valid
    out = np.zeros(depth.size, np.float32)
    out[chosen] = depth.ravel()[chosen]
    return out.reshape(depth.shape)

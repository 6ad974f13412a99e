"""Pseudo-LiDAR: a depth image as an organised point cloud, like depth_image_proc's
``point_cloud_xyz`` (NaN for invalid pixels, ``is_dense = false``), plus what it lacks: a pixel
stride, a maximum range, another target frame, and colour (XYZRGB).

Fully vectorised: building a 1242x375 cloud is a few numpy passes, not a Python loop per point.
"""

from __future__ import annotations

import numpy as np

from depth_core.geometry import pixel_rays

__all__ = ["cloud_fields", "pack_rgb"]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB [...,3] uint8 -> float32 carrying 0x00RRGGBB in its bits (the PCL / RViz ``rgb`` field)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.astype(np.uint32).view(np.float32)


def cloud_fields(depth: np.ndarray, K: np.ndarray, *, stride: int = 1, max_range: float = 0.0,
                 T_target_camera: np.ndarray | None = None, rgb: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fields ``x, y, z`` (and ``rgb``) of shape [H/stride, W/stride], float32.

    ``depth`` [H,W] metres (NaN/<=0 invalid) in the camera optical frame with intrinsics ``K``;
    points farther than ``max_range`` (Euclidean, when > 0) become NaN; ``T_target_camera`` moves
    them into another frame; ``rgb`` [H,W,3] uint8 adds a packed colour field.
    """
    h, w = depth.shape
    d = depth[::stride, ::stride].astype(np.float32)
    rays = pixel_rays(K, h, w, np.float32)[::stride, ::stride]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > 0)
    pts = rays * np.where(valid, d, np.nan)[..., None]
    if max_range > 0:
        with np.errstate(invalid="ignore"):
            far = np.einsum("...i,...i->...", pts, pts) > max_range * max_range
        pts[far] = np.nan
    if T_target_camera is not None:
        T = np.asarray(T_target_camera, dtype=np.float32)
        pts = pts @ T[:3, :3].T + T[:3, 3]  # NaN stays NaN
    fields = {"x": np.ascontiguousarray(pts[..., 0]), "y": np.ascontiguousarray(pts[..., 1]),
              "z": np.ascontiguousarray(pts[..., 2])}
    if rgb is not None:
        fields["rgb"] = pack_rgb(rgb[::stride, ::stride])
    return fields

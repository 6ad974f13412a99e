"""Pseudo-LiDAR: a depth image as an organised point cloud, like depth_image_proc's
``point_cloud_xyz`` (NaN for invalid pixels, ``is_dense = false``), plus what it lacks: a pixel
stride, a maximum range, another target frame, and colour (XYZRGB).

Fully vectorised: building a 1242x375 cloud is a few numpy passes, not a Python loop per point.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from depth_core.geometry import pixel_rays

__all__ = ["cloud_fields", "pack_rgb"]


@lru_cache(maxsize=8)
def _ray_planes(K: tuple, h: int, w: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the unit-z rays through the (strided) pixel centres, cached: a camera's
    intrinsics and size rarely change, and recomputing them costs as much as the cloud itself."""
    rays = pixel_rays(np.array(K).reshape(3, 3), h, w, np.float32)[::stride, ::stride]
    x, y = np.ascontiguousarray(rays[..., 0]), np.ascontiguousarray(rays[..., 1])
    x.flags.writeable = y.flags.writeable = False
    return x, y


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
    d = depth[::stride, ::stride]
    rx, ry = _ray_planes(tuple(np.asarray(K, dtype=np.float64).ravel().tolist()), h, w, stride)
    with np.errstate(invalid="ignore"):
        z = np.where(np.isfinite(d) & (d > 0), d, np.nan).astype(np.float32, copy=False)
    x, y = rx * z, ry * z   # NaN stays NaN
    if max_range > 0:
        with np.errstate(invalid="ignore"):
            far = x * x + y * y + z * z > max_range * max_range
        x[far] = y[far] = z[far] = np.nan
    if T_target_camera is not None:
        R, t = np.asarray(T_target_camera, dtype=np.float32)[:3, :3], np.asarray(T_target_camera, np.float32)[:3, 3]
        x, y, z = (R[i, 0] * x + R[i, 1] * y + R[i, 2] * z + t[i] for i in range(3))
    fields = {"x": x, "y": y, "z": z}
    if rgb is not None:
        fields["rgb"] = pack_rgb(rgb[::stride, ::stride])
    return fields

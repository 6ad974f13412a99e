"""Point clouds in the camera optical frame: a sensor's points moved in front of the camera, the
ring map of a projection, and pseudo-LiDAR (a depth image as an organised cloud, like
depth_image_proc's ``point_cloud_xyz``: NaN for invalid pixels).

The points come as separate x, y, z arrays (PointCloud2 fields are strided columns), and the
transforms are applied one coordinate at a time: for a 100k-point scan that is several times
faster than stacking to [N,3] and multiplying, which is why these do not call
:func:`~depth_core.geometry.transform_points`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .projection import pixel_rays

__all__ = ["organised_cloud", "organised_points", "points_in_front", "ring_image", "transform_coordinates"]


def transform_coordinates(T, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``T`` [4,4] applied to points given as coordinate arrays of any (equal) shape, float32."""
    T = np.asarray(T, np.float32)
    R, t = T[:3, :3], T[:3, 3]
    return tuple(R[i, 0] * x + R[i, 1] * y + R[i, 2] * z + t[i] for i in range(3))


def points_in_front(x: np.ndarray, y: np.ndarray, z: np.ndarray, T_camera_source, *,
                    min_depth: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The finite points (coordinates in the source frame) that lie in front of the camera, moved
    into the camera frame by ``T_camera_source``: (points [N,3] float32, their indices in the
    input). Only the points in front are transformed: a 360-degree scan is mostly not."""
    x, y, z = (np.asarray(c, np.float32) for c in (x, y, z))
    T = np.asarray(T_camera_source, np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        zc = T[2, 0] * x + T[2, 1] * y + T[2, 2] * z + T[2, 3]
        keep = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & np.isfinite(z) & (zc > min_depth))
    points = np.empty((len(keep), 3), np.float32)
    xc, yc, _ = transform_coordinates(T, x[keep], y[keep], z[keep])
    points[:, 0], points[:, 1], points[:, 2] = xc, yc, zc[keep]
    return points, keep


def ring_image(index: np.ndarray, rings: np.ndarray | None) -> np.ndarray | None:
    """The ring (beam) of each pixel's point, int16 [H,W], -1 where no point: ``index`` is the
    per-pixel point index of :func:`~depth_core.geometry.project_points` (``return_index``), -1
    where none. None without rings."""
    if rings is None:
        return None
    out = np.full(index.shape, -1, np.int16)
    hit = index >= 0
    out[hit] = np.asarray(rings)[index[hit]]
    return out


@lru_cache(maxsize=8)
def _ray_planes(K: tuple, h: int, w: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the unit-z rays through the (strided) pixel centres, cached: a camera's
    intrinsics and size rarely change, and recomputing them costs as much as the cloud itself."""
    rays = pixel_rays(np.array(K).reshape(3, 3), h, w, np.float32)[::stride, ::stride]
    x, y = np.ascontiguousarray(rays[..., 0]), np.ascontiguousarray(rays[..., 1])
    x.flags.writeable = y.flags.writeable = False
    return x, y


def organised_cloud(depth: np.ndarray, K, *, stride: int = 1, max_range: float = 0.0,
                    T_target_camera=None) -> np.ndarray:
    """Pseudo-LiDAR: xyz [H/stride, W/stride, 3] float32 of a depth image ``depth`` [H,W] (metres,
    NaN or <= 0 invalid) with intrinsics ``K``; invalid pixels and points farther than
    ``max_range`` (Euclidean, when > 0) are NaN; ``T_target_camera`` moves them into another frame.
    Computed straight into the interleaved layout a PointCloud2 carries, so that the message takes
    the array as it is (stacking three planes afterwards was a third of the cost at 1242x375)."""
    h, w = depth.shape
    d = depth[::stride, ::stride]
    rx, ry = _ray_planes(tuple(np.asarray(K, dtype=np.float64).ravel().tolist()), h, w, stride)
    xyz = np.empty((*d.shape, 3), np.float32)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    with np.errstate(invalid="ignore"):
        np.copyto(z, d, casting="same_kind")
        z[~(np.isfinite(d) & (d > 0))] = np.nan
    np.multiply(rx, z, out=x)   # NaN stays NaN
    np.multiply(ry, z, out=y)
    if max_range > 0:
        with np.errstate(invalid="ignore"):
            far = x * x + y * y + z * z > max_range * max_range
        xyz[far] = np.nan
    if T_target_camera is not None:
        moved = transform_coordinates(T_target_camera, x, y, z)     # all three read before any is written
        x[...], y[...], z[...] = moved
    return xyz


def organised_points(depth: np.ndarray, K, *, stride: int = 1, max_range: float = 0.0,
                     T_target_camera=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo-LiDAR as x, y, z [H/stride, W/stride] float32 (views of :func:`organised_cloud`'s
    interleaved array; the same options). Fully vectorised: a 1242x375 cloud is a few numpy passes."""
    xyz = organised_cloud(depth, K, stride=stride, max_range=max_range, T_target_camera=T_target_camera)
    return xyz[..., 0], xyz[..., 1], xyz[..., 2]

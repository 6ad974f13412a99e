"""Depth images <-> 3D points in the camera optical frame (x right, y down, z forward, metres).

Integer pixel coordinates are pixel centres: a point projecting to ``u = 3.4`` lands in pixel 3,
and ``u = 3.6`` in pixel 4.
"""

from __future__ import annotations

import numpy as np

from .camera import validate_intrinsic_matrix
from .kernels import zbuffer
from .transforms import invert_transform, transform_points

__all__ = ["backproject", "lidar_fov_mask", "pixel_rays", "project_lidar", "project_points", "resize_sparse_depth",
           "scatter_nearest"]


def pixel_rays(K, height: int, width: int, dtype=np.float32) -> np.ndarray:
    """Rays [H,W,3] with unit z through every pixel centre: ``depth * ray`` is the 3D point."""
    K = validate_intrinsic_matrix(K)
    u = np.arange(width, dtype=np.float64)
    v = np.arange(height, dtype=np.float64)
    y = (v - K[1, 2]) / K[1, 1]
    # Skew (K[0, 1]) shifts x by s * y / fx.
    x = (u[None, :] - K[0, 2] - K[0, 1] * y[:, None]) / K[0, 0]
    rays = np.empty((height, width, 3), dtype=dtype)
    rays[..., 0] = x
    rays[..., 1] = y[:, None]
    rays[..., 2] = 1.0
    return rays


def backproject(depth, K) -> np.ndarray:
    """Points [H,W,3] (metres, camera optical frame) from a depth image [H,W] (metres).

    Pixels whose depth is not finite or not positive become NaN points, as in depth_image_proc.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H,W], got shape {depth.shape}")
    dtype = depth.dtype if depth.dtype in (np.float32, np.float64) else np.float32
    h, w = depth.shape
    d = depth.astype(dtype, copy=False)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > 0)
    d = np.where(valid, d, np.nan)
    return pixel_rays(K, h, w, dtype) * d[..., None]


def project_points(points, K, height: int, width: int, *, min_depth: float = 1e-3,
                   return_index: bool = False, empty: float = 0.0, exact: bool = True):
    """Render points [N,3] (camera optical frame, metres) into a depth image [H,W] with a z-buffer.

    Each pixel keeps the nearest point (smallest z); pixels with no point are ``empty`` (0; inf
    spares a pass over the image for a caller that takes minima over it). Points behind
    ``min_depth``, outside the image or not finite are dropped. With ``return_index=True`` also
    returns ``index[H,W]`` (int32): the row of ``points`` that won each pixel, -1 where none did.
    ``exact=False`` computes the pixels in float32 (for float32 points, no float64 copy of them): a
    point within about 1e-4 px of a pixel's edge may land in its neighbour, which a coarse grid
    (the occlusion rule's) does not mind.
    """
    K = validate_intrinsic_matrix(K)
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be [N,3], got shape {points.shape}")
    # One pass over every point: the callers' points are mostly in front of the camera already
    # (the node's and the replay's), so a separate in-front selection first costs more than it
    # saves. NaN fails every comparison below, so the bounds checks drop non-finite points.
    dtype = np.float64 if exact else np.float32
    # One compiled pass over the points (depth_core.geometry.kernels.zbuffer): the pixels computed
    # in the working precision in the order of the formula in the docstring, bit for bit what
    # numpy's whole-array expression gave (tested), without its temporaries (eight arrays of
    # 50-100k values each) or np.minimum.at.
    # In the types the compiled loop was made for (warm_up; any other is compiled anew, seconds).
    # (Writable and contiguous too: numba types a read-only array, a bag's say, as another type.)
    points = np.require(points if points.dtype in (np.float32, np.float64) else points.astype(dtype), requirements="CW")
    depth, index = zbuffer(points, np.empty(0, dtype), np.require(K, None, "CW"), int(height), int(width),
                           float(min_depth), bool(return_index))
    if empty != np.inf:
        depth[np.isinf(depth)] = empty
    depth = depth.reshape(height, width)
    return depth if not return_index else (depth, index.reshape(height, width))


def project_lidar(points_lidar, T_cam_lidar, K, height: int, width: int, **kwargs):
    """Sparse depth [H,W] (0 = no return) from LiDAR points [N,3] in the LiDAR frame.

    ``T_cam_lidar`` [4,4] is the LiDAR frame's pose in the camera optical frame (the
    ``lidar_extrinsic`` parameter). Keyword arguments go to :func:`project_points`.
    """
    points_cam = transform_points(T_cam_lidar, np.asarray(points_lidar, dtype=np.float64))
    return project_points(points_cam, K, height, width, **kwargs)


def lidar_fov_mask(depth, K, T_cam_lidar, fov_down_deg: float, fov_up_deg: float, max_range: float,
                   min_range: float = 0.0, margin_deg: float = 0.0) -> np.ndarray:
    """Pixels [H,W] bool whose 3D point (``depth`` [H,W] metres) a LiDAR could measure: its
    elevation in the LiDAR frame (REP-103: z up) within ``[fov_down_deg, fov_up_deg]`` widened by
    ``margin_deg``, and its range within ``[min_range, max_range]``. ``T_cam_lidar`` [4,4] maps
    LiDAR points into the camera frame. This is where KITTI-style ground truth (accumulated
    LiDAR scans) can exist."""
    points = backproject(depth, K).reshape(-1, 3)
    lidar = transform_points(invert_transform(np.asarray(T_cam_lidar, dtype=np.float64)), points)
    with np.errstate(invalid="ignore"):
        rng = np.linalg.norm(lidar, axis=1)
        elevation = np.degrees(np.arcsin(lidar[:, 2] / rng))
        inside = ((elevation >= fov_down_deg - margin_deg) & (elevation <= fov_up_deg + margin_deg) & (rng >= min_range)
                  & (rng <= max_range))
    return inside.reshape(np.shape(depth))


def scatter_nearest(rows: np.ndarray, cols: np.ndarray, depth: np.ndarray, height: int, width: int,
                    carry: np.ndarray | None = None, fill=-1):
    """A sparse depth map [height, width] of the points ``depth`` placed at pixels (``rows``,
    ``cols``), all inside it: where several land in one pixel the nearest wins, 0 where none does.
    With ``carry`` (a value per point, its ring say), returns ``(depth map, carried map)``: each
    pixel's value taken from the point that won it, ``fill`` where none did."""
    target = np.asarray(rows, np.int64) * width + np.asarray(cols, np.int64)
    depth = np.asarray(depth, np.float32)
    out = np.full(height * width, np.inf, dtype=np.float32)
    np.minimum.at(out, target, depth)
    out[np.isinf(out)] = 0.0
    if carry is None:
        return out.reshape(height, width)
    carry = np.asarray(carry)
    carried = np.full(height * width, fill, dtype=carry.dtype)
    if len(target):
        order = np.lexsort((depth, target))            # per target pixel, its nearest point first
        first = order[np.r_[True, target[order][1:] != target[order][:-1]]]
        carried[target[first]] = carry[first]
    return out.reshape(height, width), carried.reshape(height, width)


def resize_sparse_depth(sparse: np.ndarray, height: int, width: int, carry: np.ndarray | None = None,
                        fill=-1):
    """Resample a sparse depth map [H,W] (0/NaN = missing) to ``height`` x ``width`` by moving each
    valid point to the pixel its centre falls in and keeping the nearest point per pixel.
    (Interpolating would invent depths between points; nearest-neighbour resizing would drop or
    duplicate them.) With ``carry`` [H,W] (a ring map, say), returns ``(depth, carried)``: each
    pixel's value of ``carry`` taken from the point that won it, ``fill`` where none did."""
    h, w = sparse.shape
    with np.errstate(invalid="ignore"):
        rows, cols = np.nonzero(np.isfinite(sparse) & (sparse > 0))
    r = np.minimum(((rows + 0.5) * (height / h)).astype(np.int64), height - 1)
    c = np.minimum(((cols + 0.5) * (width / w)).astype(np.int64), width - 1)
    return scatter_nearest(r, c, sparse[rows, cols], height, width,
                           None if carry is None else np.asarray(carry)[rows, cols], fill)

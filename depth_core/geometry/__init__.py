"""Camera geometry: intrinsics, rigid transforms, and depth <-> point conversions (no ROS)."""

from __future__ import annotations

from .camera import CameraIntrinsics, validate_intrinsic_matrix
from .clouds import organised_cloud, organised_points, points_in_front, ring_image, transform_coordinates
from .odometry import PoseHistory
from .projection import (
    backproject,
    lidar_fov_mask,
    pixel_rays,
    project_lidar,
    project_points,
    resize_sparse_depth,
    scatter_nearest,
)
from .sweeps import (
    CameraShades,
    FreeSpace,
    Sweep,
    SweepAccumulator,
    deskew,
    free_space_keep,
    hidden_keep,
    motion_between,
    move_sweep,
    visible_keep,
)
from .transforms import (
    TransformTree,
    compose,
    invert_transform,
    make_transform,
    matrix_to_quaternion,
    quaternion_to_matrix,
    rotation_from_euler,
    transform_from_xyzquat,
    transform_points,
    transform_to_xyzquat,
)

__all__ = [
    "CameraIntrinsics",
    "CameraShades",
    "FreeSpace",
    "PoseHistory",
    "Sweep",
    "SweepAccumulator",
    "TransformTree",
    "backproject",
    "compose",
    "deskew",
    "free_space_keep",
    "hidden_keep",
    "invert_transform",
    "lidar_fov_mask",
    "make_transform",
    "matrix_to_quaternion",
    "motion_between",
    "move_sweep",
    "organised_cloud",
    "organised_points",
    "pixel_rays",
    "points_in_front",
    "project_lidar",
    "project_points",
    "quaternion_to_matrix",
    "resize_sparse_depth",
    "ring_image",
    "rotation_from_euler",
    "scatter_nearest",
    "transform_coordinates",
    "transform_from_xyzquat",
    "transform_points",
    "transform_to_xyzquat",
    "validate_intrinsic_matrix",
    "visible_keep",
]

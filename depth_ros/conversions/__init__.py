"""ROS messages <-> numpy, written once for both rclpy and rosbags message classes.

No cv_bridge or sensor_msgs_py: they are not installable from PyPI, and cv_bridge breaks on
NumPy 2. Everything here is vectorised numpy (OpenCV only for Bayer demosaicing).
"""

from __future__ import annotations

from .camera_info import (
    CAMERA_MATRICES,
    camera_info_to_msg,
    camera_matrix_note,
    fit_camera,
    intrinsics_from_camera_info,
)
from .errors import ConversionError
from .header import make_header, stamp_to_ns
from .image import (
    compressed_to_msg,
    depth_from_msg,
    depth_to_msg,
    encoding_layout,
    image_from_msg,
    image_to_msg,
    rgb_from_any,
    rgb_from_compressed,
    rgb_from_msg,
)
from .pointcloud import TIME_FIELDS, field_layout, pack_rgb, point_times, pointcloud_from_msg, pointcloud_to_msg
from .tf import transform_from_msg, transform_to_msg, tree_from_tf_messages
from .types import MessageTypes, rclpy_types, rosbags_types

__all__ = [
    "CAMERA_MATRICES",
    "TIME_FIELDS",
    "ConversionError",
    "MessageTypes",
    "camera_info_to_msg",
    "camera_matrix_note",
    "compressed_to_msg",
    "depth_from_msg",
    "depth_to_msg",
    "encoding_layout",
    "field_layout",
    "fit_camera",
    "image_from_msg",
    "image_to_msg",
    "intrinsics_from_camera_info",
    "make_header",
    "pack_rgb",
    "point_times",
    "pointcloud_from_msg",
    "pointcloud_to_msg",
    "rclpy_types",
    "rgb_from_any",
    "rgb_from_compressed",
    "rgb_from_msg",
    "rosbags_types",
    "stamp_to_ns",
    "transform_from_msg",
    "transform_to_msg",
    "tree_from_tf_messages",
]

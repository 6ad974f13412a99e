"""The two message libraries the pipeline talks to: rclpy (live nodes) and rosbags (bag files).

Their message classes take the same keyword fields, but differ in how they want ``uint8[]`` data
(rclpy: ``bytes``, which it copies in about 1 ms for a 1.9 MB image versus about 100 ms from a
numpy array; rosbags: a numpy array). :class:`MessageTypes` hides that, so every conversion is
written once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MessageTypes", "rclpy_types", "rosbags_types"]


@dataclass(frozen=True)
class MessageTypes:
    Time: Any
    Header: Any
    Image: Any
    CompressedImage: Any
    CameraInfo: Any
    RegionOfInterest: Any
    PointCloud2: Any
    PointField: Any
    TFMessage: Any
    TransformStamped: Any
    Transform: Any
    Vector3: Any
    Quaternion: Any
    byte_array: Callable[[np.ndarray], Any]    # contiguous uint8 array -> this library's uint8[]


def rosbags_types(typestore=None) -> MessageTypes:
    """Message classes of a rosbags typestore (ROS 2 Jazzy definitions by default)."""
    from rosbags.typesys import Stores, get_typestore

    t = (typestore or get_typestore(Stores.ROS2_JAZZY)).types
    return MessageTypes(
        Time=t["builtin_interfaces/msg/Time"], Header=t["std_msgs/msg/Header"],
        Image=t["sensor_msgs/msg/Image"], CompressedImage=t["sensor_msgs/msg/CompressedImage"],
        CameraInfo=t["sensor_msgs/msg/CameraInfo"], RegionOfInterest=t["sensor_msgs/msg/RegionOfInterest"],
        PointCloud2=t["sensor_msgs/msg/PointCloud2"], PointField=t["sensor_msgs/msg/PointField"],
        TFMessage=t["tf2_msgs/msg/TFMessage"], TransformStamped=t["geometry_msgs/msg/TransformStamped"],
        Transform=t["geometry_msgs/msg/Transform"], Vector3=t["geometry_msgs/msg/Vector3"],
        Quaternion=t["geometry_msgs/msg/Quaternion"],
        byte_array=lambda a: np.ascontiguousarray(a).reshape(-1).view(np.uint8),
    )


def rclpy_types() -> MessageTypes:
    """Message classes of the sourced ROS 2 installation (for rclpy publishers)."""
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField, RegionOfInterest
    from std_msgs.msg import Header

    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:  # tf2_msgs is not among the PyPI wheels; only bag output needs it
        TFMessage = None
    return MessageTypes(
        Time=Time, Header=Header, Image=Image, CompressedImage=CompressedImage, CameraInfo=CameraInfo,
        RegionOfInterest=RegionOfInterest, PointCloud2=PointCloud2, PointField=PointField,
        TFMessage=TFMessage, TransformStamped=TransformStamped, Transform=Transform, Vector3=Vector3,
        Quaternion=Quaternion, byte_array=lambda a: np.ascontiguousarray(a).tobytes(),
    )

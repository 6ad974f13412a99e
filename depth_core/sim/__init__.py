"""A procedural world rendered to arrays: RGB, dense ground-truth depth, LiDAR scans, intrinsics
and the camera-LiDAR extrinsic, deterministic by seed. No ROS here; ``depth_ros.bag.simulate``
turns frames into a rosbag and ``depth_core.data.simulated`` into a training set."""

from __future__ import annotations

from .config import SCENES, CameraConfig, LidarConfig, RigConfig, SimConfig, default_config
from .simulator import FRAME_IDS, Rig, SimFrame, Simulator

__all__ = [
    "FRAME_IDS",
    "SCENES",
    "CameraConfig",
    "LidarConfig",
    "Rig",
    "RigConfig",
    "SimConfig",
    "SimFrame",
    "Simulator",
    "default_config",
]

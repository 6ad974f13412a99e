"""What the LiDAR benchmarks share: a simulated frame as the node receives it, the rig as the
node's parameters, and the drive's exact odometry."""

from __future__ import annotations

import argparse

import numpy as np

from depth_core.geometry import PoseHistory, transform_to_xyzquat
from depth_ros.conversions import camera_info_to_msg, image_to_msg, make_header, pointcloud_to_msg, rosbags_types

TYPES = rosbags_types()


def drive_parser(doc: str, *, frames: int, seed: int = 11) -> argparse.ArgumentParser:
    """The arguments every drive benchmark takes: the model, its backend, the drive's length and seed."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--frames", type=int, default=frames)
    parser.add_argument("--seed", type=int, default=seed)
    return parser


def rig_parameters(sim) -> tuple[list[float], list[float]]:
    """``(lidar_extrinsic, base_extrinsic)`` of the simulator's rig, as the node takes them."""
    return (list(transform_to_xyzquat(sim.rig.T_cam_lidar)),
            list(transform_to_xyzquat(np.linalg.inv(sim.rig.T_base_camera))))


def exact_odometry(sim, frames: int) -> PoseHistory:
    """The drive's true poses at every frame stamp (and one more, where the last sweep ends), and at
    each LiDAR stamp of an unsynchronised LiDAR."""
    odometry = PoseHistory()
    lag = round(sim.config.lidar_lag_s * 1e9)
    for i in range(frames + 1):
        for t in (sim.stamp_ns(i) - lag, sim.stamp_ns(i)) if lag else (sim.stamp_ns(i),):
            odometry.add(t, sim.moving.pose(t))
    return odometry


def frame_messages(sim, frame, keep: np.ndarray | None = None, *, cloud: bool = True) -> tuple:
    """``(image, camera_info, cloud or None)`` of a rendered frame; ``keep`` selects the cloud's
    points; a frame with per-point times gets Velodyne's ``time`` field (seconds from the stamp)."""
    header = make_header(TYPES, frame.stamp_ns, "camera_optical_frame")
    msg = None
    if cloud:
        sel = slice(None) if keep is None else keep
        fields = {"x": frame.lidar_points[sel, 0], "y": frame.lidar_points[sel, 1], "z": frame.lidar_points[sel, 2],
                  "ring": frame.lidar_ring[sel]}
        if frame.lidar_times is not None:
            fields["time"] = ((frame.lidar_times[sel] - frame.cloud_stamp_ns) * 1e-9).astype(np.float32)
        msg = pointcloud_to_msg(TYPES, make_header(TYPES, frame.cloud_stamp_ns, "lidar_link"), fields)
    return image_to_msg(TYPES, frame.rgb, "rgb8", header), camera_info_to_msg(TYPES, sim.intrinsics, header), msg

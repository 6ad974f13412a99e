"""Per-stage costs of the frame pipeline (the node's and the replay's) at 640x480 and 1242x375,
and pseudo-LiDAR creation against a straightforward per-point implementation.

    OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/python benchmarks/bench_pipeline.py

"Overhead" is everything but the network: decode, LiDAR projection, preprocessing,
postprocessing, message encoding and the pseudo-LiDAR cloud.
"""

from __future__ import annotations

import argparse
import statistics
import struct

import numpy as np
from _sim_drive import exact_odometry, frame_messages, rig_parameters
from _timing import median_ms

from depth_core.geometry import organised_points, transform_to_xyzquat
from depth_core.inference import load_estimator
from depth_core.sim import Simulator, default_config
from depth_ros.conversions import (
    camera_info_to_msg,
    image_to_msg,
    make_header,
    pointcloud_to_msg,
    rosbags_types,
)
from depth_ros.pipeline import FramePipeline, PipelineConfig

TYPES = rosbags_types()


def _frame_messages(scene: str, width: int, height: int):
    sim = Simulator(default_config(scene, width=width, height=height), seed=0, frames=1)
    f = sim.render(0)
    header = make_header(TYPES, f.stamp_ns, "camera_optical_frame")
    cloud = pointcloud_to_msg(TYPES, make_header(TYPES, f.stamp_ns, "lidar_link"),
                              {"x": f.lidar_points[:, 0], "y": f.lidar_points[:, 1], "z": f.lidar_points[:, 2],
                               "intensity": f.lidar_intensity, "ring": f.lidar_ring})
    return (image_to_msg(TYPES, f.rgb, "rgb8", header), camera_info_to_msg(TYPES, sim.intrinsics, header), cloud,
            list(transform_to_xyzquat(sim.rig.T_cam_lidar)), f)


def per_point_cloud(depth: np.ndarray, K: np.ndarray) -> bytes:
    """The straightforward implementation: one Python iteration and one struct.pack per pixel."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    out = bytearray()
    for v in range(depth.shape[0]):
        for u in range(depth.shape[1]):
            d = depth[v, u]
            if not np.isfinite(d) or d <= 0:
                out += struct.pack("<fff", np.nan, np.nan, np.nan)
            else:
                out += struct.pack("<fff", (u - cx) * d / fx, (v - cy) * d / fy, d)
    return bytes(out)


def accumulation(est, runs: int) -> None:
    """The LiDAR stage with 4 previous sweeps of a VLP-16 (about 29k points each) against one sweep,
    at 1242x375: each frame adds its sweep and merges the history moved by the odometry."""
    from dataclasses import replace

    from depth_core.sim.rigs import lidar_model

    cfg = default_config("street", width=1242, height=375)
    sim = Simulator(replace(cfg, lidar=lidar_model("VLP-16")), seed=0, frames=runs + 5)
    frames = [sim.render(i) for i in range(runs + 5)]
    msgs = [frame_messages(sim, f) for f in frames]
    extrinsic, mount = rig_parameters(sim)
    rows = {}
    for n in (0, 4):
        odometry = exact_odometry(sim, len(frames))
        pipe = FramePipeline(est, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=n, base_extrinsic=mount),
                             TYPES, odometry=odometry)
        lidar, points = [], []
        for i, (image, info, cloud) in enumerate(msgs):
            frame = pipe.prepare(image, info, cloud)
            if i >= 5:
                lidar.append(frame.timings["lidar"] * 1e3)
                points.append(len(frame.points))
        rows[n] = (statistics.median(lidar), statistics.median(points))
    print(f"\nLiDAR stage at 1242x375, VLP-16 sweeps of {len(frames[0].lidar_points)} points: one sweep "
          f"{rows[0][0]:.1f} ms ({rows[0][1]:.0f} points in view), with 4 previous sweeps {rows[4][0]:.1f} ms "
          f"({rows[4][1]:.0f} points): +{rows[4][0] - rows[0][0]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    est = load_estimator(args.model, args.backend)
    print(f"# {est.description}")
    print("| size | decode | lidar | preprocess | inference | postprocess | encode | pseudo_lidar | overhead |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scene, w, h in (("indoor", 640, 480), ("street", 1242, 375)):
        image, info, cloud, extrinsic, _ = _frame_messages(scene, w, h)
        pipe = FramePipeline(est, PipelineConfig(lidar_extrinsic=extrinsic), TYPES)
        stages: dict[str, list] = {}
        pipe.process(image, info, cloud)
        for _ in range(args.runs):
            for k, v in pipe.process(image, info, cloud).timings.items():
                stages.setdefault(k, []).append(v * 1e3)
        med = {k: statistics.median(v) for k, v in stages.items()}
        overhead = sum(v for k, v in med.items() if k != "inference")
        cols = ["decode", "lidar", "preprocess", "inference", "postprocess", "encode", "pseudo_lidar"]
        print(f"| {w}x{h} | " + " | ".join(f"{med.get(c, 0):.1f}" for c in cols) + f" | **{overhead:.1f}** |")

    accumulation(est, args.runs)

    _, info, _, _, frame = _frame_messages("street", 1242, 375)
    depth = frame.depth
    K = np.asarray(info.k).reshape(3, 3)
    def vectorised():
        x, y, z = organised_points(depth, K)
        return pointcloud_to_msg(TYPES, info.header, {"x": x, "y": y, "z": z}, height=375)

    fast = median_ms(vectorised, args.runs)
    slow = median_ms(lambda: per_point_cloud(depth, K), 3)
    print(f"\npseudo-LiDAR at 1242x375 (465,750 points): vectorised {fast:.1f} ms, per-point {slow:.0f} ms, "
          f"{slow / fast:.0f}x faster")


if __name__ == "__main__":
    main()

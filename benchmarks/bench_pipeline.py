"""Per-stage costs of the frame pipeline (the node's and the replay's) at 640x480 and 1242x375,
and pseudo-LiDAR creation against a straightforward per-point implementation.

    .venv/bin/python benchmarks/bench_pipeline.py [--precisions fp32,int8]

(One core, as before issue 26: ``OMP_NUM_THREADS=1 taskset -c 1 ... --threads 1``.)

"Overhead" is everything but the network: decode, LiDAR projection, preprocessing,
postprocessing, message encoding and the pseudo-LiDAR cloud; "frame" is the whole frame and "fps"
the rate one process sustains. A row per precision (INT8: ONNX Runtime's quantised graph).
"""

from __future__ import annotations

import argparse
import statistics
import struct

import numpy as np
from _sim_drive import exact_odometry, frame_messages, rig_parameters
from _timing import median_ms

from depth_core.geometry import organised_cloud, transform_to_xyzquat
from depth_core.inference import load_estimator
from depth_core.inference.quantize import cpu_int8_description
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
    rows = {}
    # One sweep, four previous ones (without, then with the images' correction of the odometry: the
    # default), and one sweep taken 50 ms before its image (moved to it). Each case sets the alignment.
    for n, lag, align in ((0, 0.0, False), (4, 0.0, False), (4, 0.0, True), (0, 0.05, False)):
        sim = Simulator(replace(cfg, lidar=lidar_model("VLP-16"), lidar_lag_s=lag), seed=0, frames=runs + 5)
        frames = [sim.render(i) for i in range(runs + 5)]
        msgs = [frame_messages(sim, f) for f in frames]
        extrinsic, mount = rig_parameters(sim)
        odometry = exact_odometry(sim, len(frames))
        pipe = FramePipeline(est, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=n, base_extrinsic=mount,
                                                 lidar_align_images=align), TYPES, odometry=odometry)
        lidar, points = [], []
        for i, (image, info, cloud) in enumerate(msgs):
            frame = pipe.prepare(image, info, cloud)
            if i >= 5:
                lidar.append(frame.timings["lidar"] * 1e3)
                points.append(len(frame.points))
        rows[n, lag, align] = (statistics.median(lidar), statistics.median(points))
    one, four, aligned, moved = rows[0, 0.0, False], rows[4, 0.0, False], rows[4, 0.0, True], rows[0, 0.05, False]
    print(f"\nLiDAR stage at 1242x375, VLP-16 sweeps of {len(frames[0].lidar_points)} points: one sweep "
          f"{one[0]:.1f} ms ({one[1]:.0f} points in view), with 4 previous sweeps (lidar_align_images: false) "
          f"{four[0]:.1f} ms ({four[1]:.0f} points): +{four[0] - one[0]:.1f} ms, and with the images aligned "
          f"(lidar_align_images, the default) {aligned[0]:.1f} ms: +{aligned[0] - one[0]:.1f} ms; one sweep 50 ms "
          f"before its image, moved to it {moved[0]:.1f} ms ({moved[1]:.0f} points): +{moved[0] - one[0]:.1f} ms")


def lidar_stage(est, runs: int) -> None:
    """The LiDAR stage alone, for a 128-beam scan at 1242x375: the node's (decode, filter, move
    into the camera frame) and the replay's (that, then the scan projected at the image's size and
    split into input and held-out points)."""
    from dataclasses import replace

    from depth_core.sim.rigs import lidar_model
    from depth_ros.eval.replay import _lidar_truth, _split

    cfg = default_config("street", width=1242, height=375)
    sim = Simulator(replace(cfg, lidar=lidar_model("OS1-128")), seed=0, frames=1)
    f = sim.render(0)
    image, info, cloud = frame_messages(sim, f)
    pipe = FramePipeline(est, PipelineConfig(lidar_extrinsic=list(transform_to_xyzquat(sim.rig.T_cam_lidar))), TYPES)
    rng = np.random.default_rng(0)

    def replay_stage():
        frame = pipe.prepare(image, info, cloud)
        truth, rings, _ = _lidar_truth(frame)
        _split(truth, rings, 0.8, None, rng)

    node = statistics.median(pipe.prepare(image, info, cloud).timings["lidar"] * 1e3 for _ in range(runs))
    replay = median_ms(replay_stage, runs) - statistics.median(
        sum(v for k, v in pipe.prepare(image, info, cloud).timings.items() if k != "lidar") * 1e3 for _ in range(runs))
    print(f"\nLiDAR stage, OS1-128 scan of {len(f.lidar_points)} points at 1242x375: node {node:.2f} ms, "
          f"replay (with the projection at the image's size and the input / held-out split) {replay:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--precisions", default="fp32,int8", help="comma-separated, one table row each")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: its own choice, one per core)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    estimators = {p: load_estimator(args.model, args.backend, precision=p, threads=args.threads)
                  for p in args.precisions.split(",")}
    est = next(iter(estimators.values()))
    print(f"# {est.description}; the CPU's int8 dot products: {cpu_int8_description()}")
    cols = ["decode", "lidar", "preprocess", "inference", "postprocess", "encode", "pseudo_lidar"]
    print("| size | precision | " + " | ".join(cols) + " | overhead | **frame** | fps |")
    print("|---|---|" + "---|" * len(cols) + "---|---|---|")
    for scene, w, h in (("indoor", 640, 480), ("street", 1242, 375)):
        image, info, cloud, extrinsic, _ = _frame_messages(scene, w, h)
        for precision, e in estimators.items():
            pipe = FramePipeline(e, PipelineConfig(lidar_extrinsic=extrinsic), TYPES)
            stages: dict[str, list] = {}
            pipe.process(image, info, cloud)
            for _ in range(args.runs):
                for k, v in pipe.process(image, info, cloud).timings.items():
                    stages.setdefault(k, []).append(v * 1e3)
            med = {k: statistics.median(v) for k, v in stages.items()}
            overhead = sum(v for k, v in med.items() if k != "inference")
            total = overhead + med["inference"]
            print(f"| {w}x{h} | {precision} | " + " | ".join(f"{med.get(c, 0):.1f}" for c in cols)
                  + f" | {overhead:.1f} | **{total:.1f}** | {1e3 / total:.0f} |")

    lidar_stage(est, args.runs)
    accumulation(est, args.runs)

    _, info, _, _, frame = _frame_messages("street", 1242, 375)
    depth = frame.depth
    K = np.asarray(info.k).reshape(3, 3)
    def vectorised():   # as the pipeline builds it
        xyz = organised_cloud(depth, K)
        return pointcloud_to_msg(TYPES, info.header, {"x": xyz[..., 0], "y": xyz[..., 1], "z": xyz[..., 2]},
                                 height=375, packed=xyz)

    fast = median_ms(vectorised, args.runs)
    slow = median_ms(lambda: per_point_cloud(depth, K), 3)
    print(f"\npseudo-LiDAR at 1242x375 (465,750 points): vectorised {fast:.1f} ms, per-point {slow:.0f} ms, "
          f"{slow / fast:.0f}x faster")


if __name__ == "__main__":
    main()

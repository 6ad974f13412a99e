"""Soak: push many frames through the frame pipeline, with LiDAR dropouts, stale clouds and
damaged messages mixed in, and watch memory, crashes and accounting.

    .venv/bin/python benchmarks/soak.py --frames 10000

Goals: memory growth < 5 % between the first and the last thousand frames, no crash (an
exception the pipeline does not turn into a skip reason), every frame accounted for.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import Counter

import numpy as np
from tqdm import tqdm

from depth_core.geometry import transform_to_xyzquat
from depth_core.inference import load_estimator
from depth_core.sim import Simulator, default_config
from depth_ros.conversions import (
    ConversionError,
    camera_info_to_msg,
    image_to_msg,
    make_header,
    pointcloud_to_msg,
    rosbags_types,
)
from depth_ros.pipeline import FramePipeline, PipelineConfig

TYPES = rosbags_types()


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sim = Simulator(default_config("street", width=args.width, height=args.height), seed=args.seed, frames=20)
    frames = [sim.render(i) for i in range(20)]
    est = load_estimator(args.model, args.backend)
    pipe = FramePipeline(est, PipelineConfig(lidar_extrinsic=list(transform_to_xyzquat(sim.rig.T_cam_lidar))), TYPES)
    rng = np.random.default_rng(args.seed)
    outcome: Counter = Counter()
    crashes = []
    t0 = time.perf_counter()
    memory = []
    for i in tqdm(range(args.frames), unit="frame"):
        f = frames[i % len(frames)]
        stamp = 1_800_000_000 * 10**9 + i * 10**8
        header = make_header(TYPES, stamp, "camera_optical_frame")
        image = image_to_msg(TYPES, f.rgb, "rgb8", header)
        info = camera_info_to_msg(TYPES, sim.intrinsics, header)
        cloud_stamp = stamp - (10**9 if rng.uniform() < 0.05 else 0)       # 5 % stale clouds
        cloud = None if rng.uniform() < 0.1 else pointcloud_to_msg(          # 10 % LiDAR dropouts
            TYPES, make_header(TYPES, cloud_stamp, "lidar_link"),
            {"x": f.lidar_points[:, 0], "y": f.lidar_points[:, 1], "z": f.lidar_points[:, 2]})
        damage = rng.uniform()
        if damage < 0.02:
            image.data = image.data[: len(image.data) // 2]
        elif damage < 0.04:
            image.encoding = "yuv_unknown"
        elif damage < 0.06:
            info.k, info.p = np.zeros(9), np.zeros(12)   # uncalibrated: K and P zero
        elif damage < 0.08 and cloud is not None:
            cloud.point_step = 4
        elif damage < 0.09:
            image.header.stamp.sec, image.header.stamp.nanosec = 0, 0
        try:
            result = pipe.process(image, info, cloud)
            outcome[f"{result.mode}"] += 1
            if result.lidar_status not in ("used", "none"):
                outcome[f"lidar_{result.lidar_reason}"] += 1
        except ConversionError as exc:
            outcome[f"skipped_{exc.reason}"] += 1
        except Exception as exc:  # a crash: the pipeline should have turned it into a reason
            crashes.append(f"{type(exc).__name__}: {exc}")
        if i == 999 or i == args.frames - 1:
            memory.append(rss_mb())
    elapsed = time.perf_counter() - t0
    accounted = outcome["prediction"] + outcome["completion"] + sum(v for k, v in outcome.items()
                                                                    if k.startswith("skipped_"))
    growth = (memory[-1] - memory[0]) / memory[0] * 100
    print(f"# soak: {args.frames} frames of {args.width}x{args.height} through the pipeline with "
          f"{est.description} in {elapsed / 60:.1f} min")
    print(f"memory after 1000 frames {memory[0]:.0f} MB, at the end {memory[-1]:.0f} MB: growth {growth:+.1f} %")
    print(f"crashes: {len(crashes)}" + (f" (first: {crashes[0]})" if crashes else ""))
    print(f"frames accounted for: {accounted + len(crashes)} of {args.frames}")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome.items())))


if __name__ == "__main__":
    main()

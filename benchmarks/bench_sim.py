"""Simulator throughput: frames/s (RGB + depth + LiDAR) per scene on one core.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_sim.py

Prints the median time per frame over ``--frames`` frames after one warm-up frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from depth_core.sim import SCENES, Simulator, default_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=SCENES)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--native", action="store_true", help="each scene's own camera size instead")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"cpus allowed: {len(os.sched_getaffinity(0))}")
    print("| scene | camera | LiDAR rays | median ms/frame | frames/s |")
    print("|---|---|---|---|---|")
    for scene in args.scenes:
        config = default_config(scene) if args.native else default_config(scene, width=args.width, height=args.height)
        size = f"{config.camera.width}x{config.camera.height}"
        sim = Simulator(config, seed=0, frames=args.frames + 1)
        sim.render(0)
        times = []
        for i in range(1, args.frames + 1):
            t0 = time.perf_counter()
            sim.render(i)
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        rays = config.lidar.beams * config.lidar.columns
        print(f"| {scene} | {size} | {rays} | {median * 1e3:.0f} | {1 / median:.1f} |")


if __name__ == "__main__":
    main()

"""Simulator throughput: frames/s (RGB + depth + LiDAR) per scene on one core.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_sim.py
    ... bench_sim.py --random-rigs 6 --appearance       # random rigs and looks, per world type
    .venv/bin/python benchmarks/bench_sim.py --generation 48   # depth-core simulate, 1 vs all cores

Prints the median time per frame over ``--frames`` frames after one warm-up frame. With
``--random-rigs K`` each world type is rendered through K random rigs (``--frames`` each).
``--generation F`` times writing an F-frame random-rig data set with one worker and with one per
core, and prints frames/s and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace

import numpy as np

from depth_core.data import write_simulated_dataset
from depth_core.sim import SCENES, Simulator, default_config
from depth_core.sim.appearance import AppearanceConfig
from depth_core.sim.rigs import sample_rig


def _median_frame_s(config, frames: int, seed: int = 0) -> float:
    sim = Simulator(config, seed=seed, frames=frames + 1)
    sim.render(0)
    times = []
    for i in range(1, frames + 1):
        t0 = time.perf_counter()
        sim.render(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _random_rigs(args) -> None:
    print("| world | rigs | mean camera pixels | mean LiDAR rays | median ms/frame | frames/s |")
    print("|---|---|---|---|---|---|")
    for scene in args.scenes:
        times, pixels, rays = [], [], []
        for k in range(args.random_rigs):
            cfg = sample_rig(scene, np.random.default_rng([k, 11]))
            if args.appearance:
                cfg = replace(cfg, appearance=AppearanceConfig().sample(np.random.default_rng([k, 12])))
            times.append(_median_frame_s(cfg, args.frames, seed=k))
            pixels.append(cfg.camera.width * cfg.camera.height)
            rays.append(cfg.lidar.beams * cfg.lidar.columns)
        median = statistics.median(times)
        print(f"| {scene} | {args.random_rigs} | {np.mean(pixels):.0f} | {np.mean(rays):.0f} | {median * 1e3:.0f} | "
              f"{1 / median:.1f} |")


def _generation(args) -> None:
    rates = {}
    for workers in sorted({1, len(os.sched_getaffinity(0))}):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_simulated_dataset(f"{tmp}/ds", args.scenes, max(1, args.generation // len(args.scenes)),
                                    sequence_length=4, rigs="random", appearance=args.appearance, workers=workers,
                                    progress=False)
            rates[workers] = args.generation / (time.perf_counter() - t0)
        print(f"| {workers} worker{'s' if workers > 1 else ''} | {rates[workers]:.2f} frames/s |")
    if len(rates) > 1:
        print(f"speed-up {max(rates)} workers / 1: {rates[max(rates)] / rates[1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=SCENES)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--native", action="store_true", help="each scene's own camera size instead")
    parser.add_argument("--random-rigs", type=int, help="render through this many random rigs per world type")
    parser.add_argument("--appearance", action="store_true", help="with --random-rigs/--generation: random looks")
    parser.add_argument("--generation", type=int, help="time generating a data set of this many frames")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"cpus allowed: {len(os.sched_getaffinity(0))}")
    if args.random_rigs:
        return _random_rigs(args)
    if args.generation:
        return _generation(args)
    print("| scene | camera | LiDAR rays | median ms/frame | frames/s |")
    print("|---|---|---|---|---|")
    for scene in args.scenes:
        config = default_config(scene) if args.native else default_config(scene, width=args.width, height=args.height)
        size = f"{config.camera.width}x{config.camera.height}"
        median = _median_frame_s(config, args.frames)
        rays = config.lidar.beams * config.lidar.columns
        print(f"| {scene} | {size} | {rays} | {median * 1e3:.0f} | {1 / median:.1f} |")


if __name__ == "__main__":
    main()

"""A LiDAR dropout held by odometry: the node's pipeline on a simulated street drive (VLP-16,
exact odometry), where the LiDAR stops for ``--gap`` seconds. Over the gap's frames, the depth
against the rendered ground truth with the LiDAR there (no dropout), held (``lidar_hold_s``) and
not held (the image alone, as without a hold).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_dropout.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from _sim_drive import TYPES, drive_parser, exact_odometry, frame_messages, rig_parameters

from depth_core.inference import load_estimator
from depth_core.metrics import compute_depth_metrics
from depth_core.sim import Simulator, default_config
from depth_core.sim.rigs import lidar_model
from depth_ros.pipeline import FramePipeline, LidarStatus, PipelineConfig


def main() -> None:
    parser = drive_parser(__doc__, frames=30)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds without LiDAR")
    args = parser.parse_args()
    est = load_estimator(args.model, args.backend)
    cfg = default_config("street", width=720, height=400)
    sim = Simulator(replace(cfg, lidar=lidar_model("VLP-16")), seed=args.seed, frames=args.frames)
    frames = [sim.render(i) for i in range(args.frames)]
    start = args.frames // 3
    gap = set(range(start, start + round(args.gap * cfg.rate_hz)))
    extrinsic, mount = rig_parameters(sim)
    odometry = exact_odometry(sim, args.frames)
    runs = {"LiDAR there (no dropout)": (False, 0.0), f"dropout, held (lidar_hold_s {args.gap:g})": (True, args.gap),
            "dropout, not held (image alone)": (True, 0.0)}
    print(f"# {est.description}; street, VLP-16, {args.frames} frames at {cfg.rate_hz:g} Hz, the LiDAR gone for "
          f"frames {min(gap)}-{max(gap)} ({args.gap:g} s)")
    print("| run | AbsRel over the gap | δ1 | modes |\n|---|---|---|---|")
    results = {}
    for name, (drop, hold) in runs.items():
        pipe = FramePipeline(est, PipelineConfig(lidar_extrinsic=extrinsic, lidar_hold_s=hold, lidar_max_age=0.05,
                                                 base_extrinsic=mount), TYPES, odometry=odometry)
        scores, statuses = [], []
        for i, f in enumerate(frames):
            frame = pipe.prepare(*frame_messages(sim, f, cloud=not (drop and i in gap)))
            if i in gap:
                out = pipe.run(frame, outputs=())
                scores.append(compute_depth_metrics(out.depth, np.nan_to_num(f.depth), max_depth=80.0))
                statuses.append(out.lidar_status)
        abs_rel = float(np.mean([s["abs_rel"] for s in scores]))
        results[name] = abs_rel
        held = sum(s is LidarStatus.HELD for s in statuses)
        print(f"| {name} | {abs_rel:.4f} | {np.mean([s['delta1'] for s in scores]):.4f} | "
              f"{held} held, {sum(s is LidarStatus.USED for s in statuses)} with LiDAR, "
              f"{len(statuses) - held - sum(s is LidarStatus.USED for s in statuses)} image alone |")
    base, held_run, alone = results.values()
    print(f"\nheld / no dropout: {held_run / base:.2f}x; image alone / no dropout: {alone / base:.2f}x")


if __name__ == "__main__":
    main()

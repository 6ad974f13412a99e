"""An unsynchronised LiDAR: the node's pipeline on a simulated street drive whose LiDAR captures
each scan ``--lags`` milliseconds before the camera's image (its cloud stamped at its own time, as
a free-running driver stamps it) while the robot drives at ``--speed``. Completion with the cloud
moved to the image's stamp by the exact odometry (``lidar_to_image_time``, the default) and as
captured, scored against the rendered depth at the pixels where the held-out scan points lie at
the image's time (the same pixels and true values for both) and everywhere.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_lidar_lag.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from _sim_drive import TYPES, drive_parser, exact_odometry, frame_messages, rig_parameters

from depth_core.geometry import move_sweep, project_points
from depth_core.inference import load_estimator
from depth_core.metrics import compute_depth_metrics
from depth_core.sim import Simulator, default_config
from depth_ros.pipeline import FramePipeline, PipelineConfig


def main() -> None:
    parser = drive_parser(__doc__, frames=12)
    parser.add_argument("--speed", type=float, default=10.0, help="m/s")
    parser.add_argument("--lags", type=float, nargs="+", default=[0.0, 25.0, 50.0], help="ms")
    parser.add_argument("--fraction", type=float, default=0.3, help="share of each scan given as input")
    parser.add_argument("--scene", default="street")
    args = parser.parse_args()
    est = load_estimator(args.model, args.backend)
    print(f"# {est.description}; {args.scene} at {args.speed:g} m/s, {args.fraction:.0%} of each scan in, "
          f"{args.frames} frames (the first left out); AbsRel against the rendered depth")
    print("| LiDAR before the image | cloud | completion AbsRel, held-out scan pixels | dense AbsRel |")
    print("|---|---|---|---|")
    for lag in args.lags:
        cfg = replace(default_config(args.scene, width=720, height=400), speed=args.speed, lidar_lag_s=lag * 1e-3)
        sim = Simulator(cfg, seed=args.seed, frames=args.frames + 1)
        frames = [sim.render(i) for i in range(1, args.frames + 1)]
        extrinsic, mount = rig_parameters(sim)
        odometry = exact_odometry(sim, args.frames + 1)
        results = {}
        for name, moved in (("as captured", False), ("moved to the image's stamp", True)):
            if lag == 0 and not moved:
                continue
            config = PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount, lidar_to_image_time=moved)
            pipe = FramePipeline(est, config, TYPES, odometry=odometry)
            scores, dense = [], []
            for i, f in enumerate(frames):
                rng = np.random.default_rng([args.seed, i])
                keep = rng.uniform(size=len(f.lidar_points)) < args.fraction
                # Where the held-out points really are at the image's time, with the true depth there.
                now = move_sweep(f.lidar_points[~keep], sim.moving.pose(f.cloud_stamp_ns), f.T_world_base,
                                 sim.rig.T_base_lidar, sim.rig.T_cam_lidar)
                where = project_points(now, sim.intrinsics.K, sim.intrinsics.height, sim.intrinsics.width) > 0
                truth = np.where(where, np.nan_to_num(f.depth), 0.0)
                out = pipe.process(*frame_messages(sim, f, keep), outputs=())
                assert (out.prepared.lidar_motion is not None) == (moved and lag > 0)
                scores.append(compute_depth_metrics(out.depth, truth, max_depth=80.0))
                dense.append(compute_depth_metrics(out.depth, np.nan_to_num(f.depth), max_depth=80.0))
            results[name] = float(np.mean([s["abs_rel"] for s in scores]))
            print(f"| {lag:g} ms | {name} | {results[name]:.4f} | {np.mean([s['abs_rel'] for s in dense]):.4f} |",
                  flush=True)
        if len(results) == 2:
            captured, moved = results.values()
            print(f"|  | moved / as captured | {moved / captured:.2f}x | |")


if __name__ == "__main__":
    main()

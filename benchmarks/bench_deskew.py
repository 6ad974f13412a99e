"""De-skewing at speed: the node's pipeline on a simulated street drive whose LiDAR takes its sweep
over the 100 ms frame period while the robot drives at ``--speed`` (the clouds carry a per-point
``time`` field, as Velodyne drivers write it). Completion with the points de-skewed by the exact
odometry and as the sensor reports them, scored against the rendered ground truth at the pixels
of the held-out scan points (where a LiDAR measures, the true depth there: the same pixels and
values for both) and everywhere.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_deskew.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from _sim_drive import TYPES, drive_parser, exact_odometry, frame_messages, rig_parameters

from depth_core.geometry import Sweep, deskew, project_points, transform_points
from depth_core.inference import load_estimator
from depth_core.metrics import compute_depth_metrics
from depth_core.sim import Simulator, default_config
from depth_ros.pipeline import FramePipeline, PipelineConfig


def main() -> None:
    parser = drive_parser(__doc__, frames=12)
    parser.add_argument("--speed", type=float, default=10.0, help="m/s")
    parser.add_argument("--fraction", type=float, default=0.3, help="share of each scan given as input")
    args = parser.parse_args()
    est = load_estimator(args.model, args.backend)
    cfg = replace(default_config("street", width=720, height=400), sweep_motion=True, speed=args.speed)
    sim = Simulator(cfg, seed=args.seed, frames=args.frames)
    frames = [sim.render(i) for i in range(args.frames)]
    extrinsic, mount = rig_parameters(sim)
    odometry = exact_odometry(sim, args.frames)
    print(f"# {est.description}; street at {args.speed:g} m/s, a {cfg.lidar.beams}-beam sweep over "
          f"{1e3 / cfg.rate_hz:.0f} ms, {args.fraction:.0%} of each scan in, {args.frames} frames; AbsRel against the "
          "rendered depth")
    print("| points | completion AbsRel, held-out scan pixels | dense AbsRel |\n|---|---|---|")
    results = {}
    for name, straighten in (("as reported (skewed)", False), ("de-skewed by odometry", True)):
        config = PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount, lidar_deskew=straighten)
        pipe = FramePipeline(est, config, TYPES, odometry=odometry)
        scores, dense = [], []
        for i, f in enumerate(frames):
            rng = np.random.default_rng([args.seed, i])
            keep = rng.uniform(size=len(f.lidar_points)) < args.fraction
            # Where the held-out points are (de-skewed: where they really are), with the true depth there.
            straight = deskew(Sweep(f.stamp_ns, f.lidar_points[~keep], None, f.lidar_times[~keep]), odometry,
                              sim.rig.T_base_lidar, 50_000_000)
            where = project_points(transform_points(sim.rig.T_cam_lidar, straight), sim.intrinsics.K,
                                   sim.intrinsics.height, sim.intrinsics.width) > 0
            truth = np.where(where, np.nan_to_num(f.depth), 0.0)
            out = pipe.process(*frame_messages(sim, f, keep), outputs=())
            scores.append(compute_depth_metrics(out.depth, truth, max_depth=80.0))
            dense.append(compute_depth_metrics(out.depth, np.nan_to_num(f.depth), max_depth=80.0))
        results[name] = float(np.mean([s["abs_rel"] for s in scores]))
        print(f"| {name} | {results[name]:.4f} | {np.mean([s['abs_rel'] for s in dense]):.4f} |")
    skewed, straight = results.values()
    print(f"\nde-skewed / skewed: {straight / skewed:.2f}x")


if __name__ == "__main__":
    main()

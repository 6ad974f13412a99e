"""``depth-ros-eval BAG``: replay a recorded bag through san_node's pipeline and measure its depth
against the bag's LiDAR; writes metrics.json, report.md, PNG plots and an output bag."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

from depth_core.inference import BackendError, load_estimator
from depth_core.models.checkpoint import ModelFileError
from depth_core.utils import (
    CALIBRATION_HELP,
    PRECISION_CHOICES,
    PRECISION_HELP,
    ArgumentParser,
    atomic_output_dir,
    image_size,
    positive_float,
    positive_int,
)
from depth_core.utils.files import OutputError

from ..bag import BagError
from ..conversions import CAMERA_MATRICES
from .replay import replay, replay_topics
from .report import write_report

__all__ = ["main"]

# The switches of --accumulate's rules and alignment (each only with --accumulate).
ACCUMULATION_SWITCHES = {
    "--keep-moving": "keep past points a later sweep saw through (no free-space rule for moving objects)",
    "--keep-hidden": "keep past points that nearer points hide from the newest sweep or the camera, or that the "
                     "newest sweep no longer finds (no occlusion rule)",
    "--keep-recoloured": "keep past points whose brightness a later image contradicts (no photometric rule)",
    "--no-align-images": "keep the odometry as it is: do not align each image to the past sweeps by their "
                         "brightness to take its drift out (the node's lidar_align_images: false)",
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="depth-ros-eval", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("bag", help="rosbag2 (MCAP or sqlite3) or ROS 1 bag")
    p.add_argument("--image-topic", required=True)
    p.add_argument("--camera-info-topic", required=True)
    p.add_argument("--lidar-topic", help="PointCloud2 topic: the completion input and the ground truth")
    p.add_argument("--model", default="default", help="registry name, 'default', 'classical', or a model file")
    p.add_argument("--backend", default="auto", help="auto | onnxruntime | torch | tensorrt | classical")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES, help=PRECISION_HELP)
    p.add_argument("--calibration", help=CALIBRATION_HELP)
    p.add_argument("--no-pretrained", action="store_true",
                   help="registry models: initial weights (a pipeline check for families without shipped weights)")
    p.add_argument("--input-size", type=image_size, metavar="WxH",
                   help="network input size (default: the model's configured size)")
    p.add_argument("--lidar-input-fraction", type=positive_float, default=0.8,
                   help="share of LiDAR points given to the model; the rest is held out for scoring (default 0.8)")
    p.add_argument("--beam-keep-every", type=positive_int,
                   help="instead of a random fraction, give the model every k-th LiDAR beam (ring)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input/held-out split")
    p.add_argument("--accumulate", type=int, default=0, metavar="N",
                   help="add the input points of the N previous sweeps, moved by the bag's /tf odometry (each "
                        "through the same input selection); only the current scan's held-out points are scored")
    skew = p.add_mutually_exclusive_group()
    skew.add_argument("--deskew", action="store_true",
                      help="de-skew clouds with per-point times by the bag's /tf odometry, and refuse a bag without "
                           "it (implied by --accumulate; by default they are de-skewed when the odometry is there, "
                           "as the node's lidar_deskew)")
    skew.add_argument("--no-deskew", action="store_true", help="keep clouds with per-point times as recorded")
    lag = p.add_mutually_exclusive_group()
    lag.add_argument("--lidar-to-image-time", action="store_true",
                     help="move each cloud stamped apart from its image to the image's stamp by the bag's /tf "
                          "odometry, and refuse a bag without it (by default they are moved when the odometry is "
                          "there, as the node's lidar_to_image_time)")
    lag.add_argument("--no-lidar-to-image-time", action="store_true",
                     help="keep each cloud at its own stamp (the robot's motion between the captures not undone)")
    for flag, help_text in ACCUMULATION_SWITCHES.items():
        p.add_argument(flag, action="store_true", help=f"--accumulate: {help_text}")
    p.add_argument("--odom-frame", default="odom", help="--accumulate: the odometry's fixed frame on /tf")
    p.add_argument("--base-frame", default="base_link", help="--accumulate: the robot's base frame on /tf")
    p.add_argument("--lidar-extrinsic", type=float, nargs=7, metavar=("X", "Y", "Z", "QX", "QY", "QZ", "QW"),
                   help="the LiDAR frame's pose in the camera frame, if the bag has no /tf_static")
    p.add_argument("--camera-matrix", choices=CAMERA_MATRICES, default="auto",
                   help="intrinsics from camera_info's P (the rectified image's camera), K (the raw camera's), or "
                        "auto: P when it is set, else K (as the node's camera_matrix parameter)")
    p.add_argument("--max-dt", type=positive_float, default=0.15,
                   help="image/scan pairing tolerance, s (default 0.15, as the node's lidar_max_age)")
    p.add_argument("--max-depth", type=positive_float, default=80.0, help="metrics cap, m (default 80)")
    p.add_argument("--sweep", default="0,0.01,0.05,0.2,0.8",
                   help="input fractions for the sparsity sweep ('' to skip; default 0,0.01,0.05,0.2,0.8)")
    p.add_argument("--no-baseline", action="store_true", help="skip the classical completion row")
    p.add_argument("--no-output-bag", action="store_true", help="do not write output_bag/")
    p.add_argument("--samples", type=int, default=3, help="colourised sample frames in the report")
    p.add_argument("--out", required=True, help="report folder (replaced with --overwrite)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.accumulate < 0:
        print("depth-ros-eval: error: --accumulate must be >= 0", file=sys.stderr)
        return 2
    only_with = [flag for flag in ACCUMULATION_SWITCHES if getattr(args, flag[2:].replace("-", "_"))]
    if only_with and not args.accumulate:
        print(f"depth-ros-eval: error: {' '.join(only_with)} only apply to accumulated sweeps: add --accumulate N",
              file=sys.stderr)
        return 2
    if args.accumulate and args.no_deskew:
        print("depth-ros-eval: error: --accumulate moves every sweep by the odometry, de-skewing it: drop "
              "--no-deskew", file=sys.stderr)
        return 2
    if args.lidar_input_fraction > 1:
        print("depth-ros-eval: error: --lidar-input-fraction must be in (0, 1]", file=sys.stderr)
        return 2
    sweep = tuple(float(v) for v in args.sweep.split(",") if v.strip()) if args.lidar_topic else ()
    t0 = time.perf_counter()
    try:
        # Before the model loads:
        replay_topics(args.bag, args.image_topic, args.camera_info_topic, args.lidar_topic, args.beam_keep_every)
        est = load_estimator(args.model, args.backend, pretrained=not args.no_pretrained, input_size=args.input_size,
                             precision=args.precision, calibration=args.calibration)
        classical = None if args.no_baseline or args.model == "classical" else load_estimator("classical")
        with atomic_output_dir(args.out, overwrite=args.overwrite) as staging:
            staging.mkdir()
            result = replay(args.bag, est, image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
                            lidar_topic=args.lidar_topic, classical=classical, fraction=args.lidar_input_fraction,
                            beam_keep_every=args.beam_keep_every, seed=args.seed, max_dt=args.max_dt,
                            lidar_extrinsic=args.lidar_extrinsic, max_depth=args.max_depth, sweep=sweep,
                            output_bag=None if args.no_output_bag else staging / "output_bag", samples=args.samples,
                            progress=not args.quiet, accumulate=args.accumulate, odom_frame=args.odom_frame,
                            base_frame=args.base_frame,
                            deskew=True if args.deskew or args.accumulate > 0 else False if args.no_deskew else "auto",
                            moving_rule=not args.keep_moving, occlusion_rule=not args.keep_hidden,
                            photometric_rule=not args.keep_recoloured, image_alignment=not args.no_align_images,
                            camera_matrix=args.camera_matrix,
                            to_image_time=True if args.lidar_to_image_time else False if args.no_lidar_to_image_time
                            else "auto")
            lidar_input = (f"every {args.beam_keep_every}th beam" if args.beam_keep_every
                           else f"{args.lidar_input_fraction:.0%} of the points (seed {args.seed})") \
                if args.lidar_topic else "none"
            if args.accumulate and args.lidar_topic:
                lidar_input += f", plus the same of the {args.accumulate} previous sweeps moved by odometry"
            meta = {"bag": str(args.bag), "model": est.description, "lidar_input": lidar_input,
                    "deskewed": result.deskewed, "seconds": round(time.perf_counter() - t0, 1)}
            if result.lidar_apart:
                meta["lidar_to_image_time"] = {
                    "frames_apart": len(result.lidar_apart), "moved": result.moved_to_image,
                    "median_offset_ms": round(1e3 * float(np.median(np.abs(result.lidar_apart))), 2)}
            if result.accumulation:
                meta["accumulation"] = result.accumulation
                acc = result.accumulation
                rules = [f"{acc['dropped_moving']} past points in space a later sweep saw as free"
                         + (" (rule off)" if args.keep_moving else ""),
                         f"{acc['dropped_hidden']} hidden from the LiDAR or the camera, or gone (summed over frames)"
                         + (" (rule off)" if args.keep_hidden else ""),
                         f"{acc.get('dropped_photometric', 0)} whose brightness a later image contradicts"
                         + (" (rule off)" if args.keep_recoloured else "")]
                odometry = ("past sweeps moved by the odometry as it is (alignment off)" if args.no_align_images
                            else f"the odometry corrected by {acc.get('aligned', 0)} of the images")
                lidar_input += (f" ({acc['mean_past_sweeps_used']:.1f} on average); {odometry}; dropped: "
                                + ", ".join(rules))
                meta["lidar_input"] = lidar_input
            metrics = write_report(result, staging, meta, args.max_depth)
    except OutputError as exc:
        print(f"depth-ros-eval: error: --out: {exc}", file=sys.stderr)
        return 2
    except (BagError, BackendError, FileNotFoundError, ValueError, ModelFileError) as exc:
        print(f"depth-ros-eval: error: {exc}", file=sys.stderr)
        return 2
    rows = metrics["results"]
    print(f"{metrics['frames']} of {metrics['images']} images evaluated ({metrics['frames_skipped']} skipped) "
          f"in {time.perf_counter() - t0:.0f} s with {est.description}")
    if rows:
        print("| row | AbsRel | RMSE m | delta1 | points |\n|---|---|---|---|---|")
        for row, m in rows.items():
            print(f"| {row} | {m['abs_rel']:.4f} | {m['rmse']:.3f} | {m['delta1']:.4f} | {m['points']} |")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

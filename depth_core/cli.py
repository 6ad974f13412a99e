"""``depth-core``: the offline tool (``depth-core simulate --help``; more subcommands follow)."""

from __future__ import annotations

import sys
import time

from .sim import SCENES
from .utils import ArgumentParser, positive_int
from .utils.files import OutputError


def _simulate(args) -> int:
    from .data import write_simulated_dataset

    t0 = time.perf_counter()
    try:
        summary = write_simulated_dataset(
            args.out, args.scene, args.frames, seed=args.seed, sequence_length=args.sequence_length,
            width=args.width, height=args.height, overwrite=args.overwrite, progress=not args.quiet)
    except OutputError as exc:
        print(f"depth-core simulate: error: --out: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - t0
    print(f"wrote {summary['samples']} samples in {len(summary['sequences'])} sequences "
          f"({', '.join(args.scene)}) to {args.out} in {elapsed:.1f} s")
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="depth-core", description="depth_ros offline tools: data, training, export.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    sim = sub.add_parser("simulate", help="write a simulated training set (RGB, 16-bit depth PNGs, calibration)",
                         description="Render procedural worlds into an on-disk training set: RGB PNGs, KITTI-style "
                                     "16-bit depth PNGs (value/256 m, 0 = invalid) for ground truth and projected "
                                     "LiDAR, and intrinsics/extrinsics as JSON.")
    sim.add_argument("--out", required=True, help="output folder (must not exist unless --overwrite)")
    sim.add_argument("--frames", type=positive_int, default=200, help="frames per scene (default 200)")
    sim.add_argument("--scene", nargs="+", choices=SCENES, default=list(SCENES),
                     help="scene families to render (default: all)")
    sim.add_argument("--seed", type=int, default=0, help="base seed; the output is a pure function of it")
    sim.add_argument("--sequence-length", type=positive_int, default=50,
                     help="frames per generated world (default 50)")
    sim.add_argument("--width", type=positive_int, help="camera width (default: per scene)")
    sim.add_argument("--height", type=positive_int, help="camera height (default: per scene)")
    sim.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

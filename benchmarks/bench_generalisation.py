"""The generalisation benchmark: every model given, on held-out rigs x world types (seeds no
training uses, randomised looks) and on a real RGB-D set, next to the classical completion.

    .venv/bin/python benchmarks/bench_generalisation.py --models default \\
        --real-root data/redkitchen --out runs/generalisation

``--precisions fp32,int8`` adds each model's INT8 ONNX Runtime graph as a row of its own (the
INT8 accuracy gate).

The simulated sets are generated once under ``--suite-root`` (about 2 minutes on 2 cores with
the defaults). The real set is a 7-Scenes / 3DMatch sequence folder (see docs/datasets.md for how
to get redkitchen); without ``--real-root`` the real rows are left out. Prints one table per model
and writes ``OUT/results.json``, ``OUT/MODEL.md`` and ``OUT/MODEL.png``.
"""

from __future__ import annotations

import argparse
import logging
import time

from depth_core.generalisation import SUITE_WORLDS, build_suite, evaluate_suite, suite_tables, write_suite_report
from depth_core.inference import load_estimator
from depth_core.sim.rigs import HELD_OUT_RIGS
from depth_core.utils.cli import image_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default", help="comma-separated registry names or model files")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--precisions", default="auto",
                        help="comma-separated: each model at each precision (e.g. fp32,int8: INT8 next to float)")
    parser.add_argument("--rigs", default=",".join(HELD_OUT_RIGS), help="held-out rig presets")
    parser.add_argument("--worlds", default=",".join(SUITE_WORLDS), help="world types")
    parser.add_argument("--frames", type=int, default=6, help="frames per (rig, world) set")
    parser.add_argument("--sequence-length", type=int, default=2, help="frames per generated world")
    parser.add_argument("--suite-root", default="data/generalisation_suite", help="where the suite's sets live")
    parser.add_argument("--real-root", help="a 7-Scenes-layout sequence folder (e.g. data/redkitchen)")
    parser.add_argument("--real-stride", type=int, default=20, help="every n-th real frame (default 20)")
    parser.add_argument("--workers", type=int, help="generation processes (default: one per core)")
    parser.add_argument("--out", default="runs/generalisation")
    parser.add_argument("--input-size", type=image_size, metavar="WxH",
                        help="run the models at this network input size instead of their configured one "
                             "(a canonical-camera model: each side first rounded to the nearest multiple of 32, "
                             "e.g. 448x144 -> 448x128, then about that many pixels in each camera's aspect "
                             "ratio); each row is then named MODEL@WxH by the size run")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    sets = build_suite(args.suite_root, rigs=args.rigs.split(","), worlds=args.worlds.split(","), frames=args.frames,
                       sequence_length=args.sequence_length, real_root=args.real_root, real_stride=args.real_stride,
                       workers=args.workers, progress=not args.quiet)
    precisions = args.precisions.split(",")
    estimators = {}
    for name in args.models.split(","):
        for p in precisions:
            est = load_estimator(name, args.backend, precision=p, input_size=args.input_size)
            # Named by the size it runs at (a canonical-camera model's sides rounded to its stride).
            at = "" if args.input_size is None else "@{1}x{0}".format(*est.input_size)
            estimators[name + at if p == precisions[0] else f"{name}{at} ({p})"] = est
    classical = load_estimator("classical")
    results = evaluate_suite(estimators, classical, sets, progress=not args.quiet)
    for model, table in suite_tables(results).items():
        print(f"\n## {estimators[model].description}\n\n{table}")
    files = write_suite_report(results, args.out, {m: e.description for m, e in estimators.items()})
    print(f"wrote {', '.join(str(f) for f in files)} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

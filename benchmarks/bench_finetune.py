"""Before and after fine-tuning, on frames the fine-tuning never saw: each model given, next to
the classical completion, as the node runs it (the estimator's default input size).

    .venv/bin/python benchmarks/bench_finetune.py --models default,RUN/model.safetensors \\
        --data DS --frames 200:260 --out runs/finetune_test

``--data`` is a frame set (``depth-ros-dataset``, ``depth-core simulate``) or, with
``--type sevenscenes``, a 7-Scenes sequence folder (``--sparse-pattern``, ``--depth-to-color``).
Two protocols, both printed: ``dense`` (the completion gets all points; scored against the set's
ground truth everywhere) and ``held_out`` (30 % of the points in, scored at the others: the only
fair one against LiDAR ground truth). Writes ``OUT/results.json`` and ``OUT/results.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from depth_core.data import DatasetConfig, build_dataset
from depth_core.evaluate import evaluate, held_out_protocol
from depth_core.inference import load_estimator

ROWS = ("prediction", "completion", "classical")


def _frames(text: str | None):
    if not text:
        return None
    start, _, stop = text.partition(":")
    return [int(start) if start else None, int(stop) if stop else None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default", help="comma-separated registry names or model files")
    parser.add_argument("--data", required=True)
    parser.add_argument("--type", default="frames", choices=("frames", "sevenscenes"))
    parser.add_argument("--frames", help="START:STOP of each sequence (Python slice), e.g. 200:260")
    parser.add_argument("--sparse-pattern", default="beams32", help="sevenscenes: the LiDAR-like input")
    parser.add_argument("--depth-to-color", action="store_true", help="sevenscenes: depth in the colour camera")
    parser.add_argument("--protocols", default="dense,held_out")
    parser.add_argument("--samples", type=int, default=60, help="evenly spaced frames to evaluate")
    parser.add_argument("--max-depth", type=float, default=80.0)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--out", default="runs/finetune_test")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")

    data = build_dataset(DatasetConfig(type=args.type, root=args.data, frames=_frames(args.frames),
                                       sparse_pattern=args.sparse_pattern, depth_to_color=args.depth_to_color))
    classical = load_estimator("classical")
    models = args.models.split(",")
    results: dict = {}
    t0 = time.perf_counter()
    for protocol in args.protocols.split(","):
        if protocol not in ("dense", "held_out"):
            parser.error(f"--protocols: '{protocol}' is neither dense nor held_out")
        results[protocol] = {}
        for i, name in enumerate(models):
            est = load_estimator(name, args.backend)
            r = evaluate(est, data, "none", samples=args.samples, baselines=(), max_depth=args.max_depth,
                         classical=classical if i == 0 else None, progress=not args.quiet,
                         **held_out_protocol(protocol == "held_out"))
            results[protocol][name] = r["rows"]
    md = [f"# {args.data} frames {args.frames or 'all'} ({len(data)} frames, {args.samples} evaluated)", ""]
    for protocol, per_model in results.items():
        md += [f"## {protocol}", "", "| model | prediction AbsRel | completion AbsRel | classical AbsRel | "
               "prediction delta1 | completion / classical |", "|---|---|---|---|---|---|"]
        classical_row = per_model[models[0]].get("classical", {})
        for name, rows in per_model.items():
            p, c = rows.get("prediction", {}), rows.get("completion", {})
            ratio = c["abs_rel"] / classical_row["abs_rel"] if c.get("images") and classical_row.get("images") else None
            md.append(f"| {name} | {p.get('abs_rel', float('nan')):.4f} | {c.get('abs_rel', float('nan')):.4f} | "
                      f"{classical_row.get('abs_rel', float('nan')):.4f} | {p.get('delta1', float('nan')):.4f} | "
                      f"{'–' if ratio is None else f'{ratio:.2f}'} |")
        if len(models) == 2:
            a, b = per_model[models[0]], per_model[models[1]]
            md.append("")
            md.append("Change, second model against the first: " + ", ".join(
                f"{row} {100 * (b[row]['abs_rel'] / a[row]['abs_rel'] - 1):+.0f} %"
                for row in ("prediction", "completion")
                if a.get(row, {}).get("images") and b.get(row, {}).get("images")))
        md.append("")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"({time.perf_counter() - t0:.0f} s; wrote {out / 'results.md'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

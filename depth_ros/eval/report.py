"""The replay report: ``metrics.json``, ``report.md`` and its PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from depth_core.evaluate import plot_sweep, sweep_table
from depth_core.metrics import average_metrics, sparsification_table
from depth_core.utils.visual import colourise, line_plot, report_panels

from .replay import RANGE_BINS, ReplayResult

__all__ = ["colourise", "summarise", "write_report"]

_ROWS = ("prediction", "completion", "classical")
_KEYS = ("abs_rel", "rmse", "mae", "silog", "delta1", "irmse")


def summarise(result: ReplayResult) -> dict:
    """The ``metrics.json`` fields: per-row means over frames (KITTI style) and point totals."""
    results = {row: average_metrics(v, count="frames") for row, v in result.per_frame.items() if v}
    evaluated = len(result.per_frame["prediction"]) if result.per_frame["prediction"] else sum(result.modes.values())
    return {
        "frames": evaluated,
        "frames_skipped": int(sum(result.skipped.values())),
        "skipped_reasons": dict(result.skipped),
        "fallbacks": dict(result.fallbacks),
        "images": result.images,
        "results": {k: v for k, v in results.items() if v["frames"]},
        "timing": {k: float(np.median(v) * 1e3) for k, v in result.timings.items()},
        "sweep": [{"fraction": f, **average_metrics(v, count="frames")} for f, v in sorted(result.sweep.items())],
        "range": {row: [{"from": RANGE_BINS[i], "to": RANGE_BINS[i + 1],
                         "abs_rel": float(a[i, 0] / a[i, 1]) if a[i, 1] else None, "points": int(a[i, 1])}
                        for i in range(len(RANGE_BINS) - 1)] for row, a in result.range_errors.items()},
        "modes": dict(result.modes),
        "sparsification": {row: r.curve() for row, r in result.sparsification.items()},
    }


def write_report(result: ReplayResult, out: Path, meta: dict, max_depth: float) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    metrics = {**summarise(result), **meta}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    md = [f"# Replay evaluation: {meta.get('bag', '')}", "",
          f"Model: {meta.get('model', '')}. LiDAR input: {meta.get('lidar_input', '')}"
          f"{' (clouds de-skewed by the odometry)' if meta.get('deskewed') else ''}.", "",
          f"{metrics['frames']} of {metrics['images']} images evaluated; {metrics['frames_skipped']} skipped"
          + (f" ({', '.join(f'{k}: {v}' for k, v in metrics['skipped_reasons'].items())})"
             if metrics["skipped_reasons"] else "") + ".", ""]
    apart = meta.get("lidar_to_image_time")
    if apart:
        md += [f"{apart['frames_apart']} clouds were stamped apart from their images (median "
               f"{apart['median_offset_ms']:g} ms); {apart['moved']} of them were moved to the image's stamp by the "
               "odometry.", ""]
    saved = metrics["fallbacks"]
    if saved:
        what = {"stamp": "stamped zero, scored at their bag time",
                "camera_info": "with a broken camera_info, scored with the last valid one of their frame and size"}
        md += ["Saved by a metadata fallback: " + "; ".join(f"{n} {what.get(k, k)}" for k, n in saved.items())
               + ".", ""]
    rows = metrics["results"]
    if rows:
        md += ["| row | scored on | " + " | ".join(_KEYS) + " | points |",
               "|---|---|" + "---|" * (len(_KEYS) + 1)]
        for row in _ROWS:
            if row in rows:
                scored = "all LiDAR points" if row == "prediction" else "held-out LiDAR points"
                md.append(f"| {row} | {scored} | " + " | ".join(
                    f"{rows[row][k]:.4f}" if k in ("abs_rel", "delta1") else f"{rows[row][k]:.3f}" for k in _KEYS)
                    + f" | {rows[row]['points']} |")
        md.append("")
    if metrics["sweep"]:
        plot_sweep(metrics["sweep"], out / "sparsity_sweep.png", "AbsRel on held-out points")
        md += sweep_table(metrics["sweep"])
    md += sparsification_table(metrics["sparsification"])
    if metrics["range"]:
        series = {}
        for row, bins in metrics["range"].items():
            xs = [(b["from"] + b["to"]) / 2 for b in bins if b["abs_rel"] is not None]
            series[row] = (xs, [b["abs_rel"] for b in bins if b["abs_rel"] is not None])
        line_plot(out / "error_vs_range.png", series, "ground-truth depth (m)", "AbsRel", "Error against range")
        md += ["## Error against range", "", "![error against range](error_vs_range.png)", ""]
    for s in result.samples:
        name = f"sample_{s['index']:05d}.png"
        report_panels(out / name, [[("image", s["rgb"]), ("depth", s["completion"])],
                                   [("depth", s["prediction"]), ("error", (s["rgb"], s["completion"], s["held"]))]],
                      [["image", "completion"], ["prediction", "completion error at held-out points"]],
                      f"Frame {s['index']}", max_depth=max_depth)
        md += [f"![frame {s['index']}]({name})",
               f"*Frame {s['index']}: image, completion; prediction, completion error at held-out points (green "
               "0 %, red >= 20 %). Depth in turbo on inverse depth, red near; scales under the panels.*", ""]
    if metrics["timing"]:
        md += ["## Timing (median ms per frame)", "", "| stage | ms |", "|---|---|"]
        md += [f"| {k} | {v:.1f} |" for k, v in metrics["timing"].items()]
        md.append("")
    (out / "report.md").write_text("\n".join(md) + "\n")
    return metrics

"""The replay report: ``metrics.json``, ``report.md`` and its PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from depth_core.utils.visual import colourise, line_plot

from .replay import ReplayResult, summarise

__all__ = ["colourise", "write_report"]

_ROWS = ("prediction", "completion", "classical")
_KEYS = ("abs_rel", "rmse", "mae", "silog", "delta1", "irmse")


def _error_image(pred: np.ndarray, truth: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Held-out LiDAR points coloured by relative error (green 0 % .. red >= 20 %) on a dim image."""
    canvas = (cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) * 0.35).astype(np.uint8)
    m = (truth > 0) & np.isfinite(pred)
    rel = np.clip(np.abs(pred[m] - truth[m]) / truth[m] / 0.2, 0, 1)
    colours = cv2.applyColorMap((rel * 255).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_RdYlGn_r
                                if hasattr(cv2, "COLORMAP_RdYlGn_r") else cv2.COLORMAP_JET).reshape(-1, 3)
    canvas[m] = colours
    return cv2.dilate(canvas, np.ones((2, 2), np.uint8))


def write_report(result: ReplayResult, out: Path, meta: dict, max_depth: float) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    metrics = {**summarise(result), **meta}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    md = [f"# Replay evaluation: {meta.get('bag', '')}", "",
          f"Model: {meta.get('model', '')}. LiDAR input: {meta.get('lidar_input', '')}.", "",
          f"{metrics['frames']} of {metrics['images']} images evaluated; {metrics['frames_skipped']} skipped"
          + (f" ({', '.join(f'{k}: {v}' for k, v in metrics['skipped_reasons'].items())})"
             if metrics["skipped_reasons"] else "") + ".", ""]
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
        sweep = [s for s in metrics["sweep"] if "abs_rel" in s]
        line_plot(out / "sparsity_sweep.png", {"AbsRel on held-out points": (
            [max(s["fraction"], 1e-3) * 100 for s in sweep], [s["abs_rel"] for s in sweep])},
            "LiDAR points used as input (%; 0 % plotted at 0.1 %)", "AbsRel", "Sparsity sweep", log_x=True)
        md += ["## Sparsity sweep", "", "| input fraction | AbsRel | RMSE | delta1 |", "|---|---|---|---|"]
        md += [f"| {s['fraction']:.0%} | {s['abs_rel']:.4f} | {s['rmse']:.3f} | {s['delta1']:.4f} |" for s in sweep]
        md += ["", "![sparsity sweep](sparsity_sweep.png)", ""]
    if metrics["range"]:
        series = {}
        for row, bins in metrics["range"].items():
            xs = [(b["from"] + b["to"]) / 2 for b in bins if b["abs_rel"] is not None]
            series[row] = (xs, [b["abs_rel"] for b in bins if b["abs_rel"] is not None])
        line_plot(out / "error_vs_range.png", series, "ground-truth depth (m)", "AbsRel", "Error against range")
        md += ["## Error against range", "", "![error against range](error_vs_range.png)", ""]
    for s in result.samples:
        top = np.hstack([cv2.cvtColor(s["rgb"], cv2.COLOR_RGB2BGR), colourise(s["completion"], max_depth)])
        bottom = np.hstack([colourise(s["prediction"], max_depth), _error_image(s["completion"], s["held"], s["rgb"])])
        name = f"sample_{s['index']:05d}.png"
        cv2.imwrite(str(out / name), np.vstack([top, bottom]))
        md += [f"![frame {s['index']}]({name})",
               f"*Frame {s['index']}: image, completion; prediction, completion error at held-out points "
               "(green 0 %, red >= 20 %).*", ""]
    if metrics["timing"]:
        md += ["## Timing (median ms per frame)", "", "| stage | ms |", "|---|---|"]
        md += [f"| {k} | {v:.1f} |" for k, v in metrics["timing"].items()]
        md.append("")
    (out / "report.md").write_text("\n".join(md) + "\n")
    return metrics

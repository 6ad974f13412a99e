"""The end-of-run report (``report: true``): the starting weights (``init``) and the trained
model on the validation frames, next to the classical completion, as the node would run them
(the estimator's default input size). Written to ``RUN/report.md`` with a sparsity sweep plot, sample
images and ``RUN/report.json``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..data.video import VideoView
from ..evaluate import SWEEP_XLABEL, evaluate, held_out_protocol, subsample_points, sweep_series
from ..inference import load_estimator
from ..utils.visual import line_plot, report_panels
from .config import TrainConfig
from .video_eval import photometric_metrics, reprojection_error_map

__all__ = ["before_after_table", "write_training_report"]

log = logging.getLogger("depth_core.train")

ROWS = ("prediction", "completion", "classical")
# Input fractions of the sweep. Against LiDAR ground truth the points given are never scored, so
# the sweep stops short of 100 %.
SWEEP_DENSE = (0.0, 0.01, 0.1, 0.3, 1.0)
SWEEP_HELD_OUT = (0.0, 0.01, 0.03, 0.1, 0.3, 0.7)


def write_training_report(init: Path | None, final: Path, val, out: Path, cfg: TrainConfig, *,
                          sparse_truth: bool, progress: bool = True) -> dict:
    """Evaluate ``init`` (when the run had one: "before") and ``final`` ("after") on ``val``; write
    the report into ``out``. Returns ``{"rows": {before|after: {row: metrics}}, "table": str,
    "files": [...]}``."""
    if isinstance(val, VideoView) and val.ground_truth == "none":
        return _video_report(init, final, val, out, cfg, progress)
    protocol = held_out_protocol(sparse_truth)
    sweep = SWEEP_HELD_OUT if sparse_truth else SWEEP_DENSE
    classical = load_estimator("classical")
    models = {"after": final} if init is None else {"before": init, "after": final}
    results, estimators = {}, {}
    for label, path in models.items():
        est = load_estimator(str(path), "torch")
        log.info("report: evaluating the %s model (%s) on %d held-out frames", label, est.description,
                 min(cfg.val_samples, len(val)))
        results[label] = evaluate(est, val, "none", samples=cfg.val_samples, sweep=sweep,
                                  classical=classical if label == "after" else None, baselines=(),
                                  max_depth=cfg.eval_max_depth, progress=progress, **protocol)
        estimators[label] = est
    rows = {label: r["rows"] for label, r in results.items()}
    if "before" in rows and "classical" in rows["after"]:
        rows["before"]["classical"] = rows["after"]["classical"]   # the same frames, points and baseline
    table = before_after_table(rows)
    files = [out / "report.md", out / "report.json", _plot_sweep(results, out / "report_sweep.png")]
    if cfg.report_images > 0:
        files.append(_samples(estimators, val, out / "report_samples.png", cfg.report_images, cfg.eval_max_depth,
                              protocol.get("input_fraction", 1.0)))
    scored = ("30 % of each image's LiDAR points are the completion's input, scored at the other 70 % (the "
              "ground truth is LiDAR, which a completion reproduces where it is given)") if sparse_truth else \
        "the completion gets all LiDAR points and is scored against the dense ground truth"
    md = ["# Training report", "",
          f"{len(val)} validation frames ({results['after']['images']} evaluated), never trained on; "
          f"{scored}. Metrics are averaged over images, capped at {cfg.eval_max_depth:g} m.", "",
          f"- before: {estimators['before'].description if 'before' in estimators else '(no init: initial weights)'}",
          f"- after: {estimators['after'].description}", "", table, "",
          *confidence_lines(results),
          "## Sparsity sweep", "", "![sparsity sweep](report_sweep.png)", "",
          *(["## Samples", "", "![samples](report_samples.png)",
             "*Each row: image, ground truth, prediction before, prediction after, completion after; depth in "
             "turbo on inverse depth (red near, blue far, scale under each panel).*", ""] if cfg.report_images > 0
            else [])]
    (out / "report.md").write_text("\n".join(md) + "\n")
    (out / "report.json").write_text(json.dumps({"sparse_truth": sparse_truth, "results": results}, indent=2))
    return {"rows": rows, "table": table, "files": files}


def confidence_lines(results: dict) -> list[str]:
    """Markdown: for a model with a confidence, the AbsRel of its most confident half of the
    scored points over that of all of them, per row, before and after: below 1 the confidence ranks
    the errors (what ``min_confidence`` relies on); near 1 it no longer does. [] without one."""
    def ratio(label, row):
        curve = {c["kept"]: c["abs_rel"] for c in results.get(label, {}).get("sparsification", {}).get(row, [])}
        return curve[0.5] / curve[1.0] if curve.get(1.0) and 0.5 in curve else None

    rows = [(row, ratio("before", row), ratio("after", row)) for row in ("prediction", "completion")]
    if not any(after is not None for _, _, after in rows):
        return []
    lines = ["## Confidence", "",
             "AbsRel of the most confident 50 % of the scored points over that of all of them (below 1: the "
             "confidence ranks the errors, which `min_confidence` relies on).", "",
             "| row | before | after |", "|---|---|---|"]
    lines += [f"| {row} | {'–' if b is None else f'{b:.2f}'} | {'–' if a is None else f'{a:.2f}'} |"
              for row, b, a in rows if a is not None]
    worse = [row for row, b, a in rows if a is not None and b is not None and a > b + 0.05]
    if worse:
        lines += ["", f"After fine-tuning the {' and '.join(worse)} confidence ranks the errors worse than before: "
                      "a `min_confidence` filter set for the shipped model may keep the wrong points."]
    return [*lines, ""]


def before_after_table(rows: dict) -> str:
    """Markdown: AbsRel, RMSE and delta1 of each row before and after, and the AbsRel change."""
    before, after = rows.get("before", {}), rows["after"]
    lines = ["| row | AbsRel before | AbsRel after | change | RMSE before | RMSE after | delta1 before | "
             "delta1 after |", "|---|---|---|---|---|---|---|---|"]
    for row in ROWS:
        a, b = after.get(row, {}), before.get(row, {})
        if not a.get("images"):
            continue
        change = f"{100 * (a['abs_rel'] / b['abs_rel'] - 1):+.0f} %" if b.get("images") and row != "classical" \
            else "–"

        def cell(m, key, digits):
            return f"{m[key]:.{digits}f}" if m.get("images") else "–"

        lines.append(f"| {row} | {cell(b, 'abs_rel', 4)} | {cell(a, 'abs_rel', 4)} | {change} | "
                     f"{cell(b, 'rmse', 3)} | {cell(a, 'rmse', 3)} | {cell(b, 'delta1', 4)} | {cell(a, 'delta1', 4)} |")
    return "\n".join(lines)


def _plot_sweep(results: dict, path: Path) -> Path:
    series = {label: sweep_series(result.get("sweep", [])) for label, result in results.items()}
    classical = results["after"]["rows"].get("classical", {})
    return line_plot(path, series, SWEEP_XLABEL, "AbsRel",
                     "Depth error against the share of LiDAR input, before and after", log_x=True,
                     hlines={"classical (completion input)": classical["abs_rel"]} if classical.get("images") else None)


def _samples(estimators: dict, val, path: Path, count: int, max_depth: float, input_fraction: float) -> Path:
    picks = np.unique(np.linspace(0, len(val) - 1, max(1, min(count, len(val)))).round().astype(int))
    rows = []
    for i in picks:
        s = val[int(i)]
        rgb, K, gt, sparse = s["rgb"], s["K"], s["depth"], s["sparse_depth"]
        # The completion's input as evaluate() gives it for this frame.
        given = sparse if input_fraction >= 1 else subsample_points(sparse, input_fraction,
                                                                    np.random.default_rng([0, int(i), 1]))
        row = [("image", rgb), ("points", (rgb, gt)) if (gt > 0).mean() < 0.5 else ("depth", gt)]
        if "before" in estimators:
            row.append(("depth", estimators["before"].predict(rgb, K, None).depth))
        row.append(("depth", estimators["after"].predict(rgb, K, None).depth))
        row.append(("depth", estimators["after"].predict(rgb, K, given).depth))
        rows.append(row)
    titles = ["image", "ground truth"] + (["prediction before"] if "before" in estimators else []) + \
        ["prediction after", "completion after"]
    return report_panels(path, rows, titles, "Held-out frames before and after training", max_depth=max_depth)


def _video_report(init: Path | None, final: Path, val: VideoView, out: Path, cfg: TrainConfig,
                  progress: bool) -> dict:
    """Held-out video frames with no depth to compare with: the photometric error of each model's
    camera-only depth (view synthesis from the frames' context frames with the odometry poses),
    and sample images with the error maps."""
    models = {"after": final} if init is None else {"before": init, "after": final}
    estimators = {label: load_estimator(str(path), "torch") for label, path in models.items()}
    scored = min(cfg.val_samples, len(val))
    log.info("report: the photometric error of %s on %d held-out frames",
             " and ".join(f"the {label} model ({est.description})" for label, est in estimators.items()), scored)
    rows = {label: {"prediction": m} for label, m in photometric_metrics(estimators, val, cfg.val_samples).items()}
    lines = ["| model | photometric error (prediction) | change |", "|---|---|---|"]
    for label in models:
        value = rows[label]["prediction"]["photometric"]
        change = (f"{100 * (value / rows['before']['prediction']['photometric'] - 1):+.0f} %"
                  if label == "after" and "before" in rows else "–")
        lines.append(f"| {label} | {value:.4f} | {change} |")
    table = "\n".join(lines)
    files = [out / "report.md", out / "report.json"]
    if cfg.report_images > 0:
        files.append(_video_samples(estimators, val, out / "report_samples.png", cfg.report_images,
                                    cfg.eval_max_depth))
    md = ["# Training report", "",
          f"{len(val)} held-out video frames ({scored} scored), never trained on, with no depth to compare with: each "
          "model's camera-only depth is scored by view synthesis, the photometric error (0.85 SSIM + 0.15 L1, the "
          "per-pixel minimum over the frame's two context frames, moved by the recording's odometry), on the "
          "pixels that every model's depth lets a context frame see "
          f"({100 * rows['after']['prediction']['scored']:.0f} % of them). Lower is better: a depth that explains "
          "the motion scores lower.", "",
          f"- before: {estimators['before'].description if 'before' in estimators else '(no init: initial weights)'}",
          f"- after: {estimators['after'].description}", "", table, "",
          *(["## Samples", "", "![samples](report_samples.png)", ""] if cfg.report_images > 0 else [])]
    (out / "report.md").write_text("\n".join(md) + "\n")
    (out / "report.json").write_text(json.dumps({"ground_truth": "none", "rows": rows}, indent=2))
    return {"rows": rows, "table": table, "files": files}


def _video_samples(estimators: dict, val: VideoView, path: Path, count: int, max_depth: float) -> Path:
    picks = np.unique(np.linspace(0, len(val) - 1, max(1, min(count, len(val)))).round().astype(int))
    rows, titles = [], ["image"]
    for label in estimators:
        titles += [f"depth, {label}", f"photometric error, {label}"]
    for i in picks:
        s = val[int(i)]
        row = [("image", s["rgb"])]
        for est in estimators.values():
            depth = est.predict(s["rgb"], s["K"], None).depth
            row += [("depth", depth), ("map", (reprojection_error_map(depth, s), "photometric error", 0.3))]
        rows.append(row)
    return report_panels(path, rows, titles, "Held-out frames: camera-only depth and its view-synthesis error",
                         max_depth=max_depth)

"""Sparsification: how good the confidence is at ranking its own errors. Keep the most confident
share of the scored points and measure the AbsRel of what is kept; a useful confidence makes
that error fall as less is kept (Ilg et al., ECCV 2018, for optical flow; the depth-completion
uncertainty literature reports it the same way)."""

from __future__ import annotations

import numpy as np

__all__ = ["SPARSIFICATION_KEPT", "Sparsification", "sparsification_table"]

#: The shares of the most confident scored points each report keeps.
SPARSIFICATION_KEPT = (1.0, 0.75, 0.5, 0.25)


class Sparsification:
    """Pooled over frames: ``add(pred, gt, confidence)`` per frame, then ``curve()``.

    A point counts as in :func:`~depth_core.metrics.compute_depth_metrics`: finite ``gt`` within
    ``(min_depth, max_depth)``, a finite prediction (clipped to the same range) and a finite
    confidence. A frame with more than ``max_points`` such points contributes a random
    ``max_points`` of them (seeded by the frame's order), so dense ground truth over thousands of
    frames stays within memory."""

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 80.0, max_points: int = 100_000) -> None:
        self.min_depth, self.max_depth, self.max_points = min_depth, max_depth, max_points
        self.errors: list[np.ndarray] = []
        self.log_errors: list[np.ndarray] = []
        self.confidences: list[np.ndarray] = []

    def add(self, pred: np.ndarray, gt: np.ndarray, confidence: np.ndarray) -> None:
        if not (pred.shape == gt.shape == confidence.shape):
            raise ValueError(f"sparsification: pred {pred.shape}, gt {gt.shape} and confidence {confidence.shape} "
                             "must have one shape")
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(gt) & (gt > self.min_depth) & (gt < self.max_depth) & np.isfinite(pred) \
                & np.isfinite(confidence)
        index = np.flatnonzero(valid)
        if index.size > self.max_points:
            index = np.sort(np.random.default_rng(len(self.errors)).choice(index, self.max_points, replace=False))
        g = gt.ravel()[index].astype(np.float64)
        p = np.clip(pred.ravel()[index], self.min_depth, self.max_depth)
        self.errors.append((np.abs(p - g) / g).astype(np.float32))
        self.log_errors.append(np.abs(np.log(p / g)).astype(np.float32))
        self.confidences.append(confidence.ravel()[index].astype(np.float32))

    def curve(self, kept=SPARSIFICATION_KEPT) -> list[dict]:
        """``[{"kept": share, "abs_rel": mean AbsRel of the most confident share, "points": n}]``;
        empty when no point was scored."""
        errors = np.concatenate(self.errors) if self.errors else np.zeros(0, np.float32)
        if errors.size == 0:
            return []
        order = np.argsort(-np.concatenate(self.confidences), kind="stable")
        ranked = errors[order]
        out = []
        for share in kept:
            n = max(1, int(np.ceil(share * ranked.size)))
            out.append({"kept": float(share), "abs_rel": float(ranked[:n].mean()), "points": n})
        return out


    def calibration(self, tolerance: float = 0.1, bins: int = 5) -> list[dict]:
        """For a confidence that claims to be the probability of being within ``tolerance`` of
        the truth (the default's): per confidence bin, its mean confidence and the share of the
        bin's points that are within ``tolerance`` (``max(p/g, g/p) < 1 + tolerance``). A
        calibrated confidence has the two equal."""
        if not self.errors:
            return []
        conf = np.concatenate(self.confidences)
        within = np.concatenate(self.log_errors) < np.log1p(tolerance)
        edges = np.linspace(0, 1, bins + 1)
        which = np.clip(np.digitize(conf, edges) - 1, 0, bins - 1)
        out = []
        for b in range(bins):
            m = which == b
            if m.any():
                out.append({"from": float(edges[b]), "to": float(edges[b + 1]), "points": int(m.sum()),
                            "mean_confidence": float(conf[m].mean()), "within": float(within[m].mean())})
        return out


def sparsification_table(curves: dict[str, list[dict]]) -> list[str]:
    """The reports' markdown section: per row, the AbsRel of the most confident share of points."""
    curves = {row: c for row, c in curves.items() if c}
    if not curves:
        return []
    shares = [r["kept"] for r in next(iter(curves.values()))]
    lines = ["## Sparsification (the model's confidence)", "",
             "AbsRel of the most confident share of the scored points; a confidence that ranks its errors well "
             "makes it fall from left to right.", "",
             "| row | " + " | ".join(f"{s:.0%} kept" for s in shares) + " |", "|---|" + "---|" * len(shares)]
    for row, curve in curves.items():
        lines.append(f"| {row} | " + " | ".join(f"{r['abs_rel']:.4f}" for r in curve) + " |")
    return [*lines, ""]

"""Ordinal (relative-depth) metrics of depth-map decomposition (Jun et al., ECCV 2022): Kendall's tau and WHDR."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .depth import as_numpy

__all__ = ["kendall_tau", "whdr"]


def _valid_pairs(pred, gt, mask):
    pred, gt = as_numpy(pred).ravel(), as_numpy(gt).ravel()
    if pred.shape != gt.shape:
        raise ValueError(f"pred has {pred.size} values but gt has {gt.size}")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(pred) & np.isfinite(gt) & (gt > 0)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool).ravel()
    return pred[valid], gt[valid]


def _tied_pairs(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    return float(np.sum(counts * (counts - 1) / 2.0))


def kendall_tau(pred, gt, mask=None) -> float:
    """Kendall's tau over all pixel pairs, as defined by Jun et al. (ECCV 2022, eq. 14, tau-a):

    ``(concordant - discordant) / C(n, 2)``. Higher is better; 1 means identical ordering.
    Computed in O(n log n) through SciPy's tau-b, whose denominator only differs by ties.
    """
    p, g = _valid_pairs(pred, gt, mask)
    n = p.size
    if n < 2:
        return float("nan")
    n0 = n * (n - 1) / 2.0
    tau_b = stats.kendalltau(p, g, variant="b").statistic
    if not np.isfinite(tau_b):  # one side constant: no concordant or discordant pair
        return 0.0
    concordant_minus_discordant = tau_b * np.sqrt((n0 - _tied_pairs(p)) * (n0 - _tied_pairs(g)))
    return float(concordant_minus_discordant / n0)


def whdr(pred, gt, mask=None, *, pairs: int = 50_000, threshold: float = 0.02, seed: int = 0) -> float:
    """Weighted human disagreement rate (fraction, lower is better) on random point pairs.

    Following the protocol of Xian et al. used by Jun et al., ``pairs`` pixel pairs are drawn at
    random; a pair's ordinal label is "farther" if ``d_i / d_j > 1 + threshold``, "closer" if
    ``d_j / d_i > 1 + threshold`` and "equal" otherwise. WHDR is the fraction of pairs whose
    predicted label differs from the ground-truth label. ``seed`` makes the draw repeatable.
    """
    p, g = _valid_pairs(pred, gt, mask)
    if p.size < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, p.size, pairs)
    j = rng.integers(0, p.size, pairs)
    keep = i != j
    i, j = i[keep], j[keep]

    def labels(d):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = d[i] / d[j]
        return np.where(ratio > 1 + threshold, 1, np.where(ratio < 1 / (1 + threshold), -1, 0))

    return float(np.mean(labels(p) != labels(g)))

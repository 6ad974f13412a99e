"""Losses of a completion trained the way it is scored: the log-depth error on dense ground truth
and, as a separate mean, at the scan's points held out of the input; and the negative
log-likelihood of a Laplacian confidence head (Kendall & Gal, NeurIPS 2017); and for a completion
that chooses among candidates, the choice itself against the candidates' own errors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .silog import valid_depth_mask

__all__ = ["choice_loss", "held_out_log_error", "held_out_mask", "laplace_nll", "log_l1"]


def held_out_mask(lidar: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
    """Where the scan ``lidar`` [B,1,H,W] has a point that the input ``sparse`` does not."""
    return valid_depth_mask(lidar) & ~(sparse > 0)


def _log_error(depth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|log depth - log target|`` per pixel (the target floored at 1 mm; anything where it is
    missing is masked by the caller)."""
    return (torch.log(depth) - torch.log(target.clamp(min=1e-3))).abs()


def _mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` where ``mask``; whatever ``x`` holds elsewhere (inf, NaN) is ignored."""
    return torch.where(mask, x, torch.zeros_like(x)).sum() / mask.sum().clamp(min=1)


def log_l1(depth: torch.Tensor, gt: torch.Tensor, lidar: torch.Tensor | None = None,
           sparse: torch.Tensor | None = None, held_out_weight: float = 1.0) -> torch.Tensor:
    """Mean ``|log depth - log gt|`` over valid ``gt``, plus ``held_out_weight`` times the same
    mean at the held-out points of ``lidar`` against the LiDAR's own values (what the
    held-out protocol scores)."""
    valid = valid_depth_mask(gt)
    loss = _mean(_log_error(depth, gt), valid)
    if lidar is not None and held_out_weight:
        held = held_out_mask(lidar, sparse)
        loss = loss + held_out_weight * _mean(_log_error(depth, lidar), held)
    return loss


def held_out_log_error(depth: torch.Tensor, lidar: torch.Tensor, sparse: torch.Tensor,
                       floor: float = 1e-3, per_point: bool = False) -> torch.Tensor:
    """Per sample, the log of (``floor`` + the mean ``|log depth - log lidar|`` at the held-out
    points), averaged over the samples that have any. With ``per_point``, the log is taken at each
    point before the sample's mean.

    A relative measure: its gradient scales each sample's by one over that sample's own error,
    so halving a precise scan's 0.5 % error counts as much as halving a noisy scan's 5 %, as the
    ratio to a baseline (what the held-out protocol reports) counts them. ``log_l1``'s plain
    mean lets the noisy, large errors decide. ``per_point`` does the same within a sample: halving
    a point's error on a smooth surface (0.5 % off) counts as much as halving one's at a depth edge
    (30 % off), where the plain mean lets the few edge points decide the choice everywhere.
    ``floor`` (0.1 %) keeps an exact sample or point from dominating."""
    held = held_out_mask(lidar, sparse)
    err = _log_error(depth, lidar)
    if per_point:
        err = torch.log(floor + err)
    err = torch.where(held, err, torch.zeros_like(depth))
    count = held.flatten(1).sum(1)
    per_sample = err.flatten(1).sum(1) / count.clamp(min=1)
    has = count > 0
    if not bool(has.any()):
        return depth.sum() * 0
    return (per_sample[has] if per_point else torch.log(floor + per_sample[has])).mean()


def laplace_nll(depth: torch.Tensor, scale: torch.Tensor, gt: torch.Tensor, lidar: torch.Tensor | None = None,
                sparse: torch.Tensor | None = None) -> torch.Tensor:
    """``|e| / b + log b`` with ``e`` the log-depth error (the depth detached: this trains the
    confidence only) and ``b`` the predicted scale, over valid ``gt`` and, as a second mean, at
    the held-out points of ``lidar``."""
    log_depth = torch.log(depth.detach())

    def nll(target, mask):
        e = (log_depth - torch.log(target.clamp(min=1e-3))).abs()
        return _mean(e / scale + torch.log(scale), mask)

    loss = nll(gt, valid_depth_mask(gt))
    if lidar is not None:
        loss = loss + nll(lidar, held_out_mask(lidar, sparse))
    return loss


def choice_loss(weights: torch.Tensor, candidates: torch.Tensor, gt: torch.Tensor, free: torch.Tensor,
                temperature: float = 0.02) -> torch.Tensor:
    """The choosing head's weights ``w`` [B,N,H,W] on its candidates [B,N,H,W] (log inverse depth)
    against the candidates' own errors: per pixel ``KL(q || w)`` with ``q = softmax(-|c - log(1 /
    gt)| / temperature)`` over the candidates (the one nearest the truth, shared among those within
    about ``temperature`` of each other in log depth), averaged where ``gt`` is valid and ``free``
    [B,1,H,W] (the pixels the head chose at). 0 when the weights are q.

    The depth losses reach the choice only through the weighted mean, whose gradient on a
    candidate's weight is that weight times how far the candidate lies from the mean: a head that
    is sure of the wrong candidate barely hears of the right one (the softmax saturates). Here the
    gradient on each logit is its weight minus q's (down to weights of 1e-30: a wrong candidate
    ahead by about 69 in logits; the head starts 5 apart). The candidates are only targets here
    (detached), but the head's inputs are not: the loss trains what feeds its guide too (the SAN,
    the refinement), as the depth losses do."""
    valid = valid_depth_mask(gt) & (free > 0)
    if not bool(valid.any()):
        return weights.sum() * 0
    target = -torch.log(gt.clamp(min=1e-3))
    q = torch.softmax(-(candidates.detach() - target).abs() / temperature, dim=1)
    # KL(q || w) per pixel (kl_div takes log w; a q of 0 adds 0); a weight that underflowed to 0
    # still has a finite log.
    kl = F.kl_div(torch.log(weights.clamp(min=1e-30)), q, reduction="none").sum(1, keepdim=True)
    return _mean(kl, valid)

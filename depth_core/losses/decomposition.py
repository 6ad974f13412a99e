"""Losses and depth representations of depth-map decomposition (Jun et al., ECCV 2022).

Depth is handled as ``m = 1 / (m_o + 1)`` (eq. 12: metric depth ``m_o`` in metres, so near is
large and order matches disparity data); its z-score ``N = (M - mu) / sigma`` (eq. 1) is the
normalised depth, and ``G = (dN/dx, dN/dy)`` (eq. 4) the gradients."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["decomposition_losses", "from_inverse", "gradients", "to_inverse", "z_score", "z_score_inverse"]


def to_inverse(depth: torch.Tensor) -> torch.Tensor:
    """``m = 1 / (m_o + 1)`` in (0, 1] for metres >= 0 (eq. 12)."""
    return 1.0 / (depth + 1.0)


def from_inverse(m: torch.Tensor) -> torch.Tensor:
    return 1.0 / m.clamp(min=1e-6) - 1.0


def z_score(M: torch.Tensor, valid: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(N, mu, sigma)`` per image over valid pixels (population std). ``N`` is 0 off-valid."""
    w = valid.to(M.dtype)
    n = w.flatten(1).sum(1).clamp(min=1).view(-1, 1, 1, 1)
    mu = (M * w).flatten(1).sum(1).view(-1, 1, 1, 1) / n
    var = (((M - mu) * w) ** 2).flatten(1).sum(1).view(-1, 1, 1, 1) / n
    sigma = torch.sqrt(var + eps * eps)
    return (M - mu) / sigma * w, mu, sigma


def z_score_inverse(N: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``M = sigma * N + mu``."""
    return N * sigma + mu


def gradients(N: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences (last column / row zero), eq. 4."""
    gx = F.pad(N[..., :, 1:] - N[..., :, :-1], [0, 1, 0, 0])
    gy = F.pad(N[..., 1:, :] - N[..., :-1, :], [0, 0, 0, 1])
    return gx, gy


def _l1(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return ((a - b).abs() * w).sum() / w.sum().clamp(min=1)


def _multiscale_gradient(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                         scales=(0.5, 0.25, 0.125)) -> torch.Tensor:
    """Eq. 9: L1 of x/y gradients of bilinearly resized maps at each scale, summed."""
    total = pred.new_zeros(())
    for s in scales:
        size = (max(1, round(pred.shape[-2] * s)), max(1, round(pred.shape[-1] * s)))
        p = F.interpolate(pred, size=size, mode="bilinear", align_corners=False)
        t = F.interpolate(target * valid, size=size, mode="bilinear", align_corners=False)
        v = (F.interpolate(valid.to(pred.dtype), size=size, mode="bilinear", align_corners=False) > 0.999).to(p.dtype)
        (px, py), (tx, ty) = gradients(p), gradients(t)
        vx, vy = gradients(v)[0].abs() < 1e-6, gradients(v)[1].abs() < 1e-6
        total = total + _l1(px, tx, v * vx) + _l1(py, ty, v * vy)
    return total


def decomposition_losses(out: dict, depth_gt: torch.Tensor, metric: bool = True) -> dict[str, torch.Tensor]:
    """Every loss term of the paper from the model's training outputs: ``G`` [B,2,H,W], ``N``,
    ``M`` (inverse depth m) and ``mu`` [B,1,1,1]; ``depth_gt`` [B,1,H,W] metres (0 = invalid).
    ``metric=False`` (relative-only data) returns the G/N terms only."""
    valid = depth_gt > 0
    w = valid.to(out["N"].dtype)
    M_gt = to_inverse(depth_gt) * w
    N_gt, mu_gt, _ = z_score(M_gt, valid)
    gx, gy = gradients(N_gt)
    vx, vy = gradients(w)
    wx, wy = w * (vx.abs() < 1e-6), w * (vy.abs() < 1e-6)
    terms = {
        "L_G": _l1(out["G"][:, :1], gx, wx) + _l1(out["G"][:, 1:], gy, wy),          # eq. 7
        "L_N": _l1(out["N"], N_gt, w),                                               # eq. 8
        "L_Ngrad": _multiscale_gradient(out["N"], N_gt, valid),                      # eq. 9
    }
    if metric:
        M = out["M"].clamp(min=1e-6)
        terms.update({
            "L_M": _l1(M, M_gt, w),
            "L_Mgrad": _multiscale_gradient(M, M_gt, valid),
            "L_mu": (out["mu"].view(-1) - mu_gt.view(-1)).abs().mean(),              # eq. 10
            "L_logM": _l1(torch.log(M), torch.log(M_gt.clamp(min=1e-6)), w),          # eq. 11
        })
    return terms

"""Losses of FuSaNet: the normalised Hessian loss, the sparse loss and the
depth-confidence loss, combined over five scales with weights 1, 0.75, 0.5, 0.25, 0.125."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["SCALE_WEIGHTS", "depth_confidence_loss", "hessian", "normalized_hessian_loss", "sparse_loss"]

SCALE_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.125)


def _gaussian_kernels(sigma: float, dtype, device):
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=dtype, device=device)
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    g1 = -x / (sigma * sigma) * g                        # first derivative of the Gaussian
    g2 = (x * x / sigma**4 - 1 / (sigma * sigma)) * g    # second derivative
    g2 = g2 - g2.mean()                                  # exactly zero response to constants
    g1 = g1 - g1.mean()
    return g, g1, g2, r


def hessian(z: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """``(z_xx, z_xy, z_yy)`` [B,3,H,W] by separable Gaussian-derivative filters (replicated
    borders). Planes ``a + b x + c y`` have an exactly zero Hessian."""
    g, g1, g2, r = _gaussian_kernels(sigma, z.dtype, z.device)

    def sep(img, ky, kx):
        img = F.conv2d(F.pad(img, [r, r, 0, 0], mode="replicate"), kx.view(1, 1, 1, -1))
        return F.conv2d(F.pad(img, [0, 0, r, r], mode="replicate"), ky.view(1, 1, -1, 1))

    return torch.cat([sep(z, g, g2), sep(z, g1, g1), sep(z, g2, g)], 1)


def normalized_hessian_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, sigma: float = 1.5,
                            eps: float = 1e-6) -> torch.Tensor:
    """``sqrt(mean || H_pred / |H_pred| - H_gt / |H_gt| ||^2)`` over pixels whose filter support is
    valid. Invariant to ``z -> a z + b x + c y + e`` with ``a > 0``: the plane term has no
    Hessian and the normalisation removes ``a``."""
    r = max(1, math.ceil(3 * sigma))
    # Pixels whose whole filter window is valid and inside the image (the replicated border
    # would bend planes).
    support = -F.max_pool2d(-F.pad(valid.to(pred.dtype), [r] * 4, value=0.0), 2 * r + 1, 1, 0)
    hp, hg = hessian(pred, sigma), hessian(torch.where(valid, gt, pred.detach()), sigma)
    np_ = hp / torch.sqrt((hp * hp).sum(1, keepdim=True) + eps * eps)
    ng = hg / torch.sqrt((hg * hg).sum(1, keepdim=True) + eps * eps)
    # Flat ground truth (no curvature) carries no shape information: leave it out.
    curved = ((hg * hg).sum(1, keepdim=True) > eps).to(pred.dtype) * support
    return torch.sqrt((((np_ - ng) ** 2).sum(1, keepdim=True) * curved).sum() / curved.sum().clamp(min=1) + 1e-12)


def sparse_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, sparse_mask: torch.Tensor) -> torch.Tensor:
    """``L_S``: RMSE at the input points over RMSE at all valid pixels (the latter detached, so
    the ratio can only fall by fitting the points)."""
    sq = (pred - gt) ** 2
    at_points = (sq * sparse_mask).sum() / sparse_mask.sum().clamp(min=1)
    everywhere = (sq * valid).sum() / valid.sum().clamp(min=1)
    return torch.sqrt(at_points + 1e-12) / torch.sqrt(everywhere.detach() + 1e-12)


def depth_confidence_loss(pred: torch.Tensor, confidence: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor,
                          epoch: int, mu: float = 1.0, theta: float = 1.0, psi: float = 1.0) -> torch.Tensor:
    """``L_log + mu L_grad + theta L_norm - psi / p * L_C`` with ``F(x) = ln(x + 0.5)`` of the
    absolute error ``e``, Sobel error gradients, normal cosine distance, and the confidence
    term ``L_C = mean(c - F(e) c)`` scaled down by the epoch number ``p`` (1-based)."""
    w = valid.to(pred.dtype)
    n = w.sum().clamp(min=1)
    e = (pred - gt).abs() * w

    def f(x):
        return torch.log(x + 0.5)

    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=pred.dtype, device=pred.device).view(1, 1, 3, 3)
    ex, ey = F.conv2d(F.pad(e, [1] * 4, mode="replicate"), kx), F.conv2d(F.pad(e, [1] * 4, mode="replicate"),
                                                                          kx.transpose(2, 3))
    l_log = (f(e) * w).sum() / n
    l_grad = ((f(ex.abs()) + f(ey.abs())) * w).sum() / n
    from .structure import normal_loss

    l_norm = normal_loss(pred, torch.where(valid, gt, pred.detach()), valid)
    l_conf = ((confidence - f(e).detach() * confidence) * w).sum() / n
    return l_log + mu * l_grad + theta * l_norm - psi / max(int(epoch), 1) * l_conf

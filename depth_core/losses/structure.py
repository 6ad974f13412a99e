"""Losses of structure-aware depth estimation (Chen et al., ECCV 2020): BerHu, the scale-invariant
gradient loss at spacings 1..16, the surface-normal loss, the global focal relative loss, and
the edge-aware x5 weighting. All take ``pred``/``gt`` [B,1,H,W] metres and a validity mask."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["berhu_loss", "edge_weights", "global_focal_relative_loss", "normal_loss", "scale_invariant_gradient_loss"]


def _masked_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x * w).sum() / w.sum().clamp(min=1e-6)


def berhu_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor | None = None,
               c_ratio: float = 0.2) -> torch.Tensor:
    """Reverse Huber (eq. 2): ``|e|`` up to ``c``, ``(e^2 + c^2) / 2c`` beyond, with
    ``c = 0.2 * max |e|`` over the batch's valid pixels (detached, as is customary)."""
    w = valid.to(pred.dtype) * (1.0 if weights is None else weights)
    err = (pred - gt).abs() * valid
    c = (c_ratio * err.max()).detach().clamp(min=1e-6)
    per_pixel = torch.where(err <= c, err, (err * err + c * c) / (2 * c))
    return _masked_mean(per_pixel, w)


def scale_invariant_gradient_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor,
                                  weights: torch.Tensor | None = None,
                                  spacings: tuple[int, ...] = (1, 2, 4, 8, 16)) -> torch.Tensor:
    """Eq. 3 (after DeMoN): ``sum_s || g_s(pred) - g_s(gt) ||^2`` with the normalised discrete
    gradient ``g_s = ((d[i+s,j] - d[i,j]) / |d[i+s,j] + d[i,j]|, (d[i,j+s] - d[i,j]) / |d[i,j+s] + d[i,j]|)``;
    mean over pixel pairs where both ends are valid, summed over spacings."""
    total = pred.new_zeros(())
    w_full = valid.to(pred.dtype) * (1.0 if weights is None else weights)
    for s in spacings:
        for dim in (2, 3):  # rows (i), columns (j)
            n = pred.shape[dim] - s
            if n <= 0:
                continue
            a_p, b_p = pred.narrow(dim, s, n), pred.narrow(dim, 0, n)
            a_g, b_g = gt.narrow(dim, s, n), gt.narrow(dim, 0, n)
            both = w_full.narrow(dim, s, n) * w_full.narrow(dim, 0, n) * (valid.narrow(dim, s, n)
                                                                       & valid.narrow(dim, 0, n))
            g_p = (a_p - b_p) / (a_p + b_p).abs().clamp(min=1e-6)
            g_g = (a_g - b_g) / (a_g + b_g).abs().clamp(min=1e-6)
            total = total + _masked_mean((g_p - g_g) ** 2, both)
    return total


def _normals(depth: torch.Tensor) -> torch.Tensor:
    """``n = (-dz/dx, -dz/dy, 1)`` from Sobel derivatives of the depth map (eq. 4), unit length."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=depth.dtype,
                      device=depth.device).view(1, 1, 3, 3) / 8.0
    padded = F.pad(depth, [1, 1, 1, 1], mode="replicate")
    dx, dy = F.conv2d(padded, kx), F.conv2d(padded, kx.transpose(2, 3))
    n = torch.cat([-dx, -dy, torch.ones_like(depth)], 1)
    return n / n.norm(dim=1, keepdim=True)


def normal_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 4: mean ``1 - cos(n_pred, n_gt)`` over valid pixels."""
    w = valid.to(pred.dtype) * (1.0 if weights is None else weights)
    cos = (_normals(pred) * _normals(gt)).sum(1, keepdim=True)
    return _masked_mean(1 - cos, w)


def global_focal_relative_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, *, grid: int = 16,
                               gamma: float = 2.0, tie: float = 0.02, generator: torch.Generator | None = None
                               ) -> torch.Tensor:
    """Eq. 5. One random valid point per cell of a ``grid`` x ``grid`` partition of each image;
    every pair of those points is compared. With ``r = sign(gt1 - gt2)`` (0 when the ratio is
    within ``1 + tie``): ranked pairs cost ``w^gamma * log(1 + exp(-r (d1 - d2)))`` with the focal
    weight ``w = 1 - sigmoid(r (d1 - d2))``, tied pairs ``(d1 - d2)^2``. Mean over pairs."""
    b, _, h, wd = pred.shape
    losses = []
    for i in range(b):
        ys = torch.linspace(0, h, grid + 1, device=pred.device).long()
        xs = torch.linspace(0, wd, grid + 1, device=pred.device).long()
        picks = []
        for r in range(grid):
            for c in range(grid):
                cell = valid[i, 0, ys[r]:ys[r + 1], xs[c]:xs[c + 1]].nonzero()
                if len(cell):
                    k = int(torch.randint(len(cell), (1,), generator=generator))
                    picks.append((int(ys[r] + cell[k, 0]), int(xs[c] + cell[k, 1])))
        if len(picks) < 2:
            continue
        idx = torch.tensor(picks, device=pred.device)
        d = pred[i, 0, idx[:, 0], idx[:, 1]]
        g = gt[i, 0, idx[:, 0], idx[:, 1]]
        a, bb = torch.triu_indices(len(picks), len(picks), 1, device=pred.device)
        ratio = torch.maximum(g[a] / g[bb], g[bb] / g[a])
        r = torch.where(ratio < 1 + tie, torch.zeros_like(ratio), torch.sign(g[a] - g[bb]))
        diff = d[a] - d[bb]
        ranked = F.softplus(-r * diff) * torch.sigmoid(-r * diff) ** gamma
        losses.append(torch.where(r == 0, diff * diff, ranked).mean())
    return torch.stack(losses).mean() if losses else pred.new_zeros(())


def edge_weights(gt: torch.Tensor, factor: float = 5.0, kernel: int = 5) -> torch.Tensor:
    """Per-pixel weights: ``factor`` near depth edges (Canny on the ground truth, dilated with a
    ``kernel`` x ``kernel`` square), 1 elsewhere. The depth is scaled to 8 bits per image."""
    out = torch.ones_like(gt)
    for i, depth in enumerate(gt[:, 0].detach().cpu().numpy()):
        valid = depth > 0
        if not valid.any():
            continue
        lo, hi = float(depth[valid].min()), float(depth[valid].max())
        img = np.where(valid, (depth - lo) / max(hi - lo, 1e-6) * 255, 0).astype(np.uint8)
        edges = cv2.dilate(cv2.Canny(img, 30, 90), np.ones((kernel, kernel), np.uint8)) > 0
        out[i, 0][torch.from_numpy(edges).to(gt.device)] = factor
    return out

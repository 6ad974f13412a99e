"""DenseDepth's loss (Alhashim & Wonka 2018, eq. 1-4): ``0.1 * L1 + L_grad + (1 - SSIM) / 2`` on the target
``y = m / depth``, which keeps the loss from growing with distance."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["densedepth_loss", "gaussian_ssim_map"]


def gaussian_ssim_map(x: torch.Tensor, y: torch.Tensor, value_range: float, window: int = 11,
                      sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM [B,1,H,W] (Wang et al. 2004): Gaussian window, K1 = 0.01, K2 = 0.03."""
    coords = torch.arange(window, dtype=x.dtype, device=x.device) - window // 2
    g = torch.exp(-coords**2 / (2 * sigma**2))
    g = (g / g.sum()).view(1, 1, 1, -1)

    def blur(t):
        t = F.conv2d(F.pad(t, [window // 2] * 2 + [0, 0], mode="replicate"), g)
        return F.conv2d(F.pad(t, [0, 0] + [window // 2] * 2, mode="replicate"), g.transpose(2, 3))

    c1, c2 = (0.01 * value_range) ** 2, (0.03 * value_range) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def densedepth_loss(y_pred: torch.Tensor, depth_gt: torch.Tensor, m: float, min_depth: float, max_depth: float,
                    depth_weight: float = 0.1) -> torch.Tensor:
    """``y_pred`` [B,1,h,w] predicts ``m / depth``; ``depth_gt`` [B,1,H,W] metres (0/NaN = no
    ground truth; the paper inpaints, we mask) is brought to ``y_pred``'s size by nearest
    neighbour and clipped to ``[min_depth, max_depth]``."""
    gt = F.interpolate(torch.nan_to_num(depth_gt), size=y_pred.shape[-2:], mode="nearest")
    valid = (gt > 0).to(y_pred.dtype)
    y_gt = m / torch.clamp(gt, min_depth, max_depth)
    n = valid.sum().clamp(min=1)
    l1 = ((y_pred - y_gt).abs() * valid).sum() / n
    # Gradients: forward differences, where both pixels have ground truth.
    vx, vy = valid[..., :, 1:] * valid[..., :, :-1], valid[..., 1:, :] * valid[..., :-1, :]
    dx = (y_pred[..., :, 1:] - y_pred[..., :, :-1]) - (y_gt[..., :, 1:] - y_gt[..., :, :-1])
    dy = (y_pred[..., 1:, :] - y_pred[..., :-1, :]) - (y_gt[..., 1:, :] - y_gt[..., :-1, :])
    grad = (dx.abs() * vx).sum() / vx.sum().clamp(min=1) + (dy.abs() * vy).sum() / vy.sum().clamp(min=1)
    # SSIM on the y maps, invalid ground truth replaced by the prediction (neutral there).
    filled = torch.where(valid > 0, y_gt, y_pred.detach())
    ssim = gaussian_ssim_map(y_pred, filled, value_range=m / min_depth)
    l_ssim = torch.clamp((1 - (ssim * valid).sum() / n) / 2, 0, 1)
    return depth_weight * l1 + grad + l_ssim

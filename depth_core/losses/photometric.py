"""Self-supervised depth from video with known camera motion (Godard et al., "Digging into
self-supervised monocular depth estimation", ICCV 2019; Guizilini et al., PackNet-SfM, CVPR 2020):

- **view synthesis**: each context frame is warped into the target camera through the predicted
  depth and the known relative pose (from odometry, so the scale is metric);
- **photometric error**: ``alpha (1 - SSIM) / 2 + (1 - alpha) |I - I'|`` with ``alpha = 0.85`` and
  a 3x3 SSIM;
- **per-pixel minimum** of that error over the context frames (occlusions are seen from one side);
- **auto-masking**: a pixel whose error against the *unwarped* context frames is already lower
  than against the warped ones (a static camera, an object moving with the robot, a textureless
  wall) does not train;
- **edge-aware smoothness** of the mean-normalised inverse depth, ``|d_x d*| e^{-|d_x I|}`` and the
  same in y, weighted ``1 / 2**scale``.

Every output scale is upsampled to the input's resolution before the error (monodepth2).
Pixels whose warp falls outside the context image are left out of the minimum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["edge_aware_smoothness", "photometric_error", "reprojection_loss", "ssim", "warp"]

SSIM_ALPHA = 0.85


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM [B,C,H,W] over 3x3 windows (reflection padded), images in [0, 1]."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x, y = F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x, mu_y = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x ** 2
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y ** 2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    den = (mu_x ** 2 + mu_y ** 2 + c1) * (sigma_x + sigma_y + c2)
    return torch.clamp(num / den, -1, 1)


def photometric_error(x: torch.Tensor, y: torch.Tensor, alpha: float = SSIM_ALPHA) -> torch.Tensor:
    """``alpha (1 - SSIM) / 2 + (1 - alpha) L1``, averaged over channels: [B,1,H,W]."""
    l1 = (x - y).abs().mean(1, keepdim=True)
    structure = ((1 - ssim(x, y)) / 2).mean(1, keepdim=True)
    return alpha * structure + (1 - alpha) * l1


def warp(context: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
         T_ctx_tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The context image [B,3,H,W] seen from the target camera: each target pixel is
    back-projected with ``depth`` [B,1,H,W] (metres), moved by ``T_ctx_tgt`` [B,4,4] (target
    camera -> context camera) and projected with ``K`` [B,3,3] (both frames share it). Returns the
    synthesised image and where the warp landed inside the context image [B,1,H,W]."""
    b, _, h, w = depth.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=depth.dtype, device=depth.device),
                            torch.arange(w, dtype=depth.dtype, device=depth.device), indexing="ij")
    pixels = torch.stack([xs, ys, torch.ones_like(xs)]).view(1, 3, -1)          # [1,3,HW]
    rays = torch.linalg.inv(K.to(depth.dtype)) @ pixels                          # [B,3,HW]
    points = rays * depth.view(b, 1, -1)
    T = T_ctx_tgt.to(depth.dtype)
    moved = T[:, :3, :3] @ points + T[:, :3, 3:]
    projected = K.to(depth.dtype) @ moved
    z = projected[:, 2:3]
    uv = projected[:, :2] / z.clamp(min=1e-3)
    u = 2 * uv[:, 0] / (w - 1) - 1
    v = 2 * uv[:, 1] / (h - 1) - 1
    grid = torch.stack([u, v], dim=-1).view(b, h, w, 2)
    inside = ((u.abs() <= 1) & (v.abs() <= 1) & (z[:, 0] > 1e-3)).view(b, 1, h, w).to(depth.dtype)
    synthesised = F.grid_sample(context, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return synthesised, inside


def reprojection_loss(target: torch.Tensor, contexts: torch.Tensor, depth: torch.Tensor, K: torch.Tensor,
                      T_ctx_tgt: torch.Tensor, automask: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The minimum reprojection error of ``target`` [B,3,H,W] from ``contexts`` [B,N,3,H,W]
    (``T_ctx_tgt`` [B,N,4,4]) through ``depth`` [B,1,H,W]: (the mean over the pixels that train,
    the per-pixel map of the minimum [B,1,H,W]). With ``automask`` a pixel trains only where the
    warp beats every unwarped context frame; pixels whose warp leaves every context are left out."""
    errors, identity = [], []
    for i in range(contexts.shape[1]):
        synthesised, inside = warp(contexts[:, i], depth, K, T_ctx_tgt[:, i])
        # Outside a context: an error no other context can lose to, so the minimum takes another.
        errors.append(torch.where(inside > 0, photometric_error(synthesised, target), torch.full_like(inside, 1e3)))
        identity.append(photometric_error(contexts[:, i], target))
    best = torch.cat(errors, 1).min(1, keepdim=True).values
    valid = best < 1e3
    if automask:
        # The tiny noise breaks ties on flat images, as monodepth2 does.
        still = torch.cat(identity, 1).min(1, keepdim=True).values + 1e-5 * torch.randn_like(best)
        valid = valid & (best < still)
    weight = valid.to(best.dtype)
    loss = (best * weight).sum() / weight.sum().clamp(min=1)
    return loss, torch.where(valid, best, torch.zeros_like(best))


def edge_aware_smoothness(inv_depth: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``mean |d_x d*| exp(-|d_x I|) + mean |d_y d*| exp(-|d_y I|)`` with ``d*`` the inverse depth
    divided by its mean (so the term cannot shrink the depth's scale), ``image`` at its size."""
    d = inv_depth / inv_depth.mean(dim=(2, 3), keepdim=True).clamp(min=1e-7)
    dx, dy = (d[..., :, 1:] - d[..., :, :-1]).abs(), (d[..., 1:, :] - d[..., :-1, :]).abs()
    ix = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True)
    iy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()

"""Structure-quality measures of DenseDepth (Alhashim & Wonka 2018, sec. 4.3): depth-edge F1 on Sobel
gradients, mean SSIM of depth maps, and surface-normal error."""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import backproject
from .depth import as_numpy

__all__ = ["depth_to_normals", "edge_f1", "normal_error", "ssim"]


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, gt = as_numpy(pred).squeeze(), as_numpy(gt).squeeze()
    if pred.shape != gt.shape or gt.ndim != 2:
        raise ValueError(f"expected two [H,W] depth maps, got {pred.shape} and {gt.shape}")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred)
    return pred, gt, valid


def _interior(valid: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 window is valid, so filters never mix in invalid values."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.erode(valid.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


def _sobel_magnitude(depth: np.ndarray) -> np.ndarray:
    d = depth.astype(np.float32)
    gx = cv2.Sobel(d, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(d, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def edge_f1(pred, gt, threshold: float = 0.5) -> float:
    """F1 of depth edges: Sobel (3x3, unnormalised) gradient magnitude of metres > ``threshold``.

    Only pixels whose 3x3 neighbourhood has valid ground truth and prediction are compared.
    Returns 1.0 when neither map has an edge there, 0.0 when exactly one has none.
    """
    pred, gt, valid = _pair(pred, gt)
    region = _interior(valid, 1)
    fill_pred, fill_gt = np.where(valid, pred, 0.0), np.where(valid, gt, 0.0)
    e_pred = (_sobel_magnitude(fill_pred) > threshold) & region
    e_gt = (_sobel_magnitude(fill_gt) > threshold) & region
    n_pred, n_gt = int(e_pred.sum()), int(e_gt.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    tp = int((e_pred & e_gt).sum())
    precision, recall = tp / n_pred, tp / n_gt
    return 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)


def ssim(pred, gt, *, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window sigma 1.5, C1=0.01^2, C2=0.03^2) of the two
    depth maps rendered as grey images: both are scaled by the ground truth's valid range to
    [0, 1], as in DenseDepth's mSSIM. Averaged over pixels with valid 11x11 neighbourhoods."""
    pred, gt, valid = _pair(pred, gt)
    if not valid.any():
        return float("nan")
    lo, hi = float(gt[valid].min()), float(gt[valid].max())
    scale = max(hi - lo, 1e-6)
    x = np.where(valid, np.clip((pred - lo) / scale, 0, 1), 0).astype(np.float64)
    y = np.where(valid, (gt - lo) / scale, 0).astype(np.float64)
    c1, c2 = 0.01**2, 0.03**2

    def blur(img):
        return cv2.GaussianBlur(img, (11, 11), sigma, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    region = _interior(valid, 5)
    if not region.any():
        region = valid
    return float(ssim_map[region].mean())


def depth_to_normals(depth, K=None) -> np.ndarray:
    """Unit surface normals [H,W,3] from a depth map, facing the camera; NaN where undefined.

    With intrinsics ``K`` the normals are those of the back-projected 3D surface (central
    differences of neighbouring points). Without ``K`` they come from image-space depth
    gradients, ``(-dz/du, -dz/dv, 1)``, as in DenseDepth's evaluation.
    """
    depth = as_numpy(depth).squeeze()
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H,W], got shape {depth.shape}")
    if K is not None:
        points = backproject(depth, K).astype(np.float64)
        du = np.full_like(points, np.nan)
        dv = np.full_like(points, np.nan)
        du[:, 1:-1] = points[:, 2:] - points[:, :-2]
        dv[1:-1] = points[2:] - points[:-2]
        normals = np.cross(dv, du)
        facing = np.sign(np.sum(normals * points, axis=-1, keepdims=True))
        normals *= np.where(facing > 0, -1.0, 1.0)
    else:
        d = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan)
        gz_v, gz_u = np.gradient(d)
        normals = np.stack([-gz_u, -gz_v, np.ones_like(d)], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.linalg.norm(normals, axis=-1, keepdims=True)
        return normals / np.where(norm > 0, norm, np.nan)


def normal_error(pred, gt, K=None) -> dict:
    """Surface-normal error between two depth maps: mean cosine distance ``1 - n_p . n_g`` (seed
    004's "mne") and mean angle in degrees, over pixels where both normals are defined."""
    pred, gt, _ = _pair(pred, gt)
    n_pred, n_gt = depth_to_normals(pred, K), depth_to_normals(gt, K)
    cos = np.sum(n_pred * n_gt, axis=-1)
    ok = np.isfinite(cos)
    if not ok.any():
        return {"normal_cos_dist": float("nan"), "normal_angle_deg": float("nan"), "points": 0}
    cos = np.clip(cos[ok], -1.0, 1.0)
    return {
        "normal_cos_dist": float(np.mean(1.0 - cos)),
        "normal_angle_deg": float(np.degrees(np.mean(np.arccos(cos)))),
        "points": int(ok.sum()),
    }

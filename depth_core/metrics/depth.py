"""Standard depth-error metrics (Eigen et al., KITTI benchmark), evaluation crops and median scaling."""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEPTH_METRIC_KEYS",
    "as_numpy",
    "average_metrics",
    "compute_depth_metrics",
    "crop_mask",
    "kitti_eigen_crop",
    "kitti_garg_crop",
    "nyu_eigen_crop",
]

DEPTH_METRIC_KEYS = (
    "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog",
    "delta1", "delta2", "delta3", "mae", "irmse", "imae",
)


def as_numpy(x) -> np.ndarray:
    """A float64 array from a numpy array, a list or a torch tensor (on any device)."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _window_mask(height: int, width: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


def kitti_garg_crop(height: int, width: int) -> np.ndarray:
    """Garg et al. crop: rows 0.40810811H:0.99189189H, cols 0.03594771W:0.96405229W."""
    return _window_mask(height, width,
                        (int(0.40810811 * height), int(0.99189189 * height)),
                        (int(0.03594771 * width), int(0.96405229 * width)))


def kitti_eigen_crop(height: int, width: int) -> np.ndarray:
    """Eigen et al. KITTI crop: rows 0.3324324H:0.91351351H, cols 0.0359477W:0.96405229W."""
    return _window_mask(height, width,
                        (int(0.3324324 * height), int(0.91351351 * height)),
                        (int(0.0359477 * width), int(0.96405229 * width)))


def nyu_eigen_crop(height: int, width: int) -> np.ndarray:
    """Eigen et al. NYUv2 crop: rows 45:471, cols 41:601 of 480x640, scaled for other sizes."""
    return _window_mask(height, width,
                        (round(45 * height / 480), round(471 * height / 480)),
                        (round(41 * width / 640), round(601 * width / 640)))


_CROPS = {"garg": kitti_garg_crop, "eigen_kitti": kitti_eigen_crop, "eigen_nyu": nyu_eigen_crop}


def crop_mask(crop, height: int, width: int) -> np.ndarray:
    """Boolean [H,W] mask for ``crop``: None (everything), a crop name, or a mask array."""
    if crop is None:
        return np.ones((height, width), dtype=bool)
    if isinstance(crop, str):
        if crop not in _CROPS:
            raise ValueError(f"crop: unknown crop '{crop}', expected one of {sorted(_CROPS)} or None")
        return _CROPS[crop](height, width)
    mask = np.asarray(crop, dtype=bool)
    if mask.shape != (height, width):
        raise ValueError(f"crop: mask shape {mask.shape} does not match the image {(height, width)}")
    return mask


def _image_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Metrics over matching 1-D arrays of positive depths in metres."""
    err = pred - gt
    log_diff = np.log(pred) - np.log(gt)
    ratio = np.maximum(pred / gt, gt / pred)
    inv_err = 1000.0 / pred - 1000.0 / gt  # 1/km, as on the KITTI completion benchmark
    return {
        "abs_rel": float(np.mean(np.abs(err) / gt)),
        "sq_rel": float(np.mean(err**2 / gt)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "rmse_log": float(np.sqrt(np.mean(log_diff**2))),
        "log10": float(np.mean(np.abs(np.log10(pred) - np.log10(gt)))),
        "silog": float(100.0 * np.sqrt(max(np.mean(log_diff**2) - np.mean(log_diff) ** 2, 0.0))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "mae": float(np.mean(np.abs(err))),
        "irmse": float(np.sqrt(np.mean(inv_err**2))),
        "imae": float(np.mean(np.abs(inv_err))),
    }


def compute_depth_metrics(pred, gt, min_depth: float = 1e-3, max_depth: float = 80.0, *,
                          crop=None, median_scaling: bool = False, mask=None) -> dict:
    """Depth metrics of ``pred`` against ``gt`` (metres), numpy arrays or torch tensors.

    Shapes: ``[H,W]`` for one image, or ``[..., H, W]`` (e.g. ``[B,1,H,W]``) for several; then
    each image is scored alone and the per-image values are averaged (the KITTI convention).

    A ground-truth pixel counts when it is finite and ``min_depth < gt < max_depth`` (and inside
    ``crop`` / ``mask``). Predictions are clipped to the same range; non-finite predictions are
    left out and reported through ``coverage`` (the fraction of counted pixels that had one).
    With ``median_scaling`` each prediction is first multiplied by ``median(gt) / median(pred)``
    (for scale-ambiguous models); the mean factor is returned as ``median_scale``.

    Returns the keys of ``DEPTH_METRIC_KEYS`` (``irmse``/``imae`` in 1/km, ``silog`` x100,
    ``delta*`` as fractions), ``points`` (pixels scored) and ``coverage``. Metrics are NaN when
    no pixel could be scored.
    """
    pred, gt = as_numpy(pred), as_numpy(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} does not match gt shape {gt.shape}")
    if gt.ndim < 2:
        raise ValueError(f"expected depth images [..., H, W], got shape {gt.shape}")
    h, w = gt.shape[-2:]
    region = crop_mask(crop, h, w)
    if mask is not None:
        region = region & np.broadcast_to(np.asarray(mask, dtype=bool), gt.shape).reshape(-1, h, w)
    pred, gt = pred.reshape(-1, h, w), gt.reshape(-1, h, w)
    region = np.broadcast_to(region, gt.shape)

    per_image, points, counted, scales = [], 0, 0, []
    for p, g, m in zip(pred, gt, region):
        with np.errstate(invalid="ignore"):
            valid = m & np.isfinite(g) & (g > min_depth) & (g < max_depth)
        counted += int(valid.sum())
        p, g = p[valid], g[valid]
        has_pred = np.isfinite(p)
        p, g = p[has_pred], g[has_pred]
        if p.size == 0:
            continue
        if median_scaling:
            scale = np.median(g) / max(np.median(p), 1e-12)
            scales.append(scale)
            p = p * scale
        p = np.clip(p, min_depth, max_depth)
        per_image.append(_image_errors(p, g))
        points += p.size

    out = {k: float(np.mean([m[k] for m in per_image])) if per_image else float("nan")
           for k in DEPTH_METRIC_KEYS}
    out["points"] = points
    out["coverage"] = points / counted if counted else float("nan")
    if median_scaling:
        out["median_scale"] = float(np.mean(scales)) if scales else float("nan")
    return out


def average_metrics(rows: list[dict], count: str = "images") -> dict:
    """The mean of per-image :func:`compute_depth_metrics` results over the images that had a
    scored pixel (the KITTI convention: every image weighs the same), with ``coverage`` when the
    results carry it, ``points`` (their total) and, under ``count``, how many images were averaged
    (``{count: 0}`` alone when none was)."""
    rows = [r for r in rows if r["points"] > 0]
    if not rows:
        return {count: 0}
    keys = (*DEPTH_METRIC_KEYS, "coverage") if all("coverage" in r for r in rows) else DEPTH_METRIC_KEYS
    out = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    out[count] = len(rows)
    out["points"] = int(sum(r["points"] for r in rows))
    return out

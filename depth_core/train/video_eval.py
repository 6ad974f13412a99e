"""Scoring a model on held-out video frames that have no depth to compare with: the photometric
error of view synthesis through its camera-only depth, from the frames' context frames and their
odometry poses (what ``finetune_video.yaml`` trains, measured on frames it never trained on)."""

from __future__ import annotations

import numpy as np
import torch

from ..losses.photometric import reprojection_loss

__all__ = ["photometric_metrics", "reprojection_error_map"]


def reprojection_error_map(depth: np.ndarray, sample: dict) -> np.ndarray:
    """The per-pixel minimum photometric error [H,W] of ``sample`` (a :class:`VideoView` item)
    from its context frames through ``depth`` [H,W] metres, without auto-masking; NaN where the
    depth is invalid or no context frame sees the pixel."""
    image = torch.from_numpy(sample["rgb"].transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    contexts = torch.stack([torch.from_numpy(c.transpose(2, 0, 1).astype(np.float32) / 255.0)
                            for c in sample["context"]])[None]
    T = torch.from_numpy(np.stack(sample["T_ctx_cam"]).astype(np.float32))[None]
    K = torch.from_numpy(np.asarray(sample["K"], np.float32))[None]
    depth = np.asarray(depth, np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    d = torch.from_numpy(np.where(valid, depth, 1.0))[None, None]
    with torch.no_grad():
        _, error = reprojection_loss(image, contexts, d, K, T, automask=False)
    error = error[0, 0].numpy()
    return np.where(valid & (error > 0), error, np.nan)


def photometric_metrics(estimators: dict, video, samples: int) -> dict:
    """Per estimator (``{label: estimator}``), ``{"photometric": mean error, "images": n, "scored":
    share of pixels}`` of its camera-only depth on ``samples`` evenly spaced frames of ``video`` (a
    :class:`~depth_core.data.video.VideoView`). Every estimator is scored on the same pixels: those
    that all of them see from a context frame."""
    picks = np.unique(np.linspace(0, len(video) - 1, max(1, min(samples, len(video)))).round().astype(int))
    errors = {label: [] for label in estimators}
    scored = []
    for i in picks:
        sample = video[int(i)]
        maps = {label: reprojection_error_map(est.predict(sample["rgb"], sample["K"], None).depth, sample)
                for label, est in estimators.items()}
        common = np.logical_and.reduce([np.isfinite(m) for m in maps.values()])
        if not common.any():
            continue
        scored.append(float(common.mean()))
        for label, m in maps.items():
            errors[label].append(float(m[common].mean()))
    return {label: {"photometric": float(np.mean(e)) if e else float("nan"), "images": len(e),
                    "scored": float(np.mean(scored)) if scored else 0.0} for label, e in errors.items()}

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
    from its context frames through ``depth`` [H,W] metres, without auto-masking (0 where no
    context frame sees the pixel)."""
    image = torch.from_numpy(sample["rgb"].transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    contexts = torch.stack([torch.from_numpy(c.transpose(2, 0, 1).astype(np.float32) / 255.0)
                            for c in sample["context"]])[None]
    T = torch.from_numpy(np.stack(sample["T_ctx_cam"]).astype(np.float32))[None]
    K = torch.from_numpy(np.asarray(sample["K"], np.float32))[None]
    d = torch.from_numpy(np.nan_to_num(np.asarray(depth, np.float32), nan=0.0))[None, None].clamp(min=1e-3)
    with torch.no_grad():
        _, error = reprojection_loss(image, contexts, d, K, T, automask=False)
    return error[0, 0].numpy()


def photometric_metrics(estimator, video, samples: int) -> dict:
    """``{"photometric": mean error, "images": n}`` of the estimator's camera-only depth on ``samples``
    evenly spaced frames of ``video`` (a :class:`~depth_core.data.video.VideoView`)."""
    picks = np.unique(np.linspace(0, len(video) - 1, max(1, min(samples, len(video)))).round().astype(int))
    errors = []
    for i in picks:
        sample = video[int(i)]
        depth = estimator.predict(sample["rgb"], sample["K"], None).depth
        error = reprojection_error_map(depth, sample)
        seen = error > 0
        if seen.any():
            errors.append(float(error[seen].mean()))
    return {"photometric": float(np.mean(errors)) if errors else float("nan"), "images": len(errors)}

"""Image and depth files: RGB PNGs and KITTI-style 16-bit depth PNGs (value / 256 = metres,
0 = invalid). Every failure names the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["DEPTH_PNG_MAX", "DataFileError", "read_depth_png", "read_rgb", "write_depth_png", "write_rgb_png"]

DEPTH_PNG_MAX = 65535 / 256.0  # the largest depth a KITTI depth PNG can hold, metres


class DataFileError(Exception):
    """A data file is missing, unreadable or not in the expected format."""


def write_rgb_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB [H,W,3] uint8 image as PNG."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{path}: expected RGB [H,W,3] uint8, got {rgb.dtype} {rgb.shape}")
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise DataFileError(f"{path}: could not write PNG")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB [H,W,3] uint8."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFileError(f"{path}: missing or not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_depth_png(path: str | Path, depth: np.ndarray) -> None:
    """Write depth [H,W] in metres as a 16-bit PNG holding ``round(depth * 256)``.

    Non-finite, non-positive and too-far (> ``DEPTH_PNG_MAX``) depths are stored as 0 (invalid).
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"{path}: expected depth [H,W], got shape {depth.shape}")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0) & (depth <= DEPTH_PNG_MAX)
    value = np.where(valid, np.round(np.where(valid, depth, 0) * 256.0), 0)
    if not cv2.imwrite(str(path), value.astype(np.uint16)):
        raise DataFileError(f"{path}: could not write PNG")


def read_depth_png(path: str | Path) -> np.ndarray:
    """Read a 16-bit depth PNG as float32 metres [H,W], 0 where invalid."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataFileError(f"{path}: missing or not a readable PNG")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise DataFileError(
            f"{path}: expected a single-channel 16-bit depth PNG (value/256 = metres), "
            f"got {raw.dtype} with shape {raw.shape}"
        )
    return raw.astype(np.float32) / 256.0

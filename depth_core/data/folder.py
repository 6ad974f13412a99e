"""A generic folder of RGB images and depth maps, for users' own data:

    ROOT/rgb/<name>.png|jpg          colour images
    ROOT/depth/<name>.png|npy        ground truth: 16-bit PNG (``depth_scale`` metres per unit,
                                     default 1/256 as KITTI; 0.001 for millimetres) or float .npy metres
    ROOT/sparse/<name>.png|npy       optional sparse input, same encodings
    ROOT/intrinsics.json             {"K": [[fx,0,cx],[0,fy,cy],[0,0,1]]}, or per image <name>.json
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..geometry import validate_intrinsic_matrix
from .io import DataFileError, read_rgb

__all__ = ["FolderDataset"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read_depth(path: Path, scale: float) -> np.ndarray:
    if path.suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFileError(f"{path}: not a readable .npy array ({exc})") from None
        if depth.ndim != 2:
            raise DataFileError(f"{path}: expected a [H,W] depth array, got shape {depth.shape}")
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0).astype(np.float32)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise DataFileError(f"{path}: expected a single-channel 16-bit depth PNG")
    return raw.astype(np.float32) * scale


class FolderDataset:
    def __init__(self, root: str | Path, depth_scale: float = 1 / 256.0, label: str = "folder") -> None:
        self.root = Path(root)
        self.scale, self.label = depth_scale, label
        if not (self.root / "rgb").is_dir():
            raise DataFileError(f"{self.root / 'rgb'}: folder not found (expected ROOT/rgb and ROOT/depth)")
        self.samples = []
        for image in sorted(p for p in (self.root / "rgb").iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
            depth = next((self.root / "depth" / f"{image.stem}{s}" for s in (".png", ".npy")
                          if (self.root / "depth" / f"{image.stem}{s}").is_file()), None)
            if depth is not None:
                self.samples.append((image, depth))
        if not self.samples:
            raise DataFileError(f"{self.root}: no rgb/<name> with a matching depth/<name>.png or .npy")
        shared = self.root / "intrinsics.json"
        self.K = self._read_K(shared) if shared.is_file() else None

    @staticmethod
    def _read_K(path: Path) -> np.ndarray:
        try:
            return validate_intrinsic_matrix(json.loads(path.read_text())["K"], f"{path}: K")
        except (OSError, KeyError, json.JSONDecodeError, ValueError) as exc:
            raise DataFileError(f"{path}: expected {{'K': 3x3 intrinsic matrix}} ({exc})") from None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        image, depth_path = self.samples[i]
        own = self.root / "rgb" / f"{image.stem}.json"
        K = self._read_K(own) if own.is_file() else self.K
        if K is None:
            raise DataFileError(f"{self.root}: no intrinsics.json and no rgb/{image.stem}.json")
        rgb, depth = read_rgb(image), _read_depth(depth_path, self.scale)
        sparse = np.zeros_like(depth)
        for suffix in (".png", ".npy"):
            candidate = self.root / "sparse" / f"{image.stem}{suffix}"
            if candidate.is_file():
                sparse = _read_depth(candidate, self.scale)
        if depth.shape != rgb.shape[:2] or sparse.shape != depth.shape:
            raise DataFileError(f"{depth_path}: depth is {depth.shape[::-1]} but {image.name} is {rgb.shape[1::-1]}")
        return {"rgb": rgb, "depth": depth, "sparse_depth": sparse, "ring": None, "K": K, "T_cam_lidar": None,
                "T_world_base": None, "label": self.label, "id": image.stem}

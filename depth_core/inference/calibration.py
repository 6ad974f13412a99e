"""Sample inputs for INT8 calibration, prepared exactly as the estimator prepares inputs.

TensorRT's entropy calibration runs these through the FP32 network and picks per-tensor ranges
that keep the activations' distributions, so they must look like what the robot will see:

- a **frame set** (``depth-core simulate`` or ``depth-ros-dataset`` output, with ``dataset.json``):
  images, intrinsics and the projected LiDAR. For models that take sparse depth, every other
  sample goes in without its points, so that both prediction-mode and completion-mode activation
  ranges are calibrated (SAN's sparse branch is silent in one and active in the other);
- a **folder of images** (searched recursively for .png/.jpg): images only, prediction mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..data.io import read_rgb
from .preprocess import prepare_inputs

__all__ = ["CalibrationError", "CalibrationSet"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class CalibrationError(ValueError):
    """No usable calibration set."""


class CalibrationSet:
    """``samples`` evenly spaced inputs from ``source`` at ``height`` x ``width``: iterate for
    (image [1,3,h,w] float32 in [0,1], sparse [1,1,h,w] float32 metres) pairs."""

    def __init__(self, source: str | Path | None, height: int, width: int, *, samples: int = 200,
                 sparse: bool = True) -> None:
        if source is None or str(source) == "":
            raise CalibrationError("INT8 needs a calibration set (--calibration DIR): a frame set written by "
                                   "`depth-core simulate` / `depth-ros-dataset`, or a folder of images like the "
                                   "robot's camera sees")
        self.source = Path(source)
        if not self.source.exists():
            raise CalibrationError(f"{self.source}: calibration set not found")
        if samples < 1:
            raise CalibrationError(f"calibration samples: expected >= 1, got {samples}")
        self.height, self.width, self.sparse, self.samples = height, width, sparse, samples
        self.frames = None
        if (self.source / "dataset.json").is_file():
            from ..data import DataFileError, FrameDataset

            try:
                self.frames = FrameDataset(self.source)
            except DataFileError as exc:
                raise CalibrationError(f"calibration set: {exc}") from None
            count = len(self.frames)
            self.kind = "frame set"
        elif self.source.is_dir():
            self.images = sorted(p for p in self.source.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
            count = len(self.images)
            self.kind = "image folder"
            if count == 0:
                raise CalibrationError(f"{self.source}: no .png or .jpg images (searched recursively), and no "
                                       "dataset.json of a frame set")
        else:
            raise CalibrationError(f"{self.source}: expected a folder (a frame set or images), got a file")
        n = min(samples, count)
        self.indices = np.unique(np.linspace(0, count - 1, n).round().astype(int)).tolist()

    def __len__(self) -> int:
        return len(self.indices)

    def describe(self) -> str:
        modes = " (every other one without LiDAR)" if self.frames is not None and self.sparse else ""
        return f"{len(self)} samples of the {self.kind} {self.source}{modes}"

    def _files(self, i: int) -> list[Path]:
        if self.frames is None:
            return [self.images[i]]
        sequence, index = self.frames.samples[i]
        folder = self.source / sequence
        return [folder / "image" / f"{index:06d}.png", folder / "sparse" / f"{index:06d}.png"]

    def fingerprint(self) -> str:
        """SHA-256 over the chosen files' contents and the preparation: an INT8 engine is only
        as valid as the data it was calibrated on."""
        digest = hashlib.sha256(f"calibration-v1|{self.height}x{self.width}|{self.sparse}|".encode())
        for i in self.indices:
            for path in self._files(i):
                if path.is_file():
                    digest.update(path.relative_to(self.source).as_posix().encode())
                    digest.update(path.read_bytes())
        return digest.hexdigest()

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for n, i in enumerate(self.indices):
            if self.frames is None:
                rgb = read_rgb(self.images[i])
                H, W = rgb.shape[:2]
                K = np.array([[W, 0, W / 2 - 0.5], [0, W, H / 2 - 0.5], [0, 0, 1]], np.float64)
                sparse = None
            else:
                sample = self.frames[i]
                rgb, K = sample["rgb"], sample["K"]
                sparse = sample["sparse_depth"] if self.sparse and n % 2 == 0 else None
            image, sparse_net, _, _ = prepare_inputs(rgb, K, sparse, self.height, self.width)
            yield np.ascontiguousarray(image), np.ascontiguousarray(sparse_net)

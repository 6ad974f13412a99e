"""Sample inputs for INT8 calibration, prepared exactly as the estimator prepares inputs
(:func:`~.preprocess.network_inputs`: resized with the aspect ratio kept, padded, and the LiDAR
in the network's canonical depth units for canonical-camera models).

INT8 calibration (TensorRT's entropy calibrator, ONNX Runtime's static quantisation) runs these
through the float network and picks per-tensor activation ranges, so they must look like what
the robot will see:

- **nothing given: the built-in set.** Simulated frames rendered at the network's input size,
  one random rig (camera, lens, LiDAR, mounting) and one random look per world, every world
  type, generated once per input size into the cache (about 30 s, in this process). No user data is needed;

- a **frame set** (``depth-core simulate`` or ``depth-ros-dataset`` output, with ``dataset.json``):
  images, intrinsics and the projected LiDAR. For models that take sparse depth, every other
  sample goes in without its points, so that both prediction-mode and completion-mode activation
  ranges are calibrated (SAN's sparse branch is silent in one and active in the other);
- a **folder of images** (searched recursively for .png/.jpg): images only, prediction mode.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..data.io import read_rgb
from ..export import cache_dir
from .preprocess import fit_size, network_inputs

__all__ = ["BUILTIN_CALIBRATION", "CalibrationError", "CalibrationSet", "builtin_calibration_set"]

log = logging.getLogger("depth_core.inference")

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BUILTIN_CALIBRATION = "builtin"
# The built-in set: frames per world type, in worlds of this many frames, from this seed. A
# change here makes new files, hence new fingerprints: every INT8 graph and engine is redone.
_BUILTIN_FRAMES, _BUILTIN_WORLD_FRAMES, _BUILTIN_SEED = 6, 2, 20261205


def builtin_calibration_set(height: int, width: int, *, cache: str | Path | None = None,
                            progress: bool = True) -> Path:
    """The built-in calibration frame set for a network input of ``height`` x ``width``:
    simulated frames of every world type at exactly that size, each world with its own random
    rig and look (see :mod:`depth_core.data.simulated`); generated on first use, then cached."""
    from ..data import write_simulated_dataset
    from ..sim import SCENES

    root = Path(cache or cache_dir()) / "calibration" / f"builtin_v1_{height}x{width}"
    if (root / "dataset.json").is_file():
        return root
    # Processes that need it at once (two INT8 nodes started together) render it once: the first
    # holds the lock while it writes, the others wait for it and find it done.
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (root / "dataset.json").is_file():
                log.info("INT8: rendering the built-in calibration set at %dx%d (%d simulated frames, random rigs and "
                         "looks; once, cached at %s)", width, height, _BUILTIN_FRAMES * len(SCENES), root)
                write_simulated_dataset(root, SCENES, _BUILTIN_FRAMES, seed=_BUILTIN_SEED,
                                        sequence_length=_BUILTIN_WORLD_FRAMES, width=width, height=height,
                                        rigs="random", appearance=True, workers=1, progress=progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return root


class CalibrationError(ValueError):
    """No usable calibration set."""


class CalibrationSet:
    """``samples`` evenly spaced inputs from ``source`` at ``height`` x ``width`` (the network's
    input, padded): iterate for (image [1,3,h,w] float32 in [0,1], sparse [1,1,h,w] float32)
    pairs, the sparse depth in metres, or with ``canonical_focal`` in the canonical camera's
    units, as the network is fed. ``source`` None or ``"builtin"``: the built-in simulated set."""

    def __init__(self, source: str | Path | None, height: int, width: int, *, samples: int = 200,
                 sparse: bool = True, canonical_focal: float | None = None, cache: str | Path | None = None,
                 progress: bool = True) -> None:
        self.builtin = source is None or str(source) in ("", BUILTIN_CALIBRATION)
        if self.builtin:
            source = builtin_calibration_set(height, width, cache=cache, progress=progress)
        self.canonical_focal = canonical_focal
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
        kind = f"built-in simulated {self.kind}" if self.builtin else self.kind
        units = f", depth in canonical units (focal {self.canonical_focal:g} px)" if self.canonical_focal else ""
        return f"{len(self)} samples of the {kind} {self.source}{modes}{units}"

    def _files(self, i: int) -> list[Path]:
        if self.frames is None:
            return [self.images[i]]
        sequence, index = self.frames.samples[i]
        folder = self.source / sequence
        return [folder / "image" / f"{index:06d}.png", folder / "sparse" / f"{index:06d}.png"]

    def fingerprint(self) -> str:
        """SHA-256 over the chosen files' contents and the preparation: an INT8 engine is only
        as valid as the data it was calibrated on."""
        # v2: the sparse depth in the network's canonical units (v1 fed metres to canonical models).
        digest = hashlib.sha256(f"calibration-v2|{self.height}x{self.width}|{self.sparse}|"
                                f"{self.canonical_focal}|".encode())
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
            H, W = rgb.shape[:2]
            padded = (self.height, self.width)
            resized = fit_size(H, W, padded) if self.canonical_focal else padded
            image, sparse_net, *_ = network_inputs(rgb, K, sparse, resized, padded, self.canonical_focal)
            yield np.ascontiguousarray(image), np.ascontiguousarray(sparse_net)

"""The estimator that the node and the replay call (:func:`~.loading.load_estimator` makes one):

    est = load_estimator("default", backend="auto")
    result = est.predict(rgb, K, sparse_depth)      # DepthResult(depth, confidence, mode)

``predict`` validates its inputs, resizes them to the model's input size (intrinsics kept
consistent, sparse points re-binned), runs the backend, and maps depth back to the input
resolution with NaN for invalid pixels: one implementation for every backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..models import ModelConfig
from .backend import Backend
from .preprocess import InputError, canonical_size, check_inputs, network_inputs, restore_depth, used_region

__all__ = ["DepthEstimator", "DepthResult"]

log = logging.getLogger("depth_core.inference")


@dataclass
class DepthResult:
    """Depth [H,W] float32 metres at the input resolution (NaN = invalid), optional confidence
    [H,W], ``mode`` 'prediction' (image only) or 'completion' (sparse depth used), and how many
    sparse points went in."""

    depth: np.ndarray
    confidence: np.ndarray | None
    mode: str
    n_points: int = 0
    timings: dict = field(default_factory=dict)   # seconds: preprocess, inference, postprocess


class DepthEstimator:
    """Runs ``backend`` on images of any size. ``runner_for(size)``: the backend for a network
    input size, for canonical-camera models, whose input size follows each camera's aspect ratio
    (built on first use, then kept)."""

    def __init__(self, backend: Backend, *, name: str, config: ModelConfig | None,
                 input_size: tuple[int, int] | None,
                 runner_for: Callable[[tuple[int, int]], Backend] | None = None) -> None:
        self.backend = backend
        self.name = name
        self.config = config
        self.uses_sparse_depth = "sparse_depth" in backend.inputs
        self.input_size = input_size  # (height, width); None: the input's own size
        self.canonical = config is not None and config.canonical_focal is not None
        self._runner_for = runner_for
        self._runners: dict[tuple[int, int], Backend] = {}
        if runner_for is not None and input_size is not None:
            self._runners[tuple(input_size)] = backend   # built at load for the reference size

    @property
    def description(self) -> str:
        if self.canonical:
            size = ("native size" if self.input_size is None else
                    f"about {self.input_size[0] * self.input_size[1]} pixels")
            size += f", aspect kept, canonical focal {self.config.canonical_focal:g} px"
        else:
            size = "native size" if self.input_size is None else f"{self.input_size[1]}x{self.input_size[0]}"
        extra = f" {self.backend.detail}" if self.backend.detail else ""
        return f"{self._model_name()} on {self.backend.name}{extra} at {size}"

    def close(self) -> None:
        """Close the backend and every backend built for a camera's size, each once. They stay
        in place, closed: a ``predict`` after it fails on them instead of building new ones."""
        for backend in {id(b): b for b in (self.backend, *self._runners.values())}.values():
            backend.close()

    def _model_name(self) -> str:
        # A model file's name may say nothing ("model.safetensors"): add the family it holds.
        if self.config is not None and self.config.name != self.name:
            return f"{self.name} ({self.config.name})"
        return self.name

    def network_size(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Where an image of ``height`` x ``width`` runs: ``(resized, padded)`` sizes (h, w)."""
        if not self.canonical:
            size = self.input_size or (height, width)
            return size, size
        pixels = None if self.input_size is None else self.input_size[0] * self.input_size[1]
        return canonical_size(height, width, pixels)

    def prepared(self, height: int, width: int) -> bool:
        """Whether images of ``height`` x ``width`` run without first preparing a backend."""
        return self._runner_for is None or self.network_size(height, width)[1] in self._runners

    def prepare(self, height: int, width: int) -> None:
        """Prepare the backend for images of ``height`` x ``width`` now (an export, a session or an
        engine per network input size), rather than on the first such image."""
        self._runner(self.network_size(height, width)[1])

    def _runner(self, size: tuple[int, int]) -> Backend:
        if self._runner_for is None:
            return self.backend
        if size not in self._runners:
            log.info("%s: first %dx%d network input (aspect kept): preparing the backend for it", self.name,
                     size[1], size[0])
            self._runners[size] = self._runner_for(size)
        return self._runners[size]

    def predict(self, rgb: np.ndarray, K, sparse_depth: np.ndarray | None = None, *,
                sparse_points: np.ndarray | None = None) -> DepthResult:
        """Depth for one image. The LiDAR comes either as ``sparse_depth`` [H,W] (metres, 0/NaN =
        none) at the image's resolution, or as ``sparse_points`` [N,3] in the camera optical frame,
        which are projected straight at the network's input size (z-buffer; cheaper than projecting
        at the image's size and re-binning, which is what the node does every frame)."""
        t0 = time.perf_counter()
        rgb, K, sparse_depth = check_inputs(rgb, K, sparse_depth)
        if sparse_points is not None and sparse_depth is not None:
            raise InputError("give sparse_depth or sparse_points, not both")
        H, W = rgb.shape[:2]
        # Native size without a canonical camera: the networks pad to their stride themselves.
        (h, w), padded = self.network_size(H, W)
        points = None
        if sparse_points is not None:
            points = np.asarray(sparse_points)
            if points.ndim != 2 or points.shape[1] != 3 or not np.issubdtype(points.dtype, np.floating):
                raise InputError(f"sparse_points: expected [N,3] float metres, got {points.dtype} {points.shape}")
        if not self.uses_sparse_depth:
            sparse_depth = points = None
        # Canonical camera: metric depth d is d * canonical / f for the network (and back).
        image, sparse, _, n_points, to_canonical = network_inputs(
            rgb, K, sparse_depth, (h, w), padded, self.config.canonical_focal if self.canonical else None, points)
        if n_points == 0 and "image" not in self.backend.inputs:   # it cannot predict without points
            return DepthResult(np.full((H, W), np.nan, np.float32), None, "prediction", 0)
        backend = self._runner(padded)
        t1 = time.perf_counter()
        out = backend.run(image, sparse)
        t2 = time.perf_counter()
        max_depth = self.config.max_depth / to_canonical if self.config else None
        depth = out["depth"][0, 0, :h, :w]
        if self.canonical:
            depth = depth * np.float32(1.0 / to_canonical)
        used = used_region(H, W, h, w)
        depth = restore_depth(depth, H, W, max_depth, used, guide=rgb, guide_small=image)
        confidence = out.get("confidence")
        if confidence is not None:
            confidence = restore_depth(confidence[0, 0, :h, :w], H, W, used=used)
        timings = {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": time.perf_counter() - t2}
        return DepthResult(depth, confidence, "completion" if n_points else "prediction", n_points, timings)

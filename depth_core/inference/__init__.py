"""Running depth models: ``load_estimator(model, backend).predict(rgb, K, sparse_depth)``."""

from __future__ import annotations

from .backends import BackendError, ClassicalBackend, OnnxRuntimeBackend, TorchBackend, cache_dir
from .classical import ip_basic_complete, nearest_fill
from .estimator import BACKENDS, DEFAULT_MODEL, DepthEstimator, DepthResult, cached_onnx, load_estimator
from .preprocess import InputError, check_inputs, prepare_inputs, resize_sparse_depth, restore_depth

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "BackendError",
    "ClassicalBackend",
    "DepthEstimator",
    "DepthResult",
    "InputError",
    "OnnxRuntimeBackend",
    "TorchBackend",
    "cache_dir",
    "cached_onnx",
    "check_inputs",
    "ip_basic_complete",
    "load_estimator",
    "nearest_fill",
    "prepare_inputs",
    "resize_sparse_depth",
    "restore_depth",
]

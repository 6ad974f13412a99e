"""Running depth models: ``load_estimator(model, backend).predict(rgb, K, sparse_depth)``."""

from __future__ import annotations

from .backends import BackendError, ClassicalBackend, OnnxRuntimeBackend, TorchBackend, cache_dir
from .calibration import CalibrationError, CalibrationSet
from .classical import ip_basic_complete, nearest_fill
from .engine_cache import CorruptEngineError, EngineError, EngineSpec, Platform, StaleEngineError
from .estimator import (
    BACKENDS,
    DEFAULT_MODEL,
    DepthEstimator,
    DepthResult,
    build_model_engine,
    cached_onnx,
    load_estimator,
)
from .preprocess import InputError, check_inputs, prepare_inputs, resize_sparse_depth, restore_depth

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "BackendError",
    "CalibrationError",
    "CalibrationSet",
    "ClassicalBackend",
    "CorruptEngineError",
    "DepthEstimator",
    "DepthResult",
    "EngineError",
    "EngineSpec",
    "InputError",
    "OnnxRuntimeBackend",
    "Platform",
    "StaleEngineError",
    "TorchBackend",
    "build_model_engine",
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

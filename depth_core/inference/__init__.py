"""Running depth models: ``load_estimator(model, backend).predict(rgb, K, sparse_depth)``.

:mod:`.loading` makes estimators, :mod:`.estimator` runs them; each backend (:class:`Backend`)
has its module: :mod:`.torch_backend`, :mod:`.onnxruntime_backend`, :mod:`.classical` and the
:mod:`.tensorrt` package."""

from __future__ import annotations

from ..export import cache_dir, cached_onnx
from .backend import Backend, BackendError
from .calibration import CalibrationError, CalibrationSet
from .classical import ClassicalBackend, ip_basic_complete, nearest_fill
from .estimator import DepthEstimator, DepthResult
from .loading import (
    BACKENDS,
    DEFAULT_MODEL,
    PRECISION_CHOICES,
    SUPPORTED_PRECISIONS,
    build_model_engine,
    load_estimator,
)
from .onnxruntime_backend import OnnxRuntimeBackend
from .preprocess import InputError, check_inputs, prepare_inputs, resize_sparse_depth, restore_depth
from .tensorrt import CorruptEngineError, EngineError, EngineSpec, Platform, StaleEngineError
from .torch_backend import TorchBackend

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "PRECISION_CHOICES",
    "SUPPORTED_PRECISIONS",
    "Backend",
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

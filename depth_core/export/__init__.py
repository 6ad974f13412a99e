"""Model export: one checked ONNX graph per model and input size (:mod:`.onnx`), which ONNX
Runtime runs and TensorRT engines are built from, and the per-user cache of the exports the
estimator makes for itself (:mod:`.cache`)."""

from __future__ import annotations

from .cache import cache_dir, cached_onnx, model_source_files, onnx_cache_key
from .onnx import (
    CONFIG_KEY,
    ExportError,
    export_onnx,
    float32_scopes,
    onnx_float32_scopes,
    onnx_inputs,
    read_onnx_config,
)

__all__ = [
    "CONFIG_KEY",
    "ExportError",
    "cache_dir",
    "cached_onnx",
    "export_onnx",
    "float32_scopes",
    "model_source_files",
    "onnx_cache_key",
    "onnx_float32_scopes",
    "onnx_inputs",
    "read_onnx_config",
]

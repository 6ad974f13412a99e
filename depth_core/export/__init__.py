"""Model export: ONNX now; TensorRT engines are built from these ONNX graphs."""

from __future__ import annotations

from .onnx import CONFIG_KEY, ExportError, export_onnx, read_onnx_config

__all__ = ["CONFIG_KEY", "ExportError", "export_onnx", "read_onnx_config"]

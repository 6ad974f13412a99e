"""TensorRT 10 deployment: building engines (:mod:`.build`), the engine sidecar and the rebuild
policy (:mod:`.engine_cache`), the ``tensorrt`` backend (:mod:`.runtime`), and TensorRT and CUDA
themselves (:mod:`.cuda`).

TensorRT and a CUDA device API (torch's CUDA build, or pycuda) are optional: this package imports
without them, nothing imports ``tensorrt`` until a TensorRT path is asked for, and
:func:`tensorrt_unavailable` says why one cannot run. Install with ``pip install
'depth_ros[tensorrt]'`` (or ``[tensorrt-pycuda]`` where torch has no CUDA).

Every engine built here gets a sidecar; every engine loaded is checked against this machine first,
and a stale one is rebuilt from its ONNX graph or refused, never run.
"""

from __future__ import annotations

from .build import build_engine, profile_shapes
from .cuda import INSTALL_HINT, current_platform, tensorrt_unavailable
from .engine_cache import (
    CorruptEngineError,
    EngineError,
    EngineSpec,
    Platform,
    StaleEngineError,
    cached_engine,
    open_cached_engine,
    open_engine,
)
from .runtime import TensorRTBackend

__all__ = [
    "INSTALL_HINT",
    "CorruptEngineError",
    "EngineError",
    "EngineSpec",
    "Platform",
    "StaleEngineError",
    "TensorRTBackend",
    "build_engine",
    "cached_engine",
    "current_platform",
    "open_cached_engine",
    "open_engine",
    "profile_shapes",
    "tensorrt_unavailable",
]

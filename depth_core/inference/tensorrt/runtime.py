"""The ``tensorrt`` backend: runs a verified engine with named I/O tensors and
``execute_async_v3`` on a CUDA stream."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..backend import BackendError
from .cuda import current_platform, import_tensorrt, open_cuda, trt_logger
from .engine_cache import INPUT_CHANNELS, CorruptEngineError, EngineError, Platform, verify_engine

__all__ = ["TensorRTBackend"]


class TensorRTBackend:
    """Runs a verified engine: named I/O tensors, device buffers allocated once per input shape
    (re-bound when the shape changes within a dynamic profile), pinned host staging, and one
    ``execute_async_v3`` on a CUDA stream per batch."""

    name = "tensorrt"

    def __init__(self, path: str | Path, *, platform: Platform | None = None) -> None:
        trt = import_tensorrt()
        self.trt = trt
        self.path = Path(path)
        self.cuda = open_cuda()
        platform = platform or current_platform(self.cuda)
        self.record = verify_engine(self.path, platform)
        self.precision = self.record["precision"]
        self.platform = platform
        self.cuda.enter()
        try:
            self.runtime = trt.Runtime(trt_logger(trt))
            self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise CorruptEngineError(f"{self.path}: TensorRT {platform.tensorrt_version} cannot deserialize it "
                                         "(see the TensorRT error above)")
            self.context = self.engine.create_execution_context()
            if self.context is None:
                raise BackendError(f"{self.path}: TensorRT could not create an execution context (GPU memory?)")
        finally:
            self.cuda.leave()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in inputs]
        if "image" not in inputs or not set(inputs) <= set(INPUT_CHANNELS) or "depth" not in self.outputs:
            raise EngineError(f"{self.path}: expected inputs image (and sparse_depth) and output depth, found "
                              f"inputs {inputs} and outputs {self.outputs}")
        self.inputs = frozenset(inputs)
        self._inputs = inputs   # in the engine's order
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.profile = {n: [tuple(s) for s in self.engine.get_tensor_profile_shape(n, 0)] for n in inputs}
        self.shape: tuple | None = None
        self.buffers: dict[str, tuple] = {}
        # One execution context and one set of buffers: calls from several threads take turns.
        self.lock = threading.Lock()

    @property
    def detail(self) -> str:
        return f"[{self.precision.upper()}, {self.platform.describe()}]"

    def close(self) -> None:
        """Free the buffers, context and engine at once, inside their CUDA context (pycuda cannot
        free device memory from outside it)."""
        with self.lock:
            self.cuda.enter()
            try:
                self.buffers = {}
                self.shape = None
                self.context = self.engine = None
            finally:
                self.cuda.leave()

    def _bind(self, shapes: dict[str, tuple]) -> None:
        for name, shape in shapes.items():   # all checked before the context changes
            low, _, high = self.profile[name]
            if len(shape) != len(low) or any(s < lo or s > hi for s, lo, hi in zip(shape, low, high)):
                raise BackendError(f"{self.path}: input '{name}' of shape {list(shape)} is outside the engine's "
                                   f"profile {list(low)}..{list(high)}; build an engine for this size "
                                   "(depth-core build-engine --input-size WxH, or --dynamic with --max-size)")
        self.shape = None
        for name, shape in shapes.items():
            if not self.context.set_input_shape(name, shape):
                raise BackendError(f"{self.path}: TensorRT refused shape {list(shape)} for '{name}'")
        self.buffers = {}
        for name in self._inputs + self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            host = self.cuda.host_empty(shape, self.dtypes[name])
            device = self.cuda.device_empty(shape, self.dtypes[name])
            self.context.set_tensor_address(name, self.cuda.ptr(device))
            self.buffers[name] = (host, device)
        self.shape = tuple(shapes["image"])

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"image": image, "sparse_depth": sparse}
        with self.lock:
            if self.context is None:
                raise BackendError(f"{self.path}: this TensorRT backend was closed")
            return self._run(feeds, image.shape)

    def _run(self, feeds: dict, shape: tuple) -> dict[str, np.ndarray]:
        self.cuda.enter()
        try:
            if shape != self.shape:
                self._bind({n: feeds[n].shape for n in self._inputs})
            for name in self._inputs:
                host, device = self.buffers[name]
                np.copyto(self.cuda.host_view(host), feeds[name], casting="same_kind")
                self.cuda.upload(host, device)
            if not self.context.execute_async_v3(self.cuda.stream_handle()):
                raise BackendError(f"{self.path}: TensorRT execution failed (see the TensorRT error above)")
            for name in self.outputs:
                host, device = self.buffers[name]
                self.cuda.download(device, host)
            self.cuda.synchronize()
            # Copies: the pinned buffers are reused by the next call.
            return {n: self.cuda.host_view(self.buffers[n][0]).astype(np.float32, copy=True) for n in self.outputs
                    if n in ("depth", "confidence")}
        finally:
            self.cuda.leave()

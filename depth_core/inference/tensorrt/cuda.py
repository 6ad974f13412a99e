"""TensorRT itself and the CUDA device it runs on: importing TensorRT 10 (or saying why it cannot
be), its logger, device and pinned host memory and a stream through torch's CUDA build or
pycuda, and the :class:`~.engine_cache.Platform` an engine is built for.

TensorRT and pycuda are optional, and imported inside the functions that need them (never at
module import), so that this package imports on any machine and :func:`tensorrt_unavailable`
can say why TensorRT cannot run instead of an import failing.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..backend import BackendError
from .engine_cache import Platform

__all__ = [
    "INSTALL_HINT",
    "SUPPORTED_MAJOR",
    "PyCuda",
    "TorchCuda",
    "current_platform",
    "import_tensorrt",
    "open_cuda",
    "tensorrt_unavailable",
    "trt_logger",
]

log = logging.getLogger("depth_core.inference")

INSTALL_HINT = ("pip install 'depth_ros[tensorrt]' on a machine with an NVIDIA GPU and driver; on Jetson, "
                "TensorRT 10 comes with JetPack 6.1 or later")
SUPPORTED_MAJOR = 10


def import_tensorrt():
    """The ``tensorrt`` module, or a :class:`BackendError` saying why it cannot be used."""
    try:
        import tensorrt as trt  # optional (a GPU-only extra): imported when a TensorRT path is asked for
    except ImportError as exc:   # also a tensorrt whose shared libraries are missing
        raise BackendError(f"TensorRT is not available here: the tensorrt Python package is not installed "
                           f"({INSTALL_HINT})") from exc
    except OSError as exc:
        raise BackendError(f"TensorRT is not available here: its libraries do not load ({exc})") from exc
    major = int(str(trt.__version__).split(".")[0])
    if major != SUPPORTED_MAJOR:
        raise BackendError(f"TensorRT {trt.__version__} is installed; depth_ros uses the TensorRT "
                           f"{SUPPORTED_MAJOR} API (pip install 'tensorrt>={SUPPORTED_MAJOR},<{SUPPORTED_MAJOR + 1}')")
    return trt


_LOGGER = None


def trt_logger(trt):
    """One TensorRT logger per process, forwarding warnings and errors to Python logging."""
    global _LOGGER
    if _LOGGER is None:
        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity, msg) -> None:
                levels = trt.ILogger.Severity
                if severity in (levels.INTERNAL_ERROR, levels.ERROR):
                    log.error("TensorRT: %s", msg)
                elif severity == levels.WARNING:
                    log.warning("TensorRT: %s", msg)
                else:
                    log.debug("TensorRT: %s", msg)

        _LOGGER = _Logger()
    return _LOGGER


class TorchCuda:
    """Device and pinned host buffers and a stream through torch (already a dependency)."""

    api = "torch"

    def __init__(self, index: int = 0) -> None:
        if not torch.cuda.is_available():
            raise BackendError("torch has no CUDA device here")
        self.device = torch.device("cuda", index)
        self.stream = torch.cuda.Stream(self.device)

    def properties(self) -> tuple[str, str]:
        p = torch.cuda.get_device_properties(self.device)
        return p.name, f"{p.major}.{p.minor}"

    def stream_handle(self) -> int:
        return self.stream.cuda_stream

    def device_empty(self, shape, dtype):
        return torch.empty(tuple(shape), dtype=self._dtype(dtype), device=self.device)

    def host_empty(self, shape, dtype):
        return torch.empty(tuple(shape), dtype=self._dtype(dtype), pin_memory=True)

    @staticmethod
    def _dtype(dtype):
        return torch.from_numpy(np.empty(0, dtype)).dtype

    @staticmethod
    def ptr(buffer) -> int:
        return buffer.data_ptr()

    @staticmethod
    def host_view(host) -> np.ndarray:
        return host.numpy()

    def upload(self, host, device) -> None:
        with torch.cuda.stream(self.stream):
            device.copy_(host, non_blocking=True)

    def download(self, device, host) -> None:
        with torch.cuda.stream(self.stream):
            host.copy_(device, non_blocking=True)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def enter(self) -> None:
        pass

    def leave(self) -> None:
        pass


class PyCuda:
    """The same through pycuda, for installs whose torch is a CPU build (e.g. a Jetson image)."""

    api = "pycuda"

    def __init__(self, index: int = 0) -> None:
        try:
            import pycuda.driver as cuda  # optional (the tensorrt-pycuda extra): only where torch has no CUDA
        except ImportError:
            raise BackendError(f"no CUDA device API: torch has no CUDA and pycuda is not installed ({INSTALL_HINT})"
                               ) from None
        try:
            cuda.init()
            self.dev = cuda.Device(index)
        except cuda.Error as exc:
            raise BackendError(f"no CUDA device: {exc}") from None
        self.cuda = cuda
        self.context = self.dev.retain_primary_context()
        self.enter()
        try:
            self.stream = cuda.Stream()
        finally:
            self.leave()

    def properties(self) -> tuple[str, str]:
        major, minor = self.dev.compute_capability()
        return self.dev.name(), f"{major}.{minor}"

    def stream_handle(self) -> int:
        return self.stream.handle

    def device_empty(self, shape, dtype):
        return self.cuda.mem_alloc(max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize))

    def host_empty(self, shape, dtype):
        return self.cuda.pagelocked_empty(tuple(shape), dtype)

    @staticmethod
    def ptr(buffer) -> int:
        return int(buffer)

    @staticmethod
    def host_view(host) -> np.ndarray:
        return host

    def upload(self, host, device) -> None:
        self.cuda.memcpy_htod_async(device, host, self.stream)

    def download(self, device, host) -> None:
        self.cuda.memcpy_dtoh_async(host, device, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    # pycuda contexts are per thread; the node runs inference on executor threads.
    def enter(self) -> None:
        self.context.push()

    def leave(self) -> None:
        self.cuda.Context.pop()


def open_cuda(index: int = 0):
    """The CUDA device ``index`` through torch, else through pycuda."""
    reasons = []
    for api in (TorchCuda, PyCuda):
        try:
            return api(index)
        except BackendError as exc:
            reasons.append(str(exc))
    raise BackendError("no CUDA GPU usable: " + "; ".join(reasons))


def tensorrt_unavailable() -> str | None:
    """None when TensorRT 10 and a CUDA GPU are usable here, else the reason (for logs)."""
    try:
        import_tensorrt()
        open_cuda()
    except BackendError as exc:
        return str(exc)
    return None


def current_platform(cuda=None) -> Platform:
    """This machine's GPU and TensorRT version (``cuda``: an open device, else device 0)."""
    trt = import_tensorrt()
    name, cc = (cuda or open_cuda()).properties()
    return Platform(gpu_name=name, compute_capability=cc, tensorrt_version=str(trt.__version__))

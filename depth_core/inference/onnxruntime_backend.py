"""The ``onnxruntime`` backend: an ONNX graph on ONNX Runtime's execution providers (TensorRT,
CUDA, CPU), and whether ONNX Runtime can run here at all.

``onnxruntime`` is imported where it is used, not at module import: it may be missing or be the
``onnxruntime-gpu`` build in its place, and a missing one must be a reason the auto backend
chain logs (or a :class:`BackendError`), not a failure to import :mod:`depth_core.inference`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .backend import BackendError

__all__ = ["GPU_PROVIDERS", "OnnxRuntimeBackend", "onnxruntime_unavailable"]

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def onnxruntime_unavailable(*, gpu: bool = False) -> str | None:
    """None when onnxruntime (with ``gpu``: one with a CUDA or TensorRT provider) is here, else why not."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if gpu and not set(ort.get_available_providers()) & set(GPU_PROVIDERS):
        return (f"this onnxruntime ({ort.__version__}) has no CUDA or TensorRT execution provider "
                "(pip install onnxruntime-gpu in place of onnxruntime)")
    return None


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: list | None = None, threads: int | None = None, *,
                 require_gpu: bool = False, precision: str = "fp32") -> None:
        """``providers``: ONNX Runtime execution providers in order of preference, names or
        (name, options) pairs; those this onnxruntime lacks are left out. ``require_gpu``: fail
        unless a CUDA or TensorRT provider actually started (ONNX Runtime silently falls back to
        the CPU when, for instance, the CUDA libraries are missing). ``precision``: what the
        graph at ``path`` runs in, for the log (an INT8 graph is a quantised file of its own)."""
        self.precision = precision
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("onnxruntime is not installed (pip install onnxruntime)") from None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spin-waiting after each run: on a robot the CPU is
        # shared with the rest of the pipeline (decode, LiDAR projection, pseudo-LiDAR) and with
        # other nodes, which spinning threads would starve.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        wanted = providers or ["CUDAExecutionProvider", "CPUExecutionProvider"]
        providers = [p for p in wanted if (p[0] if isinstance(p, tuple) else p) in available]
        providers = providers or ["CPUExecutionProvider"]
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            raise BackendError(f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from None
        self.providers = self.session.get_providers()
        if require_gpu and not set(self.providers) & set(GPU_PROVIDERS):
            raise BackendError(f"ONNX Runtime started only {self.providers}: its CUDA provider did not load "
                               "(CUDA or cuDNN libraries missing or mismatched?)")
        self.outputs = [o.name for o in self.session.get_outputs()]
        # Image-only models export without the (unused) sparse_depth input.
        self.inputs = frozenset(i.name for i in self.session.get_inputs())

    @property
    def detail(self) -> str:
        return f"{self.providers} {self.precision}"

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        if self.session is None:
            raise BackendError(f"{self.path}: this ONNX Runtime backend was closed")
        feeds = {"image": image, "sparse_depth": sparse}
        values = self.session.run(self.outputs, {k: v for k, v in feeds.items() if k in self.inputs})
        return dict(zip(self.outputs, values))

    def close(self) -> None:
        """Drop the session (ONNX Runtime frees its memory with it)."""
        self.session = None

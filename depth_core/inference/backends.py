"""Backends run a prepared batch: ``run(image [1,3,h,w] float32 in [0,1], sparse [1,1,h,w] float32
metres) -> {'depth': [1,1,h,w], 'confidence'?: [1,1,h,w]}`` as numpy. Pre- and post-processing
stay in the estimator, identical for all of them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .classical import ip_basic_complete

__all__ = ["GPU_PROVIDERS", "BackendError", "ClassicalBackend", "OnnxRuntimeBackend", "TorchBackend"]

log = logging.getLogger("depth_core.inference")

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class BackendError(RuntimeError):
    """A backend cannot run here or cannot run this model."""


class TorchBackend:
    name = "torch"

    def __init__(self, model, device: str | None = None) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(image).to(self.device)
            # Without any point the sparse branch cannot change the output (SAN's gate is 0), so
            # skip it: same result, about half the work.
            use_sparse = self.model.uses_sparse_depth and bool(np.any(sparse > 0))
            s = torch.from_numpy(sparse).to(self.device) if use_sparse else None
            out = self.model(x, s)
        return {k: out[k].float().cpu().numpy() for k in ("depth", "confidence") if k in out}


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, path: str | Path, providers: list | None = None, threads: int | None = None, *,
                 require_gpu: bool = False) -> None:
        """``providers``: ONNX Runtime execution providers in order of preference, names or
        (name, options) pairs; those this onnxruntime lacks are left out. ``require_gpu``: fail
        unless a CUDA or TensorRT provider actually started (ONNX Runtime silently falls back to
        the CPU when, for instance, the CUDA libraries are missing)."""
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
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.path = Path(path)

    @property
    def detail(self) -> str:
        return str(self.providers)

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"image": image, "sparse_depth": sparse}
        values = self.session.run(self.outputs, {k: v for k, v in feeds.items() if k in self.inputs})
        return dict(zip(self.outputs, values))


class ClassicalBackend:
    """IP-Basic completion from the sparse input alone (the image is not used)."""

    name = "classical"

    def __init__(self, max_depth: float = 100.0) -> None:
        self.max_depth = max_depth

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        return {"depth": ip_basic_complete(sparse[0, 0], self.max_depth)[None, None]}


def cache_dir() -> Path:
    """Where exported ONNX graphs and TensorRT engines are cached: ``$DEPTH_ROS_CACHE``,
    else ``$XDG_CACHE_HOME/depth_ros``, else ``~/.cache/depth_ros``."""
    if os.environ.get("DEPTH_ROS_CACHE"):
        return Path(os.environ["DEPTH_ROS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "depth_ros"

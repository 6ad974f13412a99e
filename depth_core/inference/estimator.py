"""The estimator API that the node and the replay call:

    est = load_estimator("default", backend="auto")
    result = est.predict(rgb, K, sparse_depth)      # DepthResult(depth, confidence, mode)

``predict`` validates its inputs, resizes them to the model's input size (intrinsics kept
consistent, sparse points re-binned), runs the backend, and maps depth back to the input
resolution with NaN for invalid pixels: one implementation for every backend.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry import project_points
from ..models import DepthModel, ModelConfig, create_model, list_models, load_model
from .backends import BackendError, ClassicalBackend, OnnxRuntimeBackend, TorchBackend, cache_dir
from .preprocess import InputError, check_inputs, prepare_inputs, restore_depth

__all__ = ["BACKENDS", "DEFAULT_MODEL", "DepthEstimator", "DepthResult", "load_estimator"]

log = logging.getLogger("depth_core.inference")

DEFAULT_MODEL = "san_resnet18"
BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch", "classical")


@dataclass
class DepthResult:
    """Depth [H,W] float32 metres at the input resolution (NaN = invalid), optional confidence
    [H,W], ``mode`` 'prediction' (image only) or 'completion' (sparse depth used), and how many
    sparse points went in."""

    depth: np.ndarray
    confidence: np.ndarray | None
    mode: str
    n_points: int = 0
    timings: dict = field(default_factory=dict)   # seconds: preprocess, inference, postprocess


class DepthEstimator:
    def __init__(self, backend, *, name: str, config: ModelConfig | None, uses_sparse_depth: bool,
                 input_size: tuple[int, int] | None) -> None:
        self.backend = backend
        self.name = name
        self.config = config
        self.uses_sparse_depth = uses_sparse_depth
        self.input_size = input_size  # (height, width); None: the input's own size

    @property
    def description(self) -> str:
        size = "native size" if self.input_size is None else f"{self.input_size[1]}x{self.input_size[0]}"
        extra = f" {self.backend.providers}" if hasattr(self.backend, "providers") else ""
        # A model file's name may say nothing ("model.safetensors"): add the family it holds.
        name = self.name
        if self.config is not None and self.config.name != self.name:
            name = f"{self.name} ({self.config.name})"
        return f"{name} on {self.backend.name}{extra} at {size}"

    def predict(self, rgb: np.ndarray, K, sparse_depth: np.ndarray | None = None, *,
                sparse_points: np.ndarray | None = None) -> DepthResult:
        """Depth for one image. The LiDAR comes either as ``sparse_depth`` [H,W] (metres, 0/NaN =
        none) at the image's resolution, or as ``sparse_points`` [N,3] in the camera optical frame,
        which are projected straight at the network's input size (z-buffer; cheaper than projecting
        at the image's size and re-binning, which is what the node does every frame)."""
        t0 = time.perf_counter()
        rgb, K, sparse_depth = check_inputs(rgb, K, sparse_depth)
        if sparse_points is not None and sparse_depth is not None:
            raise InputError("give sparse_depth or sparse_points, not both")
        H, W = rgb.shape[:2]
        h, w = self.input_size or (H, W)   # native size: the networks pad to their stride themselves
        if not self.uses_sparse_depth:
            sparse_depth = sparse_points = None
        image, sparse, K_net, n_points = prepare_inputs(rgb, K, sparse_depth, h, w)
        if sparse_points is not None:
            points = np.asarray(sparse_points)
            if points.ndim != 2 or points.shape[1] != 3 or not np.issubdtype(points.dtype, np.floating):
                raise InputError(f"sparse_points: expected [N,3] float metres, got {points.dtype} {points.shape}")
            sparse = project_points(points, K_net, h, w)[None, None]
            n_points = int(np.count_nonzero(sparse))
        if isinstance(self.backend, ClassicalBackend) and n_points == 0:
            return DepthResult(np.full((H, W), np.nan, np.float32), None, "prediction", 0)
        t1 = time.perf_counter()
        out = self.backend.run(image, sparse)
        t2 = time.perf_counter()
        max_depth = self.config.max_depth if self.config else None
        depth = restore_depth(out["depth"][0, 0], H, W, max_depth)
        confidence = out.get("confidence")
        if confidence is not None:
            confidence = restore_depth(confidence[0, 0], H, W)
        timings = {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": time.perf_counter() - t2}
        return DepthResult(depth, confidence, "completion" if n_points else "prediction", n_points, timings)


def model_source_files(model: DepthModel) -> list[Path]:
    """The source files of this package that define the model's modules (and the exporter): an
    ONNX graph traced from other code is another graph, even with the same weights."""
    from .. import export

    files = {Path(inspect.getfile(type(m))) for m in model.modules() if type(m).__module__.startswith("depth_core.")}
    return sorted(files | set(Path(export.__file__).parent.glob("*.py")))


def _state_hash(model: DepthModel, h: int, w: int) -> str:
    import torch

    digest = hashlib.sha256()
    digest.update(f"depth_ros-onnx-v3|{torch.__version__}|{h}x{w}|".encode())
    digest.update(model.config.to_json().encode())
    for path in model_source_files(model):
        digest.update(path.read_bytes())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_onnx(model: DepthModel, height: int | None, width: int | None, cache: Path | None = None) -> Path:
    """The ONNX export of ``model`` at ``height`` x ``width`` (None: dynamic size), exported once
    and cached under a key of its weights, config, size, torch version and model source code."""
    from ..export import export_onnx

    cache = Path(cache or cache_dir()) / "onnx"
    dynamic = height is None
    size = "dynamic" if dynamic else f"{height}x{width}"
    path = cache / f"{model.config.name}_{size}_{_state_hash(model, height or 0, width or 0)}.onnx"
    if path.is_file():
        log.info("using cached ONNX export %s", path)
        return path
    cache.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to ONNX (%s) for onnxruntime (one-time; cached at %s)", model.config.name, size, path)
    t0 = time.perf_counter()
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=cache)
    os.close(fd)
    try:
        export_onnx(model, tmp, height=height, width=width, dynamic=dynamic)
        os.replace(tmp, path)  # atomic: concurrent processes never see a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("exported %s in %.1f s", path.name, time.perf_counter() - t0)
    return path


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def load_estimator(model: str | Path | DepthModel = "default", backend: str = "auto", *, pretrained: bool = True,
                   input_size: tuple[int, int] | str | None = None, device: str | None = None,
                   cache: str | Path | None = None, threads: int | None = None) -> DepthEstimator:
    """An estimator for ``model``: a registry name, ``'default'`` (= ``san_resnet18``),
    ``'classical'``, a path to ``.onnx`` / ``.safetensors`` / ``.engine``, or a model object.

    ``backend``: ``auto`` (onnxruntime when installed, else torch; TensorRT once available),
    ``onnxruntime`` (exports and caches registry / safetensors models itself), ``torch``, or
    ``classical``. ``pretrained=False`` builds registry models with initial weights.
    ``input_size`` (height, width) overrides the model's configured input size; ``"native"`` runs
    every image at its own size (a dynamic ONNX graph for onnxruntime).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got '{backend}'")
    if model == "classical" or backend == "classical":
        if model not in ("classical", "default"):
            log.info("backend 'classical' ignores model '%s': it completes LiDAR without a network", model)
        log.info("depth estimator: classical IP-Basic completion (LiDAR only; no depth without points)")
        return DepthEstimator(ClassicalBackend(), name="classical", config=None, uses_sparse_depth=True,
                              input_size=None if input_size == "native" else input_size)
    if backend == "tensorrt":
        raise BackendError("the tensorrt backend is not available in this build (it needs TensorRT and a CUDA GPU)")

    net: DepthModel | None = None
    onnx_path: Path | None = None
    if isinstance(model, DepthModel):
        net, name = model, model.config.name
    else:
        name = DEFAULT_MODEL if model == "default" else str(model)
        if name in list_models():
            net = create_model(name, pretrained=pretrained)
        else:
            path = Path(name)
            if not path.is_file():
                raise FileNotFoundError(f"model '{model}': neither a registered model "
                                        f"({', '.join(list_models())}) nor an existing file")
            if path.suffix == ".onnx":
                onnx_path = path
            elif path.suffix == ".safetensors":
                net = load_model(path)
            elif path.suffix == ".engine":
                raise BackendError(f"{path}: TensorRT engines need the tensorrt backend, not available here")
            else:
                raise ValueError(f"{path}: unknown model file type (expected .onnx, .safetensors or .engine)")
            name = path.name

    if backend == "auto":
        chosen = "onnxruntime" if _onnxruntime_available() else "torch"
        why = "onnxruntime is installed" if chosen == "onnxruntime" else "onnxruntime is not installed"
        if onnx_path is not None and chosen == "torch":
            raise BackendError(f"{onnx_path}: ONNX models need onnxruntime, which is not installed")
        log.info("backend auto -> %s (%s; TensorRT not available)", chosen, why)
        backend = chosen

    native = input_size == "native"
    if backend == "torch":
        if net is None:
            raise BackendError(f"{onnx_path}: the torch backend cannot run an ONNX file; use onnxruntime")
        config = net.config
        size = None if native else input_size or (config.input_height, config.input_width)
        runner = TorchBackend(net, device)
    else:
        if onnx_path is None:
            config = net.config
            size = None if native else input_size or (config.input_height, config.input_width)
            onnx_path = cached_onnx(net, *(size or (None, None)), cache)
        else:
            from ..export import read_onnx_config

            config, fixed = read_onnx_config(onnx_path)
            size = None if native else input_size or fixed or (config.input_height, config.input_width)
            if fixed and (size is None or tuple(size) != tuple(fixed)):
                wanted = "native-size" if size is None else f"{size[1]}x{size[0]}"
                raise ValueError(f"{onnx_path}: exported for {fixed[1]}x{fixed[0]} inputs, asked for "
                                 f"{wanted} inputs; export with --dynamic or at that size")
        runner = OnnxRuntimeBackend(onnx_path, threads=threads)
    uses_sparse = net.uses_sparse_depth if net is not None else True
    estimator = DepthEstimator(runner, name=name, config=config, uses_sparse_depth=uses_sparse,
                               input_size=None if size is None else tuple(size))
    log.info("depth estimator: %s", estimator.description)
    return estimator

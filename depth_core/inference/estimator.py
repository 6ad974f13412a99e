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
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry import project_points
from ..models import DepthModel, ModelConfig, create_model, list_models, load_model
from .backends import (
    GPU_PROVIDERS,
    BackendError,
    ClassicalBackend,
    OnnxRuntimeBackend,
    TorchBackend,
    cache_dir,
)
from .preprocess import InputError, canonical_size, check_inputs, pad_inputs, prepare_inputs, restore_depth

__all__ = ["BACKENDS", "DEFAULT_MODEL", "DepthEstimator", "DepthResult", "build_model_engine", "load_estimator"]

log = logging.getLogger("depth_core.inference")

DEFAULT_MODEL = "san_efficientnet_lite0"
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
    """``runner_for(size)``: the backend for a network input size, for canonical-camera models,
    whose input size follows each camera's aspect ratio (built on first use, then kept)."""

    def __init__(self, backend, *, name: str, config: ModelConfig | None, uses_sparse_depth: bool,
                 input_size: tuple[int, int] | None, runner_for=None) -> None:
        self.backend = backend
        self.name = name
        self.config = config
        self.uses_sparse_depth = uses_sparse_depth
        self.input_size = input_size  # (height, width); None: the input's own size
        self.canonical = (config is not None and config.canonical_focal is not None
                          and not isinstance(backend, ClassicalBackend))
        self._runner_for = runner_for
        self._runners: dict[tuple[int, int], object] = {}
        if runner_for is not None and input_size is not None:
            self._runners[tuple(input_size)] = backend   # built at load for the reference size

    @property
    def description(self) -> str:
        if self.canonical:
            size = ("native size" if self.input_size is None else
                    f"about {self.input_size[0] * self.input_size[1]} pixels")
            size += f", aspect kept, canonical focal {self.config.canonical_focal:g} px"
            extra = f" {self.backend.detail}" if getattr(self.backend, "detail", None) else ""
            return f"{self._model_name()} on {self.backend.name}{extra} at {size}"
        size = "native size" if self.input_size is None else f"{self.input_size[1]}x{self.input_size[0]}"
        extra = f" {self.backend.detail}" if getattr(self.backend, "detail", None) else ""
        return f"{self._model_name()} on {self.backend.name}{extra} at {size}"

    def _model_name(self) -> str:
        # A model file's name may say nothing ("model.safetensors"): add the family it holds.
        if self.config is not None and self.config.name != self.name:
            return f"{self.name} ({self.config.name})"
        return self.name

    def network_size(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Where an image of ``height`` x ``width`` runs: ``(resized, padded)`` sizes (h, w)."""
        if not self.canonical:
            size = self.input_size or (height, width)
            return size, size
        pixels = None if self.input_size is None else self.input_size[0] * self.input_size[1]
        return canonical_size(height, width, pixels)

    def _runner(self, size: tuple[int, int]):
        if self._runner_for is None:
            return self.backend
        if size not in self._runners:
            log.info("%s: first %dx%d network input (aspect kept): preparing the backend for it", self.name,
                     size[1], size[0])
            self._runners[size] = self._runner_for(size)
        return self._runners[size]

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
        # Native size without a canonical camera: the networks pad to their stride themselves.
        (h, w), padded = self.network_size(H, W)
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
        # Canonical camera: metric depth d is d * canonical / f for the network (and back).
        to_canonical = 1.0
        if self.canonical:
            to_canonical = self.config.canonical_focal / (0.5 * (K_net[0, 0] + K_net[1, 1]))
            sparse = sparse * np.float32(to_canonical)
            image, sparse = pad_inputs(image, sparse, *padded)
        backend = self._runner(padded)
        t1 = time.perf_counter()
        out = backend.run(image, sparse)
        t2 = time.perf_counter()
        max_depth = self.config.max_depth / to_canonical if self.config else None
        depth = out["depth"][0, 0, :h, :w]
        if self.canonical:
            depth = depth * np.float32(1.0 / to_canonical)
        depth = restore_depth(depth, H, W, max_depth)
        confidence = out.get("confidence")
        if confidence is not None:
            confidence = restore_depth(confidence[0, 0, :h, :w], H, W)
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


def _onnxruntime_gpu_unavailable() -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    if not set(ort.get_available_providers()) & set(GPU_PROVIDERS):
        return (f"this onnxruntime ({ort.__version__}) has no CUDA or TensorRT execution provider "
                "(pip install onnxruntime-gpu in place of onnxruntime)")
    return None


def _onnxruntime_unavailable() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed"
    return None


@dataclass
class _Source:
    """A model to run: a network object, an ONNX file, or a TensorRT engine file."""

    name: str
    net: DepthModel | None = None
    onnx_path: Path | None = None
    engine_path: Path | None = None


def _resolve(model, pretrained: bool) -> _Source:
    if isinstance(model, DepthModel):
        return _Source(model.config.name, net=model)
    name = DEFAULT_MODEL if model == "default" else str(model)
    if name in list_models():
        return _Source(name, net=create_model(name, pretrained=pretrained))
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"model '{model}': neither a registered model ({', '.join(list_models())}) "
                                "nor an existing file")
    if path.suffix == ".onnx":
        return _Source(path.name, onnx_path=path)
    if path.suffix == ".safetensors":
        return _Source(path.name, net=load_model(path))
    if path.suffix == ".engine":
        return _Source(path.name, engine_path=path)
    raise ValueError(f"{path}: unknown model file type (expected .onnx, .safetensors or .engine)")


def _config_and_size(source: _Source, input_size, native: bool):
    """The model config and the network input size (None: each image's own size)."""
    if source.net is not None:
        config = source.net.config
        return config, None if native else tuple(input_size or (config.input_height, config.input_width))
    from ..export import read_onnx_config

    config, fixed = read_onnx_config(source.onnx_path)
    size = None if native else input_size or fixed or (config.input_height, config.input_width)
    if fixed and (size is None or tuple(size) != tuple(fixed)):
        wanted = "native-size" if size is None else f"{size[1]}x{size[0]}"
        raise ValueError(f"{source.onnx_path}: exported for {fixed[1]}x{fixed[0]} inputs, asked for "
                         f"{wanted} inputs; export with --dynamic or at that size")
    return config, None if size is None else tuple(size)


def _onnx_file(source: _Source, size, cache) -> Path:
    return source.onnx_path or cached_onnx(source.net, *(size or (None, None)), cache)


def _engine_for(source: _Source, size, config, *, precision: str, calibration=None, calibration_samples: int = 200,
                dynamic_range: tuple | None = None, engine_path=None, force: bool = False, why: str | None = None,
                cache=None,
                timing_cache=None, workspace_gib: float | None = None, progress: bool = True) -> Path:
    from .calibration import CalibrationSet
    from .engine_cache import EngineSpec, file_sha256
    from .tensorrt_backend import cached_engine, onnx_inputs, profile_shapes, tensorrt_unavailable

    opt = (config.input_height, config.input_width)
    limits = {}
    if dynamic_range is not None:
        low, opt, high = dynamic_range
        limits = {k: v for k, v in (("min_size", low), ("max_size", high)) if v is not None}
        opt = opt or (config.input_height, config.input_width)
    # Check what the user can fix before anything slow: the calibration set, then TensorRT itself.
    calib = None
    if precision == "int8":
        calib = CalibrationSet(calibration, *(size or opt), samples=calibration_samples,
                               sparse="sparse_depth" in _source_inputs(source))
    reason = tensorrt_unavailable()
    if reason:
        raise BackendError(reason)
    onnx_path = _onnx_file(source, size, cache)
    spec = EngineSpec(onnx_sha256=file_sha256(onnx_path), precision=precision,
                      shapes=profile_shapes(onnx_inputs(onnx_path), size, opt=opt, **limits),
                      calibration=calib.fingerprint() if calib else None)
    return cached_engine(onnx_path, spec, model_name=config.name, model_config=json.loads(config.to_json()),
                         engine_path=engine_path, calibration=calib, cache=cache, timing_cache=timing_cache,
                         workspace_gib=workspace_gib, force=force, why=why, progress=progress)


def _source_inputs(source: _Source) -> set[str]:
    if source.net is not None:
        return {"image", "sparse_depth"} if source.net.uses_sparse_depth else {"image"}
    from .tensorrt_backend import onnx_inputs

    return set(onnx_inputs(source.onnx_path))


def build_model_engine(model: str | Path | DepthModel = "default", *, precision: str = "fp16",
                       input_size: tuple[int, int] | None = None, dynamic: bool = False,
                       min_size: tuple[int, int] | None = None, opt_size: tuple[int, int] | None = None,
                       max_size: tuple[int, int] | None = None, calibration: str | Path | None = None,
                       calibration_samples: int = 200, out: str | Path | None = None, force: bool = False,
                       timing_cache: str | Path | None = None, workspace_gib: float | None = None,
                       cache: str | Path | None = None, pretrained: bool = True, progress: bool = True) -> Path:
    """A TensorRT engine of ``model`` (registry name, ``.safetensors`` or ``.onnx``) at ``out``
    (default: the engine cache), with its sidecar: built, or reused when an up-to-date one is
    there. ``dynamic`` builds a dynamic-shape profile from ``min_size`` to ``max_size`` tuned for
    ``opt_size`` (height, width each) instead of one fixed ``input_size``. What ``depth-core
    build-engine`` runs."""
    from .engine_cache import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got '{precision}'")
    if dynamic and input_size:
        raise ValueError("give an input size or a dynamic profile, not both")
    if not dynamic and (min_size or max_size or opt_size):
        raise ValueError("min/opt/max sizes describe a dynamic profile: add dynamic")
    source = _resolve(model, pretrained)
    if source.engine_path is not None:
        raise ValueError(f"{source.engine_path}: already an engine; give the .onnx, .safetensors or registry "
                         "model to build from")
    config, size = _config_and_size(source, input_size, dynamic)
    return _engine_for(source, size, config, precision=precision, calibration=calibration,
                       calibration_samples=calibration_samples,
                       dynamic_range=(min_size, opt_size, max_size) if dynamic else None, engine_path=out,
                       force=force, cache=cache, timing_cache=timing_cache, workspace_gib=workspace_gib,
                       progress=progress)


def _engine_runner(source: _Source, size, config, opts: dict):
    """Build (or reuse from the engine cache) a TensorRT engine for the source, and open it."""
    from .engine_cache import CorruptEngineError
    from .tensorrt_backend import TensorRTBackend

    def engine(**kw):
        return _engine_for(source, size, config, precision=opts["precision"], calibration=opts["calibration"],
                           cache=opts["cache"], **kw)

    try:
        return TensorRTBackend(engine())
    except CorruptEngineError as exc:   # its sidecar matched, yet TensorRT cannot load it: build anew, once
        return TensorRTBackend(engine(force=True, why=str(exc)))


def _ort_gpu_providers(precision: str, cache) -> list:
    """CUDA, preceded by ONNX Runtime's TensorRT execution provider when the TensorRT version is
    known: the provider's own engine cache does not notice a TensorRT or GPU change, so it gets a
    folder per GPU, TensorRT and onnxruntime version, and without a known version it is not used."""
    providers: list = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    try:
        import onnxruntime as ort

        from .tensorrt_backend import current_platform

        platform = current_platform()
    except (ImportError, BackendError):
        return providers
    folder = Path(cache or cache_dir()) / "ort_tensorrt" / f"{platform.slug()}_ort{ort.__version__}"
    folder.mkdir(parents=True, exist_ok=True)
    options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(folder),
               "trt_timing_cache_enable": True, "trt_timing_cache_path": str(folder),
               "trt_fp16_enable": precision != "fp32"}
    return [("TensorrtExecutionProvider", options), *providers]


def _make_runner(kind: str, source: _Source, size, config, opts: dict):
    if kind == "torch":
        if source.net is None:
            raise BackendError(f"{source.onnx_path}: the torch backend cannot run an ONNX file; use onnxruntime")
        return TorchBackend(source.net, opts["device"])
    if kind == "tensorrt":
        return _engine_runner(source, size, config, opts)
    onnx_path = _onnx_file(source, size, opts["cache"])
    if kind == "onnxruntime-gpu":
        return OnnxRuntimeBackend(onnx_path, _ort_gpu_providers(opts["precision"], opts["cache"]),
                                  threads=opts["threads"], require_gpu=True)
    if kind == "onnxruntime-cpu":
        return OnnxRuntimeBackend(onnx_path, ["CPUExecutionProvider"], threads=opts["threads"])
    return OnnxRuntimeBackend(onnx_path, threads=opts["threads"])   # 'onnxruntime': CUDA when there, else CPU


def _tensorrt_unavailable() -> str | None:
    from .tensorrt_backend import tensorrt_unavailable

    return tensorrt_unavailable()


# (backend kind, label for the log, why it cannot run here or None)
_AUTO_CHAIN = (("tensorrt", "TensorRT", lambda source: _tensorrt_unavailable()),
               ("onnxruntime-gpu", "onnxruntime on GPU", lambda source: _onnxruntime_gpu_unavailable()),
               ("onnxruntime-cpu", "onnxruntime on CPU", lambda source: _onnxruntime_unavailable()),
               ("torch", "torch",
                lambda source: None if source.net is not None else "an ONNX file cannot run on torch"))


def _auto_runner(source: _Source, size, config, opts: dict):
    """TensorRT, then ONNX Runtime on the GPU (TensorRT / CUDA providers), then ONNX Runtime on the
    CPU, then torch: the first that works, with one log line saying what was chosen and why the
    ones before it were not."""
    from ..export import ExportError
    from .calibration import CalibrationError

    skipped = []
    for kind, label, unavailable in _AUTO_CHAIN:
        why_not = unavailable(source)
        if why_not is None:
            try:
                runner = _make_runner(kind, source, size, config, opts)
            except (BackendError, ExportError, CalibrationError) as exc:
                why_not = str(exc)
            else:
                because = f" ({'; '.join(f'{k}: {w}' for k, w in skipped)})" if skipped else ""
                log.info("backend auto -> %s%s", label, because)
                return runner, kind
        skipped.append((label, why_not))
    raise BackendError("no backend can run this model: " + "; ".join(f"{k}: {w}" for k, w in skipped))


def load_estimator(model: str | Path | DepthModel = "default", backend: str = "auto", *, pretrained: bool = True,
                   input_size: tuple[int, int] | str | None = None, device: str | None = None,
                   cache: str | Path | None = None, threads: int | None = None, precision: str = "fp16",
                   calibration: str | Path | None = None) -> DepthEstimator:
    """An estimator for ``model``: a registry name, ``'default'`` (= ``san_efficientnet_lite0``),
    ``'classical'``, a path to ``.onnx`` / ``.safetensors`` / ``.engine``, or a model object.

    ``backend``:

    - ``auto``: TensorRT, else ONNX Runtime on the GPU, else ONNX Runtime on the CPU, else torch,
      logging what it chose and why;
    - ``tensorrt``: builds an engine from the model (``precision`` fp32 | fp16 | int8; INT8 needs a
      ``calibration`` set) into the engine cache, or runs a ``.engine`` file after checking its
      sidecar against this GPU and TensorRT version;
    - ``onnxruntime`` (CUDA provider when there, else CPU; exports and caches registry and
      safetensors models itself), ``torch``, or ``classical``.

    ``pretrained=False`` builds registry models with initial weights. ``input_size`` (height,
    width) overrides the model's configured input size; ``"native"`` runs every image at its own
    size (a dynamic ONNX graph, or a dynamic-shape TensorRT profile).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got '{backend}'")
    from .engine_cache import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got '{precision}'")
    if model == "classical" or backend == "classical":
        if model not in ("classical", "default"):
            log.info("backend 'classical' ignores model '%s': it completes LiDAR without a network", model)
        log.info("depth estimator: classical IP-Basic completion (LiDAR only; no depth without points)")
        return DepthEstimator(ClassicalBackend(), name="classical", config=None, uses_sparse_depth=True,
                              input_size=None if input_size == "native" else input_size)

    source = _resolve(model, pretrained)
    native = input_size == "native"
    opts = {"device": device, "cache": cache, "threads": threads, "precision": precision,
            "calibration": calibration}
    runner_for = None
    if source.engine_path is not None:
        runner, config, size = _open_engine_file(source.engine_path, backend, input_size, native, cache)
        if config.canonical_focal is not None:
            runner_for = _fixed_runner(runner, source.engine_path, _engine_sizes(runner))
    else:
        config, size = _config_and_size(source, input_size, native)
        canonical = config.canonical_focal is not None
        if canonical and size is not None:
            # The backend for the reference size now, so that what cannot run fails at load;
            # each camera's own (aspect-kept) size gets its graph on its first frame.
            size = canonical_size(*size, size[0] * size[1])[1]
        kind = backend
        if backend == "auto":
            runner, kind = _auto_runner(source, size, config, opts)
        else:
            runner = _make_runner(backend, source, size, config, opts)
        if canonical:
            runner_for = _sized_runners(kind, source, size, config, opts, runner)
    uses_sparse = source.net.uses_sparse_depth if source.net is not None else "sparse_depth" in _runner_inputs(runner)
    estimator = DepthEstimator(runner, name=source.name, config=config, uses_sparse_depth=uses_sparse,
                               input_size=size, runner_for=runner_for)
    log.info("depth estimator: %s", estimator.description)
    return estimator


def _sized_runners(kind: str, source: _Source, size, config, opts: dict, first):
    """``size -> backend`` for a canonical-camera model. A network object on torch, or a graph of
    dynamic size, runs every size; otherwise each size gets its export (and engine), cached."""
    if kind == "torch" or size is None:
        return None   # the one backend runs every size
    if source.onnx_path is not None:
        from ..export import read_onnx_config

        fixed = read_onnx_config(source.onnx_path)[1]
        return _fixed_runner(first, source.onnx_path, None if fixed is None else (fixed, fixed))
    # The reference size's backend is ``first``, which the estimator already holds.
    return lambda s: _make_runner(kind, source, tuple(s), config, opts)


def _fixed_runner(runner, path: Path, sizes):
    """For a file built for given sizes (``(low, high)``, or None for any): that runner, or a
    clear error naming the size this camera needs."""
    def runner_for(s):
        if sizes is not None:
            (lh, lw), (hh, hw) = sizes
            if not (lh <= s[0] <= hh and lw <= s[1] <= hw):
                raise BackendError(f"{path}: this camera needs {s[1]}x{s[0]} network inputs (its aspect ratio "
                                   f"kept), the file was built for {lw}x{lh}..{hw}x{hh}; export or build it "
                                   "at that size, or with a dynamic size")
        return runner
    return runner_for


def _engine_sizes(runner):
    low, _, high = (tuple(s[2:]) for s in runner.profile["image"])
    return low, high


def _runner_inputs(runner) -> set[str]:
    return set(getattr(runner, "inputs", ("image", "sparse_depth")))


def _open_engine_file(path: Path, backend: str, input_size, native: bool, cache):
    if backend not in ("auto", "tensorrt"):
        raise BackendError(f"{path}: a TensorRT engine runs only on the tensorrt backend, not '{backend}'")
    from .tensorrt_backend import open_engine, tensorrt_unavailable

    reason = tensorrt_unavailable()
    if reason:
        raise BackendError(f"{path}: {reason}")
    runner = open_engine(path, cache=cache)
    config = ModelConfig.from_dict(runner.record["model_config"], str(path))
    low, opt, high = (tuple(s[2:]) for s in runner.profile["image"])
    if native:
        size = None   # each image at its own size, inside the profile (checked per frame)
    else:
        # Like a dynamic ONNX file: the size asked for, else the size the profile is tuned for.
        size = tuple(input_size) if input_size else opt
        if not (low[0] <= size[0] <= high[0] and low[1] <= size[1] <= high[1]):
            built = f"{low[1]}x{low[0]}" if low == high else f"{low[1]}x{low[0]}..{high[1]}x{high[0]}"
            raise ValueError(f"{path}: engine built for {built} inputs, asked for {size[1]}x{size[0]}; build one "
                             "with depth-core build-engine --input-size or --dynamic")
    if backend == "auto":
        log.info("backend auto -> TensorRT (the model is a TensorRT engine)")
    return runner, config, size

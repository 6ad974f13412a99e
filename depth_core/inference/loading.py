"""Making an estimator: :func:`load_estimator` resolves the model (a registry name, a model file
or a model object), picks the backend (``auto``: the first of TensorRT, ONNX Runtime on the GPU,
ONNX Runtime on the CPU and torch that works here), exports and builds what that backend needs
(cached), and wraps it in a :class:`~.estimator.DepthEstimator`. :func:`build_model_engine` is the
TensorRT build alone, as ``depth-core build-engine`` runs it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..export import ExportError, cache_dir, cached_onnx, onnx_inputs, read_onnx_config
from ..models import DepthModel, ModelConfig, create_model, list_models, load_model
from ..utils.cli import PRECISION_CHOICES
from .backend import Backend, BackendError
from .calibration import BUILTIN_CALIBRATION, CalibrationError, CalibrationSet
from .classical import ClassicalBackend
from .estimator import DepthEstimator
from .onnxruntime_backend import OnnxRuntimeBackend, onnxruntime_unavailable
from .preprocess import canonical_size
from .quantize import note_cpu_int8, quantized_onnx
from .tensorrt import (
    TensorRTBackend,
    build_engine,
    cached_engine,
    current_platform,
    open_cached_engine,
    open_engine,
    profile_shapes,
    tensorrt_unavailable,
)
from .tensorrt.engine_cache import PRECISIONS, EngineSpec, file_sha256
from .torch_backend import TorchBackend

__all__ = ["BACKENDS", "DEFAULT_MODEL", "PRECISION_CHOICES", "SUPPORTED_PRECISIONS", "build_model_engine",
           "load_estimator", "resolve_model"]

log = logging.getLogger("depth_core.inference")

DEFAULT_MODEL = "san_efficientnet_lite0_selp"
BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch", "classical")
# What each backend runs, the first being what ``precision="auto"`` picks. ONNX Runtime on the
# CPU has no FP16 kernels worth having; torch here runs float32 only.
SUPPORTED_PRECISIONS = {"tensorrt": ("fp16", "fp32", "int8"), "onnxruntime-gpu": ("fp16", "fp32", "int8"),
                        "onnxruntime-cpu": ("fp32", "int8"), "torch": ("fp32",)}
_LABELS = {"tensorrt": "TensorRT", "onnxruntime-gpu": "ONNX Runtime on the GPU",
           "onnxruntime-cpu": "ONNX Runtime on the CPU", "torch": "torch"}


@dataclass
class ModelSource:
    """A model to run: a network object, an ONNX file, or a TensorRT engine file."""

    name: str
    net: DepthModel | None = None
    onnx_path: Path | None = None
    engine_path: Path | None = None

    @property
    def inputs(self) -> frozenset[str]:
        """The inputs the network or ONNX graph takes (an engine's: once it is open)."""
        return self.net.input_names if self.net is not None else frozenset(onnx_inputs(self.onnx_path))


def resolve_model(model, pretrained: bool = True) -> ModelSource:
    """What ``model`` names: ``'default'``, a registry name, a ``.onnx`` / ``.safetensors`` /
    ``.engine`` file, or a model object."""
    if isinstance(model, DepthModel):
        return ModelSource(model.config.name, net=model)
    name = DEFAULT_MODEL if model == "default" else str(model)
    if name in list_models():
        return ModelSource(name, net=create_model(name, pretrained=pretrained))
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"model '{model}': neither a registered model ({', '.join(list_models())}) "
                                "nor an existing file")
    if path.suffix == ".onnx":
        return ModelSource(path.name, onnx_path=path)
    if path.suffix == ".safetensors":
        return ModelSource(path.name, net=load_model(path))
    if path.suffix == ".engine":
        return ModelSource(path.name, engine_path=path)
    raise ValueError(f"{path}: unknown model file type (expected .onnx, .safetensors or .engine)")


def _check_precision(precision: str, choices=PRECISIONS) -> None:
    if precision not in choices:
        raise ValueError(f"precision: expected one of {', '.join(choices)}, got '{precision}'")


def _precision_for(kind: str, precision: str) -> str:
    """The precision backend ``kind`` runs for ``precision`` ('auto': its default), or a
    BackendError naming what it supports: an unsupported combination is never ignored."""
    supported = SUPPORTED_PRECISIONS[kind]
    if precision == "auto":
        return supported[0]
    if precision not in supported:
        raise BackendError(f"precision {precision} is not supported by {_LABELS[kind]} (it runs "
                           f"{' or '.join(supported)})")
    return precision


def _onnxruntime_kind() -> str:
    """What backend 'onnxruntime' is here: on the GPU when a CUDA or TensorRT provider exists."""
    return "onnxruntime-gpu" if onnxruntime_unavailable(gpu=True) is None else "onnxruntime-cpu"


def load_estimator(model: str | Path | DepthModel = "default", backend: str = "auto", *, pretrained: bool = True,
                   input_size: tuple[int, int] | str | None = None, device: str | None = None,
                   cache: str | Path | None = None, threads: int | None = None, precision: str = "auto",
                   calibration: str | Path | None = None) -> DepthEstimator:
    """An estimator for ``model``: a registry name, ``'default'`` (= :data:`DEFAULT_MODEL`),
    ``'classical'``, a path to ``.onnx`` / ``.safetensors`` / ``.engine``, or a model object.

    ``backend``:

    - ``auto``: TensorRT, else ONNX Runtime on the GPU, else ONNX Runtime on the CPU, else torch,
      logging what it chose and why;
    - ``tensorrt``: builds an engine from the model into the engine cache, or runs a ``.engine``
      file after checking its sidecar against this GPU and TensorRT version;
    - ``onnxruntime`` (CUDA provider when there, else CPU; exports and caches registry and
      safetensors models itself), ``torch``, or ``classical``.

    ``precision``: ``auto`` (FP16 on TensorRT and ONNX Runtime on the GPU, FP32 on the CPU and on
    torch), ``fp32``, ``fp16`` (GPU only) or ``int8`` (TensorRT, ONNX Runtime). A precision the
    backend does not run is an error that says what it runs. INT8 is calibrated on
    ``calibration`` (a frame set or an image folder) or, without one, on a built-in simulated set;
    ONNX Runtime's INT8 graph is static QDQ quantisation (:mod:`.quantize`), cached per camera
    shape and calibration set like the float export.

    ``pretrained=False`` builds registry models with initial weights. ``input_size`` (height,
    width) overrides the model's configured input size; ``"native"`` runs every image at its own
    size (a dynamic ONNX graph, or a dynamic-shape TensorRT profile).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got '{backend}'")
    _check_precision(precision, PRECISION_CHOICES)
    if model == "classical" or backend == "classical":
        if precision not in ("auto", "fp32"):
            raise ValueError(f"precision {precision}: the classical completion has no network (it runs fp32 only)")
        if model not in ("classical", "default"):
            log.info("backend 'classical' ignores model '%s': it completes LiDAR without a network", model)
        log.info("depth estimator: classical IP-Basic completion (LiDAR only; no depth without points)")
        return DepthEstimator(ClassicalBackend(), name="classical", config=None,
                              input_size=None if input_size == "native" else input_size)

    source = resolve_model(model, pretrained)
    native = input_size == "native"
    if source.engine_path is not None:
        runner, config, size, runner_for = _open_engine_file(source.engine_path, backend, input_size, native, cache,
                                                                  precision)
    else:
        opts = {"device": device, "cache": cache, "threads": threads, "precision": precision,
                "calibration": calibration}
        runner, config, size, runner_for = _open_model(source, backend, input_size, native, opts)
    estimator = DepthEstimator(runner, name=source.name, config=config, input_size=size, runner_for=runner_for)
    log.info("depth estimator: %s", estimator.description)
    return estimator


def _open_engine_file(path: Path, backend: str, input_size, native: bool, cache, precision: str = "auto"):
    """A user's engine file on the tensorrt backend: (runner, config, size, runner_for)."""
    if backend not in ("auto", "tensorrt"):
        raise BackendError(f"{path}: a TensorRT engine runs only on the tensorrt backend, not '{backend}'")
    reason = tensorrt_unavailable()
    if reason:
        raise BackendError(f"{path}: {reason}")
    runner = open_engine(path, platform=current_platform(), build=build_engine, opener=TensorRTBackend, cache=cache)
    built = runner.record.get("precision")
    if precision not in ("auto", built):
        raise ValueError(f"{path}: this engine was built for {built}, asked for {precision}; build one with "
                         f"depth-core build-engine --precision {precision}")
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
    runner_for = _fixed_runner(runner, path, (low, high)) if config.canonical_focal is not None else None
    return runner, config, size, runner_for


def _open_model(source: ModelSource, backend: str, input_size, native: bool, opts: dict):
    """A network or ONNX file on ``backend``: (runner, config, size, runner_for)."""
    config, size = _config_and_size(source, input_size, native)
    canonical = config.canonical_focal is not None
    if canonical and size is not None:
        # The backend for the reference size at load, so that what cannot run fails at load;
        # each camera's own (aspect-kept) size gets its graph on its first frame.
        size = canonical_size(*size, size[0] * size[1])[1]
    kind = backend
    if backend == "auto":
        runner, kind = _auto_runner(source, size, config, opts)
    else:
        runner = _make_runner(backend, source, size, config, opts)
    runner_for = _sized_runners(kind, source, size, config, opts, runner) if canonical else None
    return runner, config, size, runner_for


def _config_and_size(source: ModelSource, input_size, native: bool):
    """The model config and the network input size (None: each image's own size)."""
    if source.net is not None:
        config = source.net.config
        return config, None if native else tuple(input_size or (config.input_height, config.input_width))
    config, fixed = read_onnx_config(source.onnx_path)
    size = None if native else input_size or fixed or (config.input_height, config.input_width)
    if fixed and (size is None or tuple(size) != tuple(fixed)):
        wanted = "native-size" if size is None else f"{size[1]}x{size[0]}"
        raise ValueError(f"{source.onnx_path}: exported for {fixed[1]}x{fixed[0]} inputs, asked for "
                         f"{wanted} inputs; export with --dynamic or at that size")
    return config, None if size is None else tuple(size)


# (backend kind, label for the log, why it cannot run here or None)
_AUTO_CHAIN = (("tensorrt", "TensorRT", lambda source: tensorrt_unavailable()),
               ("onnxruntime-gpu", "onnxruntime on GPU", lambda source: onnxruntime_unavailable(gpu=True)),
               ("onnxruntime-cpu", "onnxruntime on CPU", lambda source: onnxruntime_unavailable()),
               ("torch", "torch",
                lambda source: None if source.net is not None else "an ONNX file cannot run on torch"))


def _auto_runner(source: ModelSource, size, config, opts: dict) -> tuple[Backend, str]:
    """TensorRT, then ONNX Runtime on the GPU (TensorRT / CUDA providers), then ONNX Runtime on the
    CPU, then torch: the first that works, with one log line saying what was chosen and why the
    ones before it were not."""
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


def _make_runner(kind: str, source: ModelSource, size, config, opts: dict) -> Backend:
    resolved = _onnxruntime_kind() if kind == "onnxruntime" else kind
    precision = _precision_for(resolved, opts["precision"])
    if kind == "torch":
        if source.net is None:
            raise BackendError(f"{source.onnx_path}: the torch backend cannot run an ONNX file; use onnxruntime")
        return TorchBackend(source.net, opts["device"])
    if kind == "tensorrt":
        return _engine_runner(source, size, config, {**opts, "precision": precision})
    onnx_path = _onnx_file(source, size, opts["cache"])
    if precision == "int8":
        if resolved == "onnxruntime-cpu":
            note_cpu_int8()    # before the quantisation: what the CPU lets INT8 gain
        onnx_path = _int8_onnx(onnx_path, source, size, config, opts)
    if kind == "onnxruntime-gpu":
        return OnnxRuntimeBackend(onnx_path, _ort_gpu_providers(precision, opts["cache"]),
                                  threads=opts["threads"], require_gpu=True, precision=precision)
    if kind == "onnxruntime-cpu":
        return OnnxRuntimeBackend(onnx_path, ["CPUExecutionProvider"], threads=opts["threads"], precision=precision)
    # 'onnxruntime': CUDA when there, else CPU
    return OnnxRuntimeBackend(onnx_path, threads=opts["threads"], precision=precision)


def _int8_onnx(onnx_path: Path, source: ModelSource, size, config, opts: dict) -> Path:
    """The INT8 graph of ``onnx_path`` for ONNX Runtime, calibrated in the network's own units."""
    if size is None:
        raise BackendError("INT8 on ONNX Runtime needs a fixed network input size (not 'native'): each camera "
                           "shape gets its own calibrated graph")
    calibration = CalibrationSet(opts["calibration"], *size, sparse="sparse_depth" in source.inputs,
                                 canonical_focal=config.canonical_focal, cache=opts["cache"])
    return quantized_onnx(onnx_path, calibration, cache=opts["cache"])


def _sized_runners(kind: str, source: ModelSource, size, config, opts: dict, first: Backend):
    """``size -> backend`` for a canonical-camera model. A network object on torch, or a graph of
    dynamic size, runs every size; otherwise each size gets its export (and engine), cached."""
    if kind == "torch" or size is None:
        return None   # the one backend runs every size
    if source.onnx_path is not None:
        fixed = read_onnx_config(source.onnx_path)[1]
        return _fixed_runner(first, source.onnx_path, None if fixed is None else (fixed, fixed))
    # The reference size's backend is ``first``, which the estimator already holds.
    return lambda s: _make_runner(kind, source, tuple(s), config, opts)


def _fixed_runner(runner: Backend, path: Path, sizes):
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


def _onnx_file(source: ModelSource, size, cache) -> Path:
    return source.onnx_path or cached_onnx(source.net, *(size or (None, None)), cache)


def _ort_gpu_providers(precision: str, cache) -> list:
    """CUDA, preceded by ONNX Runtime's TensorRT execution provider when the TensorRT version is
    known: the provider's own engine cache does not notice a TensorRT or GPU change, so it gets a
    folder per GPU, TensorRT and onnxruntime version, and without a known version it is not used."""
    providers: list = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    try:
        # Imported here, as in .onnxruntime_backend: onnxruntime may be missing, which the
        # backend itself then reports.
        import onnxruntime as ort

        platform = current_platform()
    except (ImportError, BackendError):
        return providers
    folder = Path(cache or cache_dir()) / "ort_tensorrt" / f"{platform.slug()}_ort{ort.__version__}"
    folder.mkdir(parents=True, exist_ok=True)
    options = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(folder),
               "trt_timing_cache_enable": True, "trt_timing_cache_path": str(folder),
               "trt_fp16_enable": precision != "fp32"}
    return [("TensorrtExecutionProvider", options), *providers]


def _engine_runner(source: ModelSource, size, config, opts: dict) -> TensorRTBackend:
    """Build (or reuse from the engine cache) a TensorRT engine for the source, and open it."""
    return _engine_for(source, size, config, precision=opts["precision"], calibration=opts["calibration"],
                       cache=opts["cache"], opener=TensorRTBackend)


def _engine_for(source: ModelSource, size, config, *, precision: str, calibration=None,
                calibration_samples: int = 200, dynamic_range: tuple | None = None, engine_path=None,
                force: bool = False, cache=None, timing_cache=None, workspace_gib: float | None = None,
                progress: bool = True, opener=None):
    """The engine for the source, from the engine cache (built when missing or stale): its path,
    or with ``opener``, the opened engine."""
    opt = (config.input_height, config.input_width)
    limits = {}
    if dynamic_range is not None:
        low, opt, high = dynamic_range
        limits = {k: v for k, v in (("min_size", low), ("max_size", high)) if v is not None}
        opt = opt or (config.input_height, config.input_width)
    # Check what the user can fix before anything slow: the calibration set, then TensorRT itself.
    def calibration_set(source):
        return CalibrationSet(source, *(size or opt), samples=calibration_samples,
                              sparse="sparse_depth" in source_inputs, canonical_focal=config.canonical_focal,
                              cache=cache, progress=progress)

    source_inputs = source.inputs
    builtin = calibration is None or str(calibration) in ("", BUILTIN_CALIBRATION)
    calib = calibration_set(calibration) if precision == "int8" and not builtin else None
    reason = tensorrt_unavailable()
    if reason:
        raise BackendError(reason)
    if precision == "int8" and builtin:   # rendered only once TensorRT is known to be there
        calib = calibration_set(None)
    onnx_path = _onnx_file(source, size, cache)
    fingerprint = calib.fingerprint() if calib else None
    spec = EngineSpec(onnx_sha256=file_sha256(onnx_path), precision=precision,
                      shapes=profile_shapes(onnx_inputs(onnx_path), size, opt=opt, **limits), calibration=fingerprint)
    kw = {"model_name": config.name, "model_config": json.loads(config.to_json()), "platform": current_platform(),
          "build": build_engine, "engine_path": engine_path, "calibration": calib, "cache": cache,
          "timing_cache": timing_cache, "workspace_gib": workspace_gib, "force": force, "progress": progress}
    if opener is None:
        return cached_engine(onnx_path, spec, **kw)
    return open_cached_engine(onnx_path, spec, opener=opener, **kw)


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
    _check_precision(precision)
    if dynamic and input_size:
        raise ValueError("give an input size or a dynamic profile, not both")
    if not dynamic and (min_size or max_size or opt_size):
        raise ValueError("min/opt/max sizes describe a dynamic profile: add dynamic")
    source = resolve_model(model, pretrained)
    if source.engine_path is not None:
        raise ValueError(f"{source.engine_path}: already an engine; give the .onnx, .safetensors or registry "
                         "model to build from")
    config, size = _config_and_size(source, input_size, dynamic)
    return _engine_for(source, size, config, precision=precision, calibration=calibration,
                       calibration_samples=calibration_samples,
                       dynamic_range=(min_size, opt_size, max_size) if dynamic else None, engine_path=out,
                       force=force, cache=cache, timing_cache=timing_cache, workspace_gib=workspace_gib,
                       progress=progress)

"""TensorRT 10: building engines (FP32 / FP16 / INT8 with entropy calibration, a timing cache,
static or dynamic-shape optimisation profiles), the engine cache, and the ``tensorrt`` backend
(named I/O tensors, ``execute_async_v3`` on a CUDA stream).

TensorRT and a CUDA device API (torch's CUDA build, or pycuda) are optional: nothing here is
imported until a TensorRT path is asked for, and :func:`tensorrt_unavailable` says why one cannot
run instead of failing at import. Install with ``pip install 'depth_ros[tensorrt]'`` (or
``[tensorrt-pycuda]`` where torch has no CUDA).

Every engine this module writes gets a sidecar (:mod:`.engine_cache`); every engine it loads is
checked against this machine first, and a stale one is rebuilt from its ONNX graph or refused,
never run.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from ..utils.files import atomic_write_bytes
from .backends import BackendError, cache_dir
from .engine_cache import (
    CorruptEngineError,
    EngineError,
    EngineSpec,
    Platform,
    StaleEngineError,
    describe_seconds,
    engine_file_name,
    expected_build_seconds,
    file_sha256,
    read_sidecar,
    record_build_seconds,
    verify_engine,
    write_sidecar,
)

__all__ = [
    "INSTALL_HINT",
    "TensorRTBackend",
    "build_engine",
    "cached_engine",
    "current_platform",
    "open_engine",
    "profile_shapes",
    "tensorrt_unavailable",
]

log = logging.getLogger("depth_core.inference")

INSTALL_HINT = ("pip install 'depth_ros[tensorrt]' on a machine with an NVIDIA GPU and driver; on Jetson, "
                "TensorRT 10 comes with JetPack 6.1 or later")
SUPPORTED_MAJOR = 10
# Dynamic-shape engines (input_size 'native'): the optimisation profile's range of image sizes.
# The networks downsample by 32 (SAN) to 64 (DenseDepth): smaller inputs are meaningless.
DYNAMIC_MIN = (64, 64)
DYNAMIC_MAX = (1088, 2048)   # (height, width)
_CHANNELS = {"image": 3, "sparse_depth": 1}


def _import_tensorrt():
    try:
        import tensorrt as trt
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


def _trt_logger(trt):
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


# --- CUDA memory and streams: torch's CUDA build when present, else pycuda --------------------

class _TorchCuda:
    """Device and pinned host buffers and a stream through torch (already a dependency)."""

    api = "torch"

    def __init__(self, index: int = 0) -> None:
        import torch

        if not torch.cuda.is_available():
            raise BackendError("torch has no CUDA device here")
        self.torch = torch
        self.device = torch.device("cuda", index)
        self.stream = torch.cuda.Stream(self.device)

    def properties(self) -> tuple[str, str]:
        p = self.torch.cuda.get_device_properties(self.device)
        return p.name, f"{p.major}.{p.minor}"

    def stream_handle(self) -> int:
        return self.stream.cuda_stream

    def device_empty(self, shape, dtype):
        return self.torch.empty(tuple(shape), dtype=self._dtype(dtype), device=self.device)

    def host_empty(self, shape, dtype):
        return self.torch.empty(tuple(shape), dtype=self._dtype(dtype), pin_memory=True)

    def _dtype(self, dtype):
        return self.torch.from_numpy(np.empty(0, dtype)).dtype

    @staticmethod
    def ptr(buffer) -> int:
        return buffer.data_ptr()

    @staticmethod
    def host_view(host) -> np.ndarray:
        return host.numpy()

    def upload(self, host, device) -> None:
        with self.torch.cuda.stream(self.stream):
            device.copy_(host, non_blocking=True)

    def download(self, device, host) -> None:
        with self.torch.cuda.stream(self.stream):
            host.copy_(device, non_blocking=True)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def enter(self) -> None:
        pass

    def leave(self) -> None:
        pass


class _PyCuda:
    """The same through pycuda, for installs whose torch is a CPU build (e.g. a Jetson image)."""

    api = "pycuda"

    def __init__(self, index: int = 0) -> None:
        try:
            import pycuda.driver as cuda
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


def _open_cuda(index: int = 0):
    reasons = []
    for api in (_TorchCuda, _PyCuda):
        try:
            return api(index)
        except BackendError as exc:
            reasons.append(str(exc))
    raise BackendError("no CUDA GPU usable: " + "; ".join(reasons))


def tensorrt_unavailable() -> str | None:
    """None when TensorRT 10 and a CUDA GPU are usable here, else the reason (for logs)."""
    try:
        _import_tensorrt()
        _open_cuda()
    except BackendError as exc:
        return str(exc)
    return None


def current_platform(cuda=None) -> Platform:
    trt = _import_tensorrt()
    name, cc = (cuda or _open_cuda()).properties()
    return Platform(gpu_name=name, compute_capability=cc, tensorrt_version=str(trt.__version__))


def profile_shapes(inputs: list[str], size: tuple[int, int] | None, *, opt: tuple[int, int] | None = None,
                   min_size: tuple[int, int] = DYNAMIC_MIN, max_size: tuple[int, int] = DYNAMIC_MAX) -> dict:
    """Optimisation-profile shapes [min, opt, max] for the ONNX inputs at batch 1: static when
    ``size`` (height, width) is given, else dynamic from ``min_size`` to ``max_size`` tuned for ``opt``."""
    unknown = [n for n in inputs if n not in _CHANNELS]
    if unknown:
        raise EngineError(f"ONNX inputs {unknown} are not depth_ros inputs (image, sparse_depth)")
    if size is not None:
        low = best = high = tuple(size)
    else:
        low, high = tuple(min_size), tuple(max_size)
        best = tuple(opt or high)
        if not (low[0] <= best[0] <= high[0] and low[1] <= best[1] <= high[1]):
            raise ValueError(f"profile: {best[1]}x{best[0]} is outside {low[1]}x{low[0]}..{high[1]}x{high[0]}")
    return {n: [[1, _CHANNELS[n], *low], [1, _CHANNELS[n], *best], [1, _CHANNELS[n], *high]] for n in inputs}


def onnx_inputs(path: str | Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers]


def _timing_cache_path(platform: Platform, cache: Path) -> Path:
    return cache / "timing" / f"{platform.slug()}.cache"


def _parser_error(error) -> str:
    try:
        return f"node {error.node_name()} ({error.node_operator()}): {error.desc()}"
    except AttributeError:   # older 10.x bindings lack node_name / node_operator
        return str(error)


def _make_calibrator(trt, cuda, calibration, cache_file: Path, progress: bool):
    from tqdm import tqdm

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Feeds the calibration set one sample at a time; TensorRT keeps the ranges in a cache
        file, so a rebuild with the same graph, data and TensorRT skips the calibration runs."""

        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.samples = iter(calibration)
            self.error: Exception | None = None
            self.buffers: dict[str, tuple] = {}
            self.bar = tqdm(total=len(calibration), desc="INT8 calibration", unit="image",
                            disable=None if progress else True)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):
            # TensorRT reads any failure here as "no more data" and would calibrate on part of
            # the set: keep the error and raise it after the build instead.
            try:
                return self._next(names)
            except Exception as exc:   # re-raised by build_engine after the build
                self.error = exc
                return None

        def _next(self, names):
            try:
                image, sparse = next(self.samples)
            except StopIteration:
                self.bar.close()
                return None
            feeds = {"image": image, "sparse_depth": sparse}
            pointers = []
            for name in names:
                array = feeds[name]
                if name not in self.buffers:
                    self.buffers[name] = (cuda.host_empty(array.shape, array.dtype),
                                          cuda.device_empty(array.shape, array.dtype))
                host, device = self.buffers[name]
                np.copyto(cuda.host_view(host), array)
                cuda.upload(host, device)
                pointers.append(cuda.ptr(device))
            cuda.synchronize()
            self.bar.update()
            return pointers

        def read_calibration_cache(self):
            if cache_file.is_file():
                log.info("INT8: reusing the calibration ranges in %s", cache_file)
                return cache_file.read_bytes()
            return None

        def write_calibration_cache(self, cache) -> None:
            atomic_write_bytes(cache_file, bytes(cache))

    return _EntropyCalibrator()


def build_engine(onnx_path: str | Path, engine_path: str | Path, spec: EngineSpec, *, model_config: dict,
                 calibration=None, timing_cache: str | Path | None = None, workspace_gib: float | None = None,
                 cache: str | Path | None = None, progress: bool = True) -> Path:
    """Build a TensorRT engine of ``onnx_path`` for ``spec`` (precision and profile shapes) and
    write it to ``engine_path`` with its sidecar. INT8 needs ``calibration`` (a
    :class:`~.calibration.CalibrationSet`); FP16 is also enabled for INT8 layers TensorRT keeps in
    floating point. The timing cache (default: one per GPU and TensorRT version in the cache
    folder) makes rebuilds fast."""
    trt = _import_tensorrt()
    cuda = _open_cuda()
    platform = current_platform(cuda)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    cache = Path(cache or cache_dir())
    if spec.precision == "int8" and calibration is None:
        raise EngineError("an INT8 engine needs a calibration set")
    calibrator = None
    cuda.enter()
    try:
        logger = _trt_logger(trt)
        builder = trt.Builder(logger)
        network = builder.create_network(0)   # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(_parser_error(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineError(f"{onnx_path}: TensorRT cannot parse this ONNX graph: {errors}")
        config = builder.create_builder_config()
        if workspace_gib:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
        if spec.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            name = network.get_input(i).name
            if name not in spec.shapes:
                raise EngineError(f"{onnx_path}: input '{name}' has no shapes in the optimisation profile")
            profile.set_shape(name, *spec.shapes[name])
        config.add_optimization_profile(profile)
        if spec.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            calib_file = cache / "calibration" / (f"{spec.onnx_sha256[:16]}_{spec.calibration[:16]}_"
                                                  f"trt{platform.tensorrt_version}.cache")
            calibrator = _make_calibrator(trt, cuda, calibration, calib_file, progress)
            config.int8_calibrator = calibrator
            config.set_calibration_profile(profile)

        timing_path = Path(timing_cache) if timing_cache else _timing_cache_path(platform, cache)
        timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
        if timing is None or not config.set_timing_cache(timing, False):
            log.warning("timing cache %s is from another GPU or TensorRT version: starting a new one", timing_path)
            timing = config.create_timing_cache(b"")
            config.set_timing_cache(timing, False)

        t0 = time.perf_counter()
        serialized = builder.build_serialized_network(network, config)
        failed = None
        if calibrator is not None:
            failed = calibrator.error
            calibrator.buffers.clear()   # device memory freed while its context is current
        if failed is not None:
            raise EngineError(f"INT8 calibration on {calibration.source} failed: {failed}") from failed
        if serialized is None:
            raise EngineError(f"{onnx_path}: TensorRT failed to build a {spec.describe()} engine (see the "
                              "TensorRT errors logged above)")
        seconds = time.perf_counter() - t0
        engine_bytes = bytes(serialized)
        atomic_write_bytes(engine_path, engine_bytes)
        atomic_write_bytes(timing_path, bytes(config.get_timing_cache().serialize()))
    finally:
        cuda.leave()
    write_sidecar(engine_path, spec, platform, model_config=model_config, onnx_path=onnx_path,
                  build_seconds=seconds,
                  calibration_source=None if calibration is None else str(Path(calibration.source).resolve()),
                  calibration_samples=None if calibration is None else calibration.samples,
                  engine_bytes=engine_bytes)
    record_build_seconds(cache / "engines" / "build_times.json", spec.precision, seconds)
    return engine_path


def cached_engine(onnx_path: str | Path, spec: EngineSpec, *, model_name: str, model_config: dict,
                  engine_path: str | Path | None = None, calibration=None, cache: str | Path | None = None,
                  timing_cache: str | Path | None = None, workspace_gib: float | None = None,
                  force: bool = False, why: str | None = None, progress: bool = True,
                  platform: Platform | None = None, build=None) -> Path:
    """The engine for ``spec`` at ``engine_path`` (default: in the engine cache, under a key of the
    ONNX hash, GPU name and compute capability, TensorRT version, precision and shapes), built
    when missing, and rebuilt, with a log line saying why and how long it will take, when the
    existing one is stale, foreign or corrupt. ``platform`` and ``build`` default to this
    machine and :func:`build_engine`; ``why`` is the reason a forced rebuild logs."""
    platform = platform or current_platform()
    build = build or build_engine
    cache = Path(cache or cache_dir())
    path = Path(engine_path) if engine_path else cache / "engines" / engine_file_name(model_name, spec, platform)
    previous = None
    if force:
        reason = why or "a rebuild was asked for"
    elif not path.is_file():
        reason = "no engine yet"
    else:
        try:
            verify_engine(path, platform, spec)
            log.info("using TensorRT engine %s (%s, %s)", path, spec.describe(), platform.describe())
            return path
        except StaleEngineError as exc:
            previous = read_sidecar(path)
            reason = "the existing one was " + str(exc).split(": ", 1)[1]
        except EngineError as exc:
            reason = f"the existing one cannot be used ({exc})"
    expected = expected_build_seconds(spec.precision, previous, cache / "engines" / "build_times.json")
    log.warning("building a TensorRT %s engine of %s for %s because %s: this takes about %s, once (then cached "
                "at %s)", spec.describe(), model_name, platform.describe(), reason, describe_seconds(expected), path)
    t0 = time.perf_counter()
    build(onnx_path, path, spec, model_config=model_config, calibration=calibration, cache=cache,
          timing_cache=timing_cache, workspace_gib=workspace_gib, progress=progress)
    log.info("built %s in %.0f s", path.name, time.perf_counter() - t0)
    return path


def open_engine(path: str | Path, *, cache: str | Path | None = None, platform: Platform | None = None,
                build=None, opener=None) -> TensorRTBackend:
    """The backend for an engine file given by the user. It must match this machine; a stale or
    corrupt one is rebuilt in place from the ONNX graph its sidecar names when that graph is still
    there unchanged (and, for INT8, its calibration set), and refused otherwise. ``platform``,
    ``build`` and ``opener`` default to this machine, :func:`build_engine` and
    :class:`TensorRTBackend`."""
    path = Path(path)
    platform = platform or current_platform()
    opener = opener or TensorRTBackend
    try:
        return opener(path, platform=platform)
    except (StaleEngineError, CorruptEngineError) as exc:
        problem = exc
    record = read_sidecar(path)
    onnx_path = Path(record["onnx_path"]) if record.get("onnx_path") else None
    how = (f"rebuild it here: depth-core build-engine --model {onnx_path or 'MODEL.onnx'} "
           f"--precision {record['precision']} --out {path}")
    if onnx_path is None or not onnx_path.is_file() or file_sha256(onnx_path) != record["onnx_sha256"]:
        raise EngineError(f"{problem}; the ONNX graph it was built from is not available unchanged to rebuild it "
                          f"automatically: {how}") from None
    calibration = None
    if record["precision"] == "int8":
        from .calibration import CalibrationError, CalibrationSet

        image = record["shapes"]["image"]
        try:
            calibration = CalibrationSet(record.get("calibration_source"), image[1][2], image[1][3],
                                         samples=record.get("calibration_samples") or 200,
                                         sparse="sparse_depth" in record["shapes"])
        except CalibrationError as exc:
            raise EngineError(f"{problem}; its INT8 calibration set is gone ({exc}): {how}") from None
        if calibration.fingerprint() != record.get("calibration"):
            raise EngineError(f"{problem}; its INT8 calibration set has changed since: {how}") from None
    spec = EngineSpec(onnx_sha256=record["onnx_sha256"], precision=record["precision"], shapes=record["shapes"],
                      calibration=record.get("calibration"))
    cached_engine(onnx_path, spec, model_name=path.stem, model_config=record["model_config"], engine_path=path,
                  calibration=calibration, cache=cache, force=True, why=str(problem), platform=platform, build=build)
    return opener(path, platform=platform)


class TensorRTBackend:
    """Runs a verified engine: named I/O tensors, device buffers allocated once per input shape
    (re-bound when the shape changes within a dynamic profile), pinned host staging, and one
    ``execute_async_v3`` on a CUDA stream per batch."""

    name = "tensorrt"

    def __init__(self, path: str | Path, *, platform: Platform | None = None) -> None:
        trt = _import_tensorrt()
        self.trt = trt
        self.path = Path(path)
        self.cuda = _open_cuda()
        platform = platform or current_platform(self.cuda)
        self.record = verify_engine(self.path, platform)
        self.precision = self.record["precision"]
        self.platform = platform
        self.cuda.enter()
        try:
            self.runtime = trt.Runtime(_trt_logger(trt))
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
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        if "image" not in self.inputs or not set(self.inputs) <= set(_CHANNELS) or "depth" not in self.outputs:
            raise EngineError(f"{self.path}: expected inputs image (and sparse_depth) and output depth, found "
                              f"inputs {self.inputs} and outputs {self.outputs}")
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.profile = {n: [tuple(s) for s in self.engine.get_tensor_profile_shape(n, 0)] for n in self.inputs}
        self.shape: tuple | None = None
        self.buffers: dict[str, tuple] = {}
        # One execution context and one set of buffers: calls from several threads take turns.
        self.lock = threading.Lock()

    @property
    def detail(self) -> str:
        return f"[{self.precision.upper()}, {self.platform.describe()}]"

    def close(self) -> None:
        """Free the buffers, context and engine now, inside their CUDA context (pycuda cannot free
        device memory from outside it)."""
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
        for name in self.inputs + self.outputs:
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
                self._bind({n: feeds[n].shape for n in self.inputs})
            for name in self.inputs:
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

"""Building TensorRT 10 engines: FP32 / FP16 / INT8 with entropy calibration, a timing cache,
and static or dynamic-shape optimisation profiles. Every engine built here gets its sidecar
(:func:`~.engine_cache.write_sidecar`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...export import cache_dir, onnx_float32_scopes
from ...utils.files import atomic_write_bytes
from .cuda import current_platform, import_tensorrt, open_cuda, trt_logger
from .engine_cache import INPUT_CHANNELS, EngineError, EngineSpec, Platform, record_build_seconds, write_sidecar

__all__ = ["DYNAMIC_MAX", "DYNAMIC_MIN", "build_engine", "pin_float32", "profile_shapes"]

log = logging.getLogger("depth_core.inference")

# Dynamic-shape engines (input_size 'native'): the optimisation profile's range of image sizes.
# The networks downsample by 32 (SAN) to 64 (DenseDepth): smaller inputs are meaningless.
DYNAMIC_MIN = (64, 64)
DYNAMIC_MAX = (1088, 2048)   # (height, width)


def profile_shapes(inputs: list[str], size: tuple[int, int] | None, *, opt: tuple[int, int] | None = None,
                   min_size: tuple[int, int] = DYNAMIC_MIN, max_size: tuple[int, int] = DYNAMIC_MAX) -> dict:
    """Optimisation-profile shapes [min, opt, max] for the ONNX inputs at batch 1: static when
    ``size`` (height, width) is given, else dynamic from ``min_size`` to ``max_size`` tuned for ``opt``."""
    unknown = [n for n in inputs if n not in INPUT_CHANNELS]
    if unknown:
        raise EngineError(f"ONNX inputs {unknown} are not depth_ros inputs (image, sparse_depth)")
    if size is not None:
        low = best = high = tuple(size)
    else:
        low, high = tuple(min_size), tuple(max_size)
        best = tuple(opt or high)
        if not (low[0] <= best[0] <= high[0] and low[1] <= best[1] <= high[1]):
            raise ValueError(f"profile: {best[1]}x{best[0]} is outside {low[1]}x{low[0]}..{high[1]}x{high[0]}")
    return {n: [[1, INPUT_CHANNELS[n], *dims] for dims in (low, best, high)] for n in inputs}


def pin_float32(trt, network, scopes: list[str]) -> list[str]:
    """Keep the layers of ``network`` whose names lie in one of ``scopes`` (the ONNX name scopes of
    modules that run in float32 whatever the precision, e.g. ``/model/plane/``) in float32 in an
    FP16 or INT8 engine: their precision and their floating-point outputs. Layers with integer or
    boolean outputs (shapes, masks) are left alone. Returns the names pinned. The builder is told to
    prefer these constraints (``PREFER_PRECISION_CONSTRAINTS``), so that a layer without a float32
    kernel warns rather than fails the build."""
    if not scopes:
        return []
    floats = (trt.float32, trt.float16)
    pinned = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if not any(scope in layer.name for scope in scopes):
            continue
        outputs = [j for j in range(layer.num_outputs) if layer.get_output(j).dtype in floats]
        if len(outputs) != layer.num_outputs:
            continue
        layer.precision = trt.float32
        for j in outputs:
            layer.set_output_type(j, trt.float32)
        pinned.append(layer.name)
    return pinned


def _timing_cache_path(platform: Platform, cache: Path) -> Path:
    return cache / "timing" / f"{platform.slug()}.cache"


def _parser_error(error) -> str:
    try:
        return f"node {error.node_name()} ({error.node_operator()}): {error.desc()}"
    except AttributeError:   # older 10.x bindings lack node_name / node_operator
        return str(error)


def _make_calibrator(trt, cuda, calibration, cache_file: Path, progress: bool):
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
    :class:`~depth_core.inference.calibration.CalibrationSet`); FP16 is also enabled for INT8
    layers TensorRT keeps in floating point. The timing cache (default: one per GPU and TensorRT
    version in the cache folder) makes rebuilds fast."""
    trt = import_tensorrt()
    cuda = open_cuda()
    platform = current_platform(cuda)
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    cache = Path(cache or cache_dir())
    if spec.precision == "int8" and calibration is None:
        raise EngineError("an INT8 engine needs a calibration set")
    calibrator = None
    cuda.enter()
    try:
        logger = trt_logger(trt)
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
            # Layers that half precision ruins (the plane fill's centred moments, a normalised
            # convolution's ratio) stay in float32, as they do under torch's autocast.
            pinned = pin_float32(trt, network, onnx_float32_scopes(onnx_path))
            if pinned:
                config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
                log.info("%s engine: %d layers kept in float32 (%s)", spec.precision.upper(), len(pinned),
                         ", ".join(sorted({n.rsplit("/", 1)[0] + "/" for n in pinned})))
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

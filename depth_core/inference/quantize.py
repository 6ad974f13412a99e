"""INT8 on ONNX Runtime: static QDQ quantisation of an exported graph, cached per graph and
calibration set.

What is quantised, and why only that: the RGB encoder's layers from 1/8 of the input
resolution on (convolutions with per-channel INT8 weights, activations with per-tensor UINT8
ranges calibrated by min/max on :class:`~.calibration.CalibrationSet` inputs, and the residual
additions between them). Everything else stays float:

- the encoder's stem and its blocks at 1/2 and 1/4 resolution: quantised alone, the stem's
  first blocks each moved the depth by 3-5 % (the fine image detail every later layer builds
  on); and ONNX Runtime runs INT8 convolutions in another memory layout than float ones, so the
  large early feature maps pay a transpose in and out that costs more than INT8 saves (at
  512x160 the graph measured 3.6 % faster than float starting at 1/4, 7.4 % at 1/8, 5.7 % at
  1/16);
- the sparse branch (SAN) and the in-graph prior: their inputs are depths spanning three orders
  of magnitude, which 256 levels cannot hold, and the prior's push-pull is an average of them;
- the fusion with the LiDAR, the decoder and every output head (depth, gate, confidence): they
  write the depth itself, and their small full-resolution convolutions run no faster in INT8 on
  ONNX Runtime's CPU kernels (measured: the decoder took 3.5 ms INT8 against 3.2 ms float).

``onnxruntime.quantization`` does the work (graph pre-processing, calibration, QDQ insertion);
this module picks the nodes, feeds the calibration set, and caches the result.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from ..export import cache_dir
from .backend import BackendError
from .calibration import CalibrationSet

__all__ = ["CPUINFO", "QUANTISATION_VERSION", "cpu_int8_description", "cpu_int8_units", "int8_dot_products",
           "int8_nodes", "note_cpu_int8", "quantized_onnx"]

log = logging.getLogger("depth_core.inference")

# Part of every cache key: a change to what is quantised, or how, makes new files.
QUANTISATION_VERSION = "qdq-v2"
ENCODER_PREFIX = "/model/encoder/"
MIN_STRIDE = 8
_OPS = ("Conv", "Add", "Clip", "Relu")


# The int8 dot-product instruction sets (their /proc/cpuinfo flag, their name) that ONNX Runtime's
# INT8 CPU kernels are fast with. Without one of them (x86 with AVX2 alone, for example) an INT8
# convolution multiplies through 16-bit intermediates and gains little over float.
_INT8_UNITS = (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI"),
               ("i8mm", "Arm I8MM"), ("asimddp", "Arm dot product"))


def int8_dot_products(cpuinfo: str) -> list[str]:
    """The int8 dot-product instruction sets that a ``/proc/cpuinfo`` text lists in its ``flags``
    (x86) or ``Features`` (Arm) lines, by name (e.g. ``["AVX512-VNNI"]``; empty: none)."""
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return [name for flag, name in _INT8_UNITS if flag in flags]


CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def cpu_int8_units() -> tuple[str, ...] | None:
    """This CPU's int8 dot-product instruction sets (:func:`int8_dot_products` of
    :data:`CPUINFO`), read once; None where that cannot be read (not Linux)."""
    try:
        return tuple(int8_dot_products(CPUINFO.read_text(errors="replace")))
    except OSError:
        return None


def cpu_int8_description() -> str:
    """:func:`cpu_int8_units` in words, for a benchmark's header: their names, ``none`` or ``unknown``."""
    units = cpu_int8_units()
    return "unknown" if units is None else ", ".join(units) or "none"


@functools.cache
def note_cpu_int8() -> None:
    """Say once per process (cached), in the log, whether this CPU has int8 dot products for INT8
    on ONNX Runtime's CPU kernels, and warn where it has none (nothing where that cannot be known)."""
    units = cpu_int8_units()
    if units:
        log.info("precision int8 on ONNX Runtime's CPU kernels: this CPU has int8 dot-product instructions (%s)",
                 ", ".join(units))
    elif units is not None:
        log.warning("precision int8 on ONNX Runtime's CPU kernels: this CPU has no int8 dot-product instructions "
                    "(none of amx_int8, avx512_vnni, avx_vnni, i8mm, asimddp in /proc/cpuinfo), and only the RGB "
                    "encoder's later layers run in INT8; on such a CPU the default ran 1.0-1.1x as fast as in fp32 "
                    "(docs/benchmarks.md), so precision fp32 is about as fast here, without INT8's rounding")


def int8_nodes(model) -> list[str]:
    """The names of the nodes to quantise in ``model`` (an ``onnx.ModelProto`` with inferred
    shapes): the RGB encoder's convolutions, activations and additions whose output is at
    1/:data:`MIN_STRIDE` of the input resolution or coarser."""
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*model.graph.value_info, *model.graph.output, *model.graph.input)}
    image = shapes.get("image")
    if not image or len(image) != 4 or not image[2]:
        raise BackendError("INT8: the graph's image input has no fixed size (export it at a fixed size)")
    names = []
    for node in model.graph.node:
        if not node.name.startswith(ENCODER_PREFIX) or node.op_type not in _OPS:
            continue
        out = shapes.get(node.output[0])
        if out and len(out) == 4 and out[2] and image[2] / out[2] >= MIN_STRIDE:
            names.append(node.name)
    return names


class _Reader:
    """ONNX Runtime's CalibrationDataReader over a calibration set, with a progress bar."""

    def __init__(self, calibration: CalibrationSet, inputs: set[str], progress: bool) -> None:
        self.samples = iter(calibration)
        self.inputs = inputs
        self.bar = tqdm(total=len(calibration), desc="INT8 calibration", unit="input",
                        disable=None if progress else True)

    def get_next(self):
        sample = next(self.samples, None)
        if sample is None:
            self.bar.close()
            return None
        self.bar.update()
        feeds = dict(zip(("image", "sparse_depth"), sample))
        return {k: v for k, v in feeds.items() if k in self.inputs}


def quantized_onnx(onnx_path: str | Path, calibration: CalibrationSet, *, cache: str | Path | None = None,
                   progress: bool = True) -> Path:
    """The INT8 (QDQ) version of the float graph at ``onnx_path``, calibrated on ``calibration``:
    made once and cached under a key of the float graph's contents, the calibration set's
    fingerprint and :data:`QUANTISATION_VERSION`."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path = Path(onnx_path)
    digest = hashlib.sha256(f"{QUANTISATION_VERSION}|".encode())
    digest.update(onnx_path.read_bytes())
    digest.update(calibration.fingerprint().encode())
    folder = Path(cache or cache_dir()) / "onnx_int8"
    path = folder / f"{onnx_path.stem}_int8_{digest.hexdigest()[:16]}.onnx"
    if path.is_file():
        log.info("using cached INT8 graph %s (calibrated on %s)", path, calibration.describe())
        return path
    folder.mkdir(parents=True, exist_ok=True)
    log.info("INT8: quantising %s on %s (one-time; cached at %s)", onnx_path.name, calibration.describe(), path)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference and the float graph optimisations (batch norms folded into their
        # convolutions) first, as ONNX Runtime recommends: the quantised graph is then the
        # graph ONNX Runtime would run in float.
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        nodes = int8_nodes(model)
        if not nodes:
            raise BackendError(f"{onnx_path}: INT8 on ONNX Runtime found no RGB encoder ('{ENCODER_PREFIX}' nodes) "
                               "to quantise in this model; use precision fp32")
        inputs = {i.name for i in model.graph.input}
        out = Path(tmp) / "int8.onnx"
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        root.setLevel(max(level, logging.WARNING))   # its per-weight notes go to the root logger at INFO
        try:
            quantize_static(str(prepared), str(out), _Reader(calibration, inputs, progress),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, nodes_to_quantize=nodes,
                            calibrate_method=CalibrationMethod.MinMax,
                            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        finally:
            root.setLevel(level)
            for handler in [h for h in root.handlers if h not in handlers]:
                root.removeHandler(handler)   # it may configure the root logger (basicConfig)
        quantised = onnx.load(str(out))
        # The model config travels with the graph, as in the float export.
        del quantised.metadata_props[:]
        quantised.metadata_props.extend(onnx.load(str(onnx_path), load_external_data=False).metadata_props)
        fd, staged = tempfile.mkstemp(suffix=".onnx", dir=folder)
        os.close(fd)
        onnx.save(quantised, staged)
        os.replace(staged, path)   # atomic: concurrent processes never see a half-written file
    log.info("INT8: %d nodes quantised in %.1f s (%s)", len(nodes), time.perf_counter() - t0, path.name)
    return path

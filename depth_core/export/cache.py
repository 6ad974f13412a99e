"""The per-user cache folder, and the ONNX exports the estimator makes for itself there (the
TensorRT engine cache, built from these graphs, lives in the same folder).

An export is cached under a key of everything its graph depends on: the model's config and
weights, the input size, the torch version, and the source code of the model's modules and of
the exporter (an ONNX graph traced from other code is another graph, even with the same weights).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from ..models import DepthModel
from .onnx import export_onnx

__all__ = ["cache_dir", "cached_onnx", "model_source_files", "onnx_cache_key"]

# These lines are part of loading an estimator: they go to the estimator's logger.
log = logging.getLogger("depth_core.inference")


def cache_dir() -> Path:
    """Where exported ONNX graphs and TensorRT engines are cached: ``$DEPTH_ROS_CACHE``,
    else ``$XDG_CACHE_HOME/depth_ros``, else ``~/.cache/depth_ros``."""
    if os.environ.get("DEPTH_ROS_CACHE"):
        return Path(os.environ["DEPTH_ROS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "depth_ros"


def model_source_files(model: DepthModel) -> list[Path]:
    """The source files of this package that define the model's modules, and the exporter's
    (``onnx.py``: not this cache, whose edits do not change a graph)."""
    files = {Path(inspect.getfile(type(m))) for m in model.modules() if type(m).__module__.startswith("depth_core.")}
    return sorted(files | {Path(__file__).with_name("onnx.py")})


def onnx_cache_key(model: DepthModel, height: int, width: int, sources: Iterable[Path] | None = None) -> str:
    """The cache key of ``model``'s export at ``height`` x ``width`` (0 x 0: dynamic size): a hash
    of the torch version, the size, the config, the ``sources`` files' contents (default:
    :func:`model_source_files`) and the weights."""
    digest = hashlib.sha256()
    digest.update(f"depth_ros-onnx-v3|{torch.__version__}|{height}x{width}|".encode())
    digest.update(model.config.to_json().encode())
    for path in model_source_files(model) if sources is None else sources:
        digest.update(Path(path).read_bytes())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_onnx(model: DepthModel, height: int | None, width: int | None, cache: Path | None = None) -> Path:
    """The ONNX export of ``model`` at ``height`` x ``width`` (None: dynamic size), exported once
    and cached under :func:`onnx_cache_key` in ``cache`` (default: :func:`cache_dir`)."""
    cache = Path(cache or cache_dir()) / "onnx"
    dynamic = height is None
    size = "dynamic" if dynamic else f"{height}x{width}"
    path = cache / f"{model.config.name}_{size}_{onnx_cache_key(model, height or 0, width or 0)}.onnx"
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

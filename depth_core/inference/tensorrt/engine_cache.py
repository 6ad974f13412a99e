"""What a TensorRT engine was built from and for, whether it may run here, and when to rebuild it.

An engine is only valid for the exact GPU model (compute capability), TensorRT version, ONNX graph,
precision and input shapes it was built with. Peers' most reported failure is an engine built on one
machine that silently misbehaves on another, so every engine written by ``depth-core build-engine``
gets a sidecar ``<engine>.json`` recording all of these plus the engine file's own SHA-256, and no
engine runs unless its sidecar matches this machine and its bytes match the sidecar.

The rebuild policy is here too: :func:`cached_engine` (the engine cache: build when missing,
rebuild when stale, foreign or corrupt, saying why and how long it takes) and :func:`open_engine`
(a user's engine file: rebuilt in place from the ONNX graph its sidecar names, or refused). They
are given the platform, the builder and the opener, so nothing here is TensorRT-specific and the
policy is tested on any machine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...export import cache_dir
from ...utils.files import atomic_write_bytes
from ..backend import BackendError
from ..calibration import CalibrationError, CalibrationSet

__all__ = [
    "INPUT_CHANNELS",
    "PRECISIONS",
    "SIDECAR_VERSION",
    "CorruptEngineError",
    "EngineError",
    "EngineSpec",
    "Platform",
    "StaleEngineError",
    "cached_engine",
    "describe_seconds",
    "engine_file_name",
    "expected_build_seconds",
    "file_sha256",
    "open_engine",
    "read_sidecar",
    "record_build_seconds",
    "sidecar_path",
    "verify_engine",
    "write_sidecar",
]

log = logging.getLogger("depth_core.inference")

SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
# The inputs an engine of ours may have, with their channel counts ([B,C,H,W]).
INPUT_CHANNELS = {"image": 3, "sparse_depth": 1}
# First-build estimates on a desktop GPU for a ResNet-18-sized model when this machine has no
# record yet (INT8 runs the calibration images through the network first).
_FIRST_BUILD_S = {"fp32": 60.0, "fp16": 120.0, "int8": 240.0}


class EngineError(BackendError):
    """An engine file that must not run: no or unreadable sidecar, or one of the subclasses."""


class CorruptEngineError(EngineError):
    """The engine's bytes do not match its sidecar, or TensorRT cannot deserialize them."""


class StaleEngineError(EngineError):
    """The engine was built for another GPU, TensorRT version, graph, precision or shapes.
    ``differences``: [(field, built for, wanted here)]."""

    def __init__(self, message: str, differences: list[tuple[str, object, object]]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass(frozen=True)
class Platform:
    """The machine an engine runs on: what TensorRT's engine compatibility depends on."""

    gpu_name: str
    compute_capability: str   # "9.0"
    tensorrt_version: str

    def describe(self) -> str:
        return f"{self.gpu_name} (sm {self.compute_capability}), TensorRT {self.tensorrt_version}"

    def slug(self) -> str:
        """A file-name-safe tag of the platform, for caches valid on it only."""
        text = f"{self.gpu_name}_sm{self.compute_capability}_trt{self.tensorrt_version}"
        return "".join(c if c.isalnum() or c in "._" else "-" for c in text)


@dataclass(frozen=True)
class EngineSpec:
    """What an engine is built from: the ONNX graph's SHA-256, the precision, the optimisation
    profile's shapes per input as [min, opt, max] ([B,C,H,W] each), and for INT8 the calibration
    set's fingerprint."""

    onnx_sha256: str
    precision: str
    shapes: dict = field(default_factory=dict)
    calibration: str | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.precision == "int8" and not self.calibration:
            raise ValueError("an INT8 engine needs a calibration set")
        # JSON round trips turn tuples into lists: normalise so that equality means the same shapes.
        shapes = {name: [[int(d) for d in dims] for dims in profile] for name, profile in self.shapes.items()}
        object.__setattr__(self, "shapes", dict(sorted(shapes.items())))

    @property
    def dynamic(self) -> bool:
        return any(p[0] != p[2] for p in self.shapes.values())

    def describe(self) -> str:
        image = self.shapes.get("image")
        if image is None:
            size = "?"
        elif self.dynamic:
            size = f"{image[0][3]}x{image[0][2]}..{image[2][3]}x{image[2][2]} (opt {image[1][3]}x{image[1][2]})"
        else:
            size = f"{image[0][3]}x{image[0][2]}"
        return f"{self.precision.upper()} at {size}"


def _key_fields(spec: EngineSpec, platform: Platform) -> dict:
    return {"onnx_sha256": spec.onnx_sha256, "precision": spec.precision, "shapes": spec.shapes,
            "calibration": spec.calibration, "gpu_name": platform.gpu_name,
            "compute_capability": platform.compute_capability, "tensorrt_version": platform.tensorrt_version}


def engine_key(spec: EngineSpec, platform: Platform) -> str:
    """A short hash of everything an engine's validity depends on: the engine cache's file key."""
    text = json.dumps(_key_fields(spec, platform), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def engine_file_name(model_name: str, spec: EngineSpec, platform: Platform) -> str:
    image = spec.shapes.get("image")
    size = "dynamic" if spec.dynamic or image is None else f"{image[0][3]}x{image[0][2]}"
    return f"{model_name}_{spec.precision}_{size}_{engine_key(spec, platform)}.engine"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(engine: str | Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: str | Path, spec: EngineSpec, platform: Platform, *, model_config: dict,
                  onnx_path: str | Path | None = None, build_seconds: float | None = None,
                  calibration_source: str | None = None, calibration_samples: int | None = None,
                  engine_bytes: bytes | None = None) -> Path:
    """Record ``engine``'s build next to it (atomically). ``engine_bytes``: the serialized engine
    just built, whose SHA-256 and size go into the record (default: the file's, read back)."""
    engine = Path(engine)
    if engine_bytes is None:
        engine_bytes = engine.read_bytes()
    record = {
        "format": "depth_ros-engine",
        "version": SIDECAR_VERSION,
        **_key_fields(spec, platform),
        "engine_sha256": hashlib.sha256(engine_bytes).hexdigest(),
        "engine_bytes": len(engine_bytes),
        "model_config": model_config,
        "onnx_path": str(Path(onnx_path).resolve()) if onnx_path else None,
        "calibration_source": calibration_source,
        "calibration_samples": calibration_samples,
        "build_seconds": None if build_seconds is None else round(float(build_seconds), 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = sidecar_path(engine)
    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode())
    return path


def read_sidecar(engine: str | Path) -> dict:
    """The sidecar record of ``engine``, or an :class:`EngineError` naming the file and problem."""
    path = sidecar_path(engine)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise EngineError(f"{engine}: no sidecar {path.name}, so nothing says which GPU, TensorRT version and "
                          "graph it was built for; engines run only when built by `depth-core build-engine` "
                          "(or the engine cache)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"{path}: unreadable engine sidecar ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != "depth_ros-engine":
        raise EngineError(f"{path}: not a depth_ros engine sidecar")
    if record.get("version") != SIDECAR_VERSION:
        raise EngineError(f"{path}: sidecar version {record.get('version')}, this depth_ros reads "
                          f"version {SIDECAR_VERSION}; rebuild the engine")
    missing = [k for k in ("engine_sha256", "gpu_name", "compute_capability", "tensorrt_version", "precision",
                           "shapes", "onnx_sha256", "model_config") if k not in record]
    if missing:
        raise EngineError(f"{path}: sidecar lacks {', '.join(missing)}")
    return record


def verify_engine(engine: str | Path, platform: Platform, spec: EngineSpec | None = None) -> dict:
    """Check that ``engine`` may run on ``platform`` (and, given ``spec``, that it is that build):
    its bytes match the sidecar's hash, and GPU, compute capability and TensorRT version (and the
    spec's graph, precision, shapes, calibration) are the same. Returns the sidecar record;
    raises :class:`CorruptEngineError`, :class:`StaleEngineError` or :class:`EngineError`."""
    engine = Path(engine)
    if not engine.is_file():
        raise FileNotFoundError(f"{engine}: engine file not found")
    record = read_sidecar(engine)
    size = engine.stat().st_size
    if size != record.get("engine_bytes", size) or file_sha256(engine) != record["engine_sha256"]:
        raise CorruptEngineError(f"{engine}: the file's contents do not match its sidecar (truncated, overwritten "
                                 f"or corrupted: {size} bytes, {record.get('engine_bytes')} recorded)")
    wanted = {"gpu_name": platform.gpu_name, "compute_capability": platform.compute_capability,
              "tensorrt_version": platform.tensorrt_version}
    if spec is not None:
        wanted.update({"onnx_sha256": spec.onnx_sha256, "precision": spec.precision,
                       "shapes": spec.shapes, "calibration": spec.calibration})
    differences = [(k, record.get(k), v) for k, v in wanted.items() if _normalise(record.get(k)) != _normalise(v)]
    if differences:
        what = "; ".join(f"{k}: built for {_short(a)}, here {_short(b)}" for k, a, b in differences)
        raise StaleEngineError(f"{engine}: built for another setup ({what})", differences)
    return record


def _normalise(value):
    return json.loads(json.dumps(value, sort_keys=True))


def _short(value) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def expected_build_seconds(precision: str, previous: dict | None = None, history: Path | None = None) -> float:
    """How long a build is likely to take: the last build of this precision on this machine
    (``history`` JSON), else the previous engine's recorded time, else a first-build estimate."""
    if history is not None and history.is_file():
        try:
            seconds = json.loads(history.read_text()).get(precision)
            if isinstance(seconds, int | float) and seconds > 0:
                return float(seconds)
        except (OSError, json.JSONDecodeError):
            pass
    if previous and previous.get("precision") == precision and previous.get("build_seconds"):
        return float(previous["build_seconds"])
    return _FIRST_BUILD_S[precision]


def record_build_seconds(history: Path, precision: str, seconds: float) -> None:
    try:
        times = json.loads(history.read_text()) if history.is_file() else {}
    except (OSError, json.JSONDecodeError):
        times = {}
    times[precision] = round(float(seconds), 1)
    atomic_write_bytes(history, json.dumps(times).encode())


def describe_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def cached_engine(onnx_path: str | Path, spec: EngineSpec, *, model_name: str, model_config: dict,
                  platform: Platform, build, engine_path: str | Path | None = None, calibration=None,
                  cache: str | Path | None = None, timing_cache: str | Path | None = None,
                  workspace_gib: float | None = None, force: bool = False, why: str | None = None,
                  progress: bool = True) -> Path:
    """The engine for ``spec`` on ``platform`` at ``engine_path`` (default: in the engine cache,
    under a key of the ONNX hash, GPU name and compute capability, TensorRT version, precision and
    shapes), built by ``build`` (:func:`~.build.build_engine`'s signature) when missing, and
    rebuilt, with a log line saying why and how long it will take, when the existing one is stale,
    foreign or corrupt. ``why`` is the reason a forced rebuild logs."""
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


def open_cached_engine(onnx_path: str | Path, spec: EngineSpec, *, platform: Platform, opener, **kw):
    """:func:`cached_engine` (``kw``: its arguments), opened by ``opener(path, platform=platform)``.
    An engine whose sidecar matched, yet TensorRT cannot load it, is built anew, once."""
    path = cached_engine(onnx_path, spec, platform=platform, **kw)
    try:
        return opener(path, platform=platform)
    except CorruptEngineError as exc:
        kw.update(force=True, why=str(exc))
        return opener(cached_engine(onnx_path, spec, platform=platform, **kw), platform=platform)


def open_engine(path: str | Path, *, platform: Platform, build, opener, cache: str | Path | None = None):
    """``opener(path, platform=platform)`` for an engine file given by the user (the TensorRT
    backend, which verifies the file first). It must match ``platform``; a stale or corrupt one is
    rebuilt in place by ``build`` from the ONNX graph its sidecar names when that graph is still
    there unchanged (and, for INT8, its calibration set), and refused otherwise."""
    path = Path(path)
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
        image = record["shapes"]["image"]
        try:
            calibration = CalibrationSet(record.get("calibration_source"), image[1][2], image[1][3],
                                         samples=record.get("calibration_samples") or 200,
                                         sparse="sparse_depth" in record["shapes"],
                                         canonical_focal=(record.get("model_config") or {}).get("canonical_focal"),
                                         cache=cache)
        except CalibrationError as exc:
            raise EngineError(f"{problem}; its INT8 calibration set is gone ({exc}): {how}") from None
        if calibration.fingerprint() != record.get("calibration"):
            raise EngineError(f"{problem}; its INT8 calibration set has changed since: {how}") from None
    spec = EngineSpec(onnx_sha256=record["onnx_sha256"], precision=record["precision"], shapes=record["shapes"],
                      calibration=record.get("calibration"))
    cached_engine(onnx_path, spec, model_name=path.stem, model_config=record["model_config"], platform=platform,
                  build=build, engine_path=path, calibration=calibration, cache=cache, force=True, why=str(problem))
    return opener(path, platform=platform)

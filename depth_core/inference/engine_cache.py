"""What a TensorRT engine was built from and for, and whether it may run here.

An engine is only valid for the exact GPU model (compute capability), TensorRT version, ONNX graph,
precision and input shapes it was built with. Peers' most reported failure is an engine built on one
machine that silently misbehaves on another, so every engine written by ``depth-core build-engine``
gets a sidecar ``<engine>.json`` recording all of these plus the engine file's own SHA-256, and no
engine runs unless its sidecar matches this machine and its bytes match the sidecar.

This module holds that policy and nothing TensorRT-specific, so it is tested on any machine.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..utils.files import atomic_write_bytes
from .backends import BackendError

__all__ = [
    "PRECISIONS",
    "SIDECAR_VERSION",
    "CorruptEngineError",
    "EngineError",
    "EngineSpec",
    "Platform",
    "StaleEngineError",
    "engine_file_name",
    "expected_build_seconds",
    "file_sha256",
    "read_sidecar",
    "sidecar_path",
    "verify_engine",
    "write_sidecar",
]

SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
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

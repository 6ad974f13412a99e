"""The configuration that travels with a model's weights: which network, and how its inputs are
prepared, so that training, export, the node and replay all preprocess identically."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ModelConfig"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    """``name`` is the registry name; ``arch`` holds its architecture options.

    Images enter the network as RGB in [0, 1], resized to ``input_width`` x ``input_height``
    (multiples of 32), and are normalised inside the network with ``mean``/``std``. Depth is in
    metres within ``[min_depth, max_depth]``.

    With ``canonical_focal`` (pixels) the network works in a canonical camera instead: each image
    is resized keeping its aspect ratio to about ``input_width * input_height`` pixels and padded
    to a multiple of 32; depth in and out of the network is canonical, ``d * canonical_focal / f``
    for the resized image's focal length ``f`` (a camera with a longer focal sees the same object
    bigger, i.e. as if nearer), and ``min_depth``/``max_depth`` bound canonical depth. Model files
    without it (None) resize to the fixed input size, as before.
    """

    name: str
    input_height: int = 192
    input_width: int = 640
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_depth: float = 0.1
    max_depth: float = 100.0
    arch: dict = field(default_factory=dict)
    canonical_focal: float | None = None

    def __post_init__(self) -> None:
        for key in ("input_height", "input_width"):
            value = getattr(self, key)
            if value <= 0 or value % 32:
                raise ValueError(f"{self.name}: {key} must be a positive multiple of 32, got {value}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"{self.name}: need 0 < min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if self.canonical_focal is not None and not self.canonical_focal > 0:
            raise ValueError(f"{self.name}: canonical_focal must be > 0 pixels, got {self.canonical_focal}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def updated(self, **overrides) -> ModelConfig:
        """A copy with top-level fields replaced and any other key merged into ``arch``."""
        known = {f.name for f in fields(self)}
        top = {k: v for k, v in overrides.items() if k in known}
        arch = {**self.arch, **top.pop("arch", {}), **{k: v for k, v in overrides.items() if k not in known}}
        return replace(self, **top, arch=arch)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown or "name" not in d:
            name = "present" if "name" in d else "missing"
            raise ValueError(f"{source}: not a model config (unknown keys {unknown}, name {name})")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()), str(path))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read model config ({exc})") from None

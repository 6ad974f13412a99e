"""Scene families: each builds a :class:`World` from a random generator, a frame count and the
distance travelled per frame."""

from __future__ import annotations

from .common import Lighting, World
from .indoor import build_indoor
from .street import build_street
from .yard import build_yard

BUILDERS = {"street": build_street, "indoor": build_indoor, "yard": build_yard}

__all__ = ["BUILDERS", "Lighting", "World", "build_indoor", "build_street", "build_yard"]

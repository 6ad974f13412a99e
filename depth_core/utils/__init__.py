"""Small helpers shared by the command-line tools of ``depth_core`` and ``depth_ros``."""

from __future__ import annotations

from .cli import ArgumentParser, image_size, positive_float, positive_int
from .files import atomic_output_dir, atomic_write_bytes

__all__ = ["ArgumentParser", "atomic_output_dir", "atomic_write_bytes", "image_size", "positive_float", "positive_int"]

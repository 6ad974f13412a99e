"""Small helpers shared by the command-line tools of ``depth_core`` and ``depth_ros``."""

from __future__ import annotations

from .cli import (
    CALIBRATION_HELP,
    PRECISION_CHOICES,
    PRECISION_HELP,
    ArgumentParser,
    image_size,
    positive_float,
    positive_int,
)
from .files import atomic_output_dir, atomic_write_bytes

__all__ = ["CALIBRATION_HELP", "PRECISION_CHOICES", "PRECISION_HELP", "ArgumentParser", "atomic_output_dir",
           "atomic_write_bytes", "image_size", "positive_float", "positive_int"]

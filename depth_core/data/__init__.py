"""Data sets on disk and their file formats."""

from __future__ import annotations

from .io import DEPTH_PNG_MAX, DataFileError, read_depth_png, read_rgb, write_depth_png, write_rgb_png
from .simulated import SimulatedDataset, write_simulated_dataset

__all__ = [
    "DEPTH_PNG_MAX",
    "DataFileError",
    "SimulatedDataset",
    "read_depth_png",
    "read_rgb",
    "write_depth_png",
    "write_rgb_png",
    "write_simulated_dataset",
]

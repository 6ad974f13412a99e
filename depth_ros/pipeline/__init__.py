"""The frame pipeline shared by the live node and the bag replay."""

from __future__ import annotations

from .pipeline import FramePipeline, FrameResult, PipelineConfig, TransformLookup
from .pseudo_lidar import cloud_fields, pack_rgb
from .stats import FrameStats

__all__ = ["FramePipeline", "FrameResult", "FrameStats", "PipelineConfig", "TransformLookup", "cloud_fields",
           "pack_rgb"]

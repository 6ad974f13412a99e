"""The frame pipeline shared by the live node and the bag replay."""

from __future__ import annotations

from .pipeline import FramePipeline, FrameResult, LidarStatus, PipelineConfig, PreparedFrame, TransformLookup
from .stats import FrameStats

__all__ = ["FramePipeline", "FrameResult", "FrameStats", "LidarStatus", "PipelineConfig", "PreparedFrame",
           "TransformLookup"]

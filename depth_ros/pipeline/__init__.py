"""The frame pipeline shared by the live node and the bag replay."""

from __future__ import annotations

from .pipeline import (
    ODOMETRY_SPAN_NS,
    FramePipeline,
    FrameResult,
    LidarStatus,
    PipelineConfig,
    PreparedFrame,
    StaleTransform,
    TransformLookup,
)
from .stats import FrameStats

__all__ = ["ODOMETRY_SPAN_NS", "FramePipeline", "FrameResult", "FrameStats", "LidarStatus", "PipelineConfig",
           "PreparedFrame", "StaleTransform", "TransformLookup"]

"""Rosbag reading and writing (rosbags), and the simulator-to-bag tool ``depth-ros-sim``."""

from __future__ import annotations

from .reader import BagError, BagMessage, RawMessage, TopicInfo, bag_topics, read_messages, read_raw
from .writer import LATCHED_QOS, SENSOR_QOS, BagWriter

__all__ = ["LATCHED_QOS", "SENSOR_QOS", "BagError", "BagMessage", "BagWriter", "RawMessage", "TopicInfo",
           "bag_topics", "read_messages", "read_raw"]

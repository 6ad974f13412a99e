"""DDS transport settings shared by every process of the package that moves camera images and
clouds (``san_node``, ``depth-ros-play``): one place, so that a player and a node never disagree."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FASTDDS_PROFILE", "use_large_message_profile"]

FASTDDS_PROFILE = Path(__file__).resolve().parent / "resources" / "fastdds_large_messages.xml"


def use_large_message_profile() -> None:
    """Large images and clouds over Fast DDS shared memory need a segment bigger than the default
    (best-effort samples above ~512 KB are silently lost otherwise). Use our profile unless the
    user already chose one. Call it before ``rclpy.init``."""
    if not (os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE") or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")):
        os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(FASTDDS_PROFILE)

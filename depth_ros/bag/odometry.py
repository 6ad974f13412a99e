"""A bag's odometry: the ``/tf`` poses of the robot's base frame, read once for every tool that
needs them (``depth-ros-dataset``, ``depth-ros-eval --accumulate / --deskew``)."""

from __future__ import annotations

from pathlib import Path

from depth_core.geometry import PoseHistory

from ..conversions import transform_from_msg
from .reader import bag_topics, read_messages

__all__ = ["read_odometry"]


def read_odometry(bag: str | Path, base_frame: str, odom_frame: str | None = None
                  ) -> tuple[PoseHistory, set[tuple[str, str]]]:
    """The poses of ``base_frame`` on the bag's ``/tf`` (from ``odom_frame`` only, when given), and
    every (parent, child) pair ``/tf`` holds, for messages that say what it has instead. Empty
    when the bag has no ``/tf``."""
    odometry, pairs = PoseHistory(), set()
    if "/tf" not in bag_topics(bag):
        return odometry, pairs
    for m in read_messages(bag, ["/tf"]):
        for ts in m.msg.transforms:
            parent, child, T, stamp = transform_from_msg(ts)
            parent, child = parent.lstrip("/"), child.lstrip("/")
            pairs.add((parent, child))
            if child == base_frame and (odom_frame is None or parent == odom_frame):
                odometry.add(stamp, T)
    return odometry, pairs

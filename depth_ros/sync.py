"""Putting a frame's messages together, written once for the node, the replay and the extractor:

- :func:`nearest_stamp`: the message nearest in time to an image (a LiDAR scan, an odometry pose);
- :class:`CameraInfoBuffer`: the camera_info of an image, by stamp, with a fallback for a
  broken one (a zero or invalid K: the last valid camera_info of the same frame and size);
- :func:`image_stamp`: an image's stamp, with a fallback for a driver that stamps zero;
- :func:`check_topics`: that a bag has the topics a command was given, before any slow step.

``message_filters`` would do the pairing in ROS, but it is not installable from PyPI, and the
replay and the extractor pair messages read from bags, where it does not apply.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bag.reader import BagError, TopicInfo, bag_topics
from .conversions import ConversionError, intrinsics_from_camera_info, stamp_to_ns

__all__ = ["SAME_TIME_S", "CameraInfoBuffer", "InfoMatch", "StreamGaps", "check_topics", "image_stamp",
           "nearest_stamp", "seen_with_image"]

# A LiDAR scan this close to its image's stamp is taken as captured with it: not moved to the
# image's stamp by the odometry (the node's lidar_to_image_time, the replay's, the extractor's).
SAME_TIME_S = 1e-4


def seen_with_image(lidar_age: float | None, motion) -> bool:
    """Whether a cloud's points are where its image saw them: the two synchronised (within
    SAME_TIME_S), or the cloud moved to the image's stamp (``motion`` not None). Only then may a
    point's brightness be read in that image (the accumulation's photometric rule)."""
    return motion is not None or abs(lidar_age or 0.0) <= SAME_TIME_S


def nearest_stamp(stamps: Sequence[int], stamp: int, tolerance_ns: int | None = None, *,
                  ordered: bool = False) -> int | None:
    """The index of the stamp in ``stamps`` (nanoseconds) nearest to ``stamp``; None when there is
    none, or when the nearest is more than ``tolerance_ns`` away. Ties: the first listed.
    ``ordered``: the stamps are sorted (a whole bag's scans), so bisection finds it."""
    if not len(stamps):
        return None
    if ordered:
        i = bisect.bisect_left(stamps, stamp)
        best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)), key=lambda j: abs(stamps[j] - stamp))
    else:   # numpy: a bag's whole /tf history is thousands of poses
        best = int(np.argmin(np.abs(np.asarray(stamps, np.int64) - stamp)))
    if tolerance_ns is not None and abs(stamps[best] - stamp) > tolerance_ns:
        return None
    return best


def image_stamp(msg, fallback_ns: int) -> tuple[int, bool]:
    """The image's header stamp (ns), or ``fallback_ns`` (its receive time live, its bag time in a
    replay) when the header stamp is zero: (stamp, whether the fallback was used)."""
    stamp = stamp_to_ns(msg.header.stamp)
    if stamp == 0 and fallback_ns:
        return int(fallback_ns), True
    return stamp, False


@dataclass(frozen=True)
class InfoMatch:
    msg: object            # the camera_info to use
    fallback: bool         # the image's own camera_info was broken: this is the last valid one
    reason: str = ""       # why the image's own one was not used


def _usable(info, matrix: str = "auto") -> str:
    """'' when the camera_info gives intrinsics (from ``matrix``: P, K or auto), else the problem."""
    try:
        intrinsics_from_camera_info(info, matrix)
    except ConversionError as exc:
        return str(exc)
    return ""


class CameraInfoBuffer:
    """Recent camera_info messages. :meth:`match` gives an image the one with its stamp, else the
    newest (most drivers publish one calibration for every image). When that one is broken (the
    matrix ``camera_matrix`` reads from it, P or K, all zeros or not a pinhole matrix), it falls
    back to the last valid camera_info of the image's frame and the same image size, which is what
    a camera whose driver dropped its calibration for one message still has; without such a one,
    the broken one is returned and the pipeline reports it."""

    def __init__(self, maxlen: int = 50, camera_matrix: str = "auto") -> None:
        self.recent: deque = deque(maxlen=maxlen)             # (message, its problem or "")
        self.valid: dict[tuple[str, int, int], object] = {}   # (frame_id, width, height) -> last valid
        self.camera_matrix = camera_matrix

    @staticmethod
    def _key(info) -> tuple[str, int, int]:
        return info.header.frame_id, int(info.width), int(info.height)

    def add(self, info) -> None:
        problem = _usable(info, self.camera_matrix)   # once per message, not per frame
        self.recent.append((info, problem))
        if not problem:
            self.valid[self._key(info)] = info

    def has(self, stamp_ns: int) -> bool:
        return any(stamp_to_ns(i.header.stamp) == stamp_ns for i, _ in self.recent)

    def match(self, stamp_ns: int, image=None) -> InfoMatch | None:
        """The camera_info for an image stamped ``stamp_ns``; ``image`` (its message) names the
        frame, and for raw images the size, that a fallback must have when the camera_info's own
        are empty."""
        if not self.recent:
            return None
        info, problem = next((e for e in reversed(self.recent) if stamp_to_ns(e[0].header.stamp) == stamp_ns),
                             self.recent[-1])
        fallback = None
        if problem:
            frame, width, height = self._key(info)
            if image is not None:
                frame = image.header.frame_id or frame
                if not (width and height) and hasattr(image, "width"):
                    width, height = int(image.width), int(image.height)
            fallback = self.valid.get((frame, width, height))
        if fallback is None:
            return InfoMatch(info, False)
        return InfoMatch(fallback, True, problem)


# The message types each command-line topic option takes.
TOPIC_TYPES = {
    "--image-topic": ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"),
    "--camera-info-topic": ("sensor_msgs/msg/CameraInfo",),
    "--lidar-topic": ("sensor_msgs/msg/PointCloud2",),
    "--depth-topic": ("sensor_msgs/msg/Image",),
}


def check_topics(bag: str | Path, wanted: dict[str, str | None]) -> dict[str, TopicInfo]:
    """The bag's topics, or a :class:`BagError` naming the argument (``wanted``: argument name ->
    topic, None when not given) whose topic the bag lacks, or whose topic carries another message
    type than the argument takes (:data:`TOPIC_TYPES`)."""
    topics = bag_topics(bag)
    for name, topic in wanted.items():
        if topic and topic not in topics:
            raise BagError(f"{bag}: {name} {topic} is not in the bag (it has: {', '.join(sorted(topics))})")
        expected = TOPIC_TYPES.get(name)
        if topic and expected and topics[topic].msgtype not in expected:
            raise BagError(f"{bag}: {name} {topic} carries {topics[topic].msgtype}, not {' or '.join(expected)}")
    return topics


class StreamGaps:
    """Input frames a subscriber can tell it missed: gaps in a stream's stamps against its
    measured period (the median of the recent intervals). A gap of ``k`` periods counts ``k - 1``
    missed frames; a jump backwards (a looping bag) starts the measurement again."""

    def __init__(self, window: int = 30) -> None:
        self.intervals: deque = deque(maxlen=window)
        self.last: int | None = None
        self.missed = 0

    def add(self, stamp_ns: int) -> int:
        """Record a frame's stamp; returns how many frames it shows were missed before it."""
        missed = 0
        if self.last is not None and stamp_ns > self.last:
            interval = stamp_ns - self.last
            if len(self.intervals) >= 5:
                period = float(np.median(self.intervals))
                missed = max(0, round(interval / period) - 1) if period > 0 else 0
            if not missed:
                self.intervals.append(interval)
        elif self.last is not None and stamp_ns < self.last:
            self.intervals.clear()
        self.last = stamp_ns
        self.missed += missed
        return missed

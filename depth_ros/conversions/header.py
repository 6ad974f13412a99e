"""Headers and stamps."""

from __future__ import annotations

from .types import MessageTypes

__all__ = ["make_header", "stamp_to_ns"]


def make_header(types: MessageTypes, stamp_ns: int, frame_id: str):
    sec, nanosec = divmod(int(stamp_ns), 10**9)
    return types.Header(stamp=types.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def stamp_to_ns(stamp) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)

"""Reading rosbag2 (MCAP or sqlite3) and ROS 1 bags with rosbags, messages deserialised."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import Stores, get_typestore

__all__ = ["BagError", "BagMessage", "RawMessage", "TopicInfo", "bag_topics", "read_messages", "read_raw"]


class BagError(Exception):
    """A bag cannot be opened or lacks what was asked of it."""


@dataclass(frozen=True)
class BagMessage:
    topic: str
    stamp_ns: int       # the bag's receive time; message headers carry the sensor stamps
    msg: object
    msgtype: str


@dataclass(frozen=True)
class RawMessage:
    topic: str
    stamp_ns: int
    data: bytes         # CDR, as recorded
    msgtype: str
    qos: tuple          # rosbags Qos profiles the recording publisher offered


@dataclass(frozen=True)
class TopicInfo:
    msgtype: str
    count: int
    qos: tuple = ()     # rosbags Qos profiles the recording publisher offered (its first connection)


def _open(path: Path) -> AnyReader:
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    try:
        return AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY))
    except AnyReaderError as exc:
        raise BagError(f"{path}: cannot open as a rosbag ({exc})") from None


def bag_topics(path: str | Path) -> dict[str, TopicInfo]:
    """Topic -> type, message count and offered QoS."""
    with _open(Path(path)) as reader:
        info: dict[str, TopicInfo] = {}
        for conn in reader.connections:
            old = info.get(conn.topic)
            qos = old.qos if old else tuple(getattr(conn.ext, "offered_qos_profiles", ()) or ())
            info[conn.topic] = TopicInfo(conn.msgtype, conn.msgcount + (old.count if old else 0), qos)
        return info


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Messages of ``topics`` (all when None) in bag-time order. Undecodable messages raise."""
    path = Path(path)
    with _open(path) as reader:
        wanted = None if topics is None else set(topics)
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        if wanted:
            missing = wanted - {c.topic for c in reader.connections}
            if missing:
                have = ", ".join(sorted({c.topic for c in reader.connections}))
                raise BagError(f"{path}: no topic(s) {', '.join(sorted(missing))} (it has: {have})")
        for conn, stamp, raw in reader.messages(connections=conns):
            yield BagMessage(conn.topic, stamp, reader.deserialize(raw, conn.msgtype), conn.msgtype)


def read_raw(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[RawMessage]:
    """Serialized messages in bag-time order, without decoding (for republishing)."""
    path = Path(path)
    with _open(path) as reader:
        wanted = None if topics is None else set(topics)
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, stamp, raw in reader.messages(connections=conns):
            qos = tuple(getattr(conn.ext, "offered_qos_profiles", ()) or ())
            yield RawMessage(conn.topic, stamp, bytes(raw), conn.msgtype, qos)

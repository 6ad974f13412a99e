"""Writing rosbag2 files (MCAP by default) with rosbags."""

from __future__ import annotations

from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ..conversions import MessageTypes, rosbags_types

__all__ = ["LATCHED_QOS", "SENSOR_QOS", "BagWriter"]

_NO_TIME = QosTime(0, 0)
_INFINITE = QosTime(2147483647, 4294967295)
# What a sensor driver offers (best effort, volatile) and what /tf_static offers (latched).
SENSOR_QOS = Qos(QosHistory.KEEP_LAST, 5, QosReliability.BEST_EFFORT, QosDurability.VOLATILE,
                 _INFINITE, _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False)
LATCHED_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  _INFINITE, _INFINITE, QosLiveliness.AUTOMATIC, _INFINITE, False)

_STORAGE = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagWriter:
    """A rosbag2 writer for messages built with :attr:`types`::

        with BagWriter(path) as bag:
            bag.write("/camera/image_raw", image_msg, stamp_ns)

    Topics are registered on first use from the message's type; ``qos`` picks what the
    recorded publisher offered (``SENSOR_QOS`` unless given for that topic).
    """

    def __init__(self, path: str | Path, *, storage: str = "mcap", latched_topics=("/tf_static",)) -> None:
        if storage not in _STORAGE:
            raise ValueError(f"storage must be one of {sorted(_STORAGE)}, got '{storage}'")
        self.path = Path(path)
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        self.types: MessageTypes = rosbags_types(self.typestore)
        self._writer = Writer(self.path, version=9, storage_plugin=_STORAGE[storage])
        self._connections: dict[str, object] = {}
        self._latched = set(latched_topics)
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc) -> None:
        self._writer.close()

    def write(self, topic: str, msg, stamp_ns: int) -> None:
        msgtype = msg.__msgtype__
        conn = self._connections.get(topic)
        if conn is None:
            qos = LATCHED_QOS if topic in self._latched else SENSOR_QOS
            conn = self._writer.add_connection(topic, msgtype, typestore=self.typestore,
                                               offered_qos_profiles=[qos])
            self._connections[topic] = conn
        self._writer.write(conn, int(stamp_ns), self.typestore.serialize_cdr(msg, msgtype))
        self.counts[topic] = self.counts.get(topic, 0) + 1

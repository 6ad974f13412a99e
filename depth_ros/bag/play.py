"""``depth-ros-play BAG``: publish a bag's messages onto DDS with their recorded timing, for
machines without ``ros2 bag``. Messages are republished as recorded (serialized CDR bytes), with
the QoS their publisher offered; topics whose message type is not installed are skipped with a
warning (e.g. tf2_msgs with the PyPI wheels)."""

from __future__ import annotations

import importlib
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from depth_core.utils import ArgumentParser, positive_float

from ..transport import use_large_message_profile
from .reader import BagError, bag_topics, read_raw

__all__ = ["main", "message_class", "play"]


def message_class(msgtype: str):
    """The installed Python class of ``pkg/msg/Name``, or None."""
    pkg, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        return None


def _qos(profiles: tuple) -> QoSProfile:
    if not profiles:
        return QoSProfile(depth=10)
    q = profiles[0]
    reliability = (ReliabilityPolicy.BEST_EFFORT if q.reliability.name == "BEST_EFFORT"
                   else ReliabilityPolicy.RELIABLE)
    durability = (DurabilityPolicy.TRANSIENT_LOCAL if q.durability.name == "TRANSIENT_LOCAL"
                  else DurabilityPolicy.VOLATILE)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(int(q.depth), 1), reliability=reliability,
                      durability=durability)


def play(node, bag, *, rate: float = 1.0, loop: bool = False, remap: dict | None = None, topics=None,
         start_delay: float = 0.0) -> int:
    """Publish the bag (``loop`` forever); returns the number of messages published."""
    remap = remap or {}
    infos = bag_topics(bag)
    publishers = {}
    for topic, info in infos.items():
        if topics and topic not in topics:
            continue
        cls = message_class(info.msgtype)
        if cls is None:
            node.get_logger().warning(f"skipping {topic}: message type {info.msgtype} is not installed")
            continue
        publishers[topic] = node.create_publisher(cls, remap.get(topic, topic), _qos(info.qos))
    if not publishers:
        listing = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(infos.items()))
        what = f"none of --topics {' '.join(topics)} is in it" if topics else "no topic has an installed message type"
        raise BagError(f"{bag}: nothing to publish: {what}; the bag has {listing}")
    # Publishers exist before the first message, and playback waits (up to start_delay) until every one
    # of them is matched: a best-effort sample sent before discovery completes is simply lost.
    deadline = time.monotonic() + start_delay
    while time.monotonic() < deadline and min(p.get_subscription_count() for p in publishers.values()) < 1:
        time.sleep(0.05)
    count = 0
    while True:
        t_wall0, t_bag0 = time.monotonic(), None
        for m in read_raw(bag, list(publishers)):
            if not rclpy.ok():
                return count
            t_bag0 = m.stamp_ns if t_bag0 is None else t_bag0
            wait = t_wall0 + (m.stamp_ns - t_bag0) * 1e-9 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            publishers[m.topic].publish(m.data)  # rclpy publishes serialized bytes as they are
            count += 1
        if not loop:
            return count


def main(argv=None) -> int:
    parser = ArgumentParser(prog="depth-ros-play", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("bag")
    parser.add_argument("--rate", type=positive_float, default=1.0, help="playback speed factor (default 1)")
    parser.add_argument("--loop", action="store_true", help="play again from the start, forever")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO", help="rename a topic")
    parser.add_argument("--topics", nargs="+", help="only these topics")
    parser.add_argument("--delay", type=float, default=0.5,
                        help="wait up to this many seconds for every played topic to have a subscriber (default 0.5)")
    args, ros_args = parser.parse_known_args(argv)
    remap = {}
    for item in args.remap:
        src, sep, dst = item.partition(":=")
        if not sep:
            parser.error(f"--remap: expected FROM:=TO, got '{item}'")
        remap[src] = dst
    if args.topics:   # before DDS starts: a wrong name is a one-line error
        known = bag_topics(args.bag)
        missing = [t for t in args.topics if t not in known]
        if missing:
            listing = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(known.items()))
            print(f"depth-ros-play: error: {args.bag}: no topic {', '.join(missing)}; the bag has {listing}",
                  file=sys.stderr)
            return 2
    use_large_message_profile()   # the node's large-message transport: no silently lost frames
    rclpy.init(args=ros_args)
    node = rclpy.create_node("depth_ros_play")
    try:
        n = play(node, args.bag, rate=args.rate, loop=args.loop, remap=remap, topics=args.topics,
                 start_delay=args.delay)
        node.get_logger().info(f"published {n} messages from {args.bag}")
    except BagError as exc:
        print(f"depth-ros-play: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

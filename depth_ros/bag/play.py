"""``depth-ros-play BAG``: publish a bag's messages onto DDS with their recorded timing, for
machines without ``ros2 bag``. Messages are republished as recorded (serialized CDR bytes), with
the QoS their publisher offered; topics whose message type is not installed are skipped with a
warning (e.g. tf2_msgs with the PyPI wheels)."""

from __future__ import annotations

import importlib
import sys
import threading
import time

import rclpy
from rclpy.exceptions import InvalidTopicNameException
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from depth_core.geometry import transform_to_xyzquat
from depth_core.utils import ArgumentParser, positive_float

from ..conversions import tree_from_tf_messages
from ..transport import use_large_message_profile
from .reader import BagError, bag_topics, read_messages, read_raw

__all__ = ["bag_extrinsic", "extrinsic_parameter", "main", "message_class", "play"]


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


def bag_extrinsic(bag, camera_frame: str, lidar_frame: str) -> list[float]:
    """The LiDAR frame's pose in the camera frame from the bag's ``/tf_static`` (chains resolved),
    as the node's ``lidar_extrinsic`` takes it: [x, y, z, qx, qy, qz, qw]."""
    if "/tf_static" not in bag_topics(bag):
        raise BagError(f"{bag}: no /tf_static to take the extrinsic from")
    tree = tree_from_tf_messages(m.msg for m in read_messages(bag, ["/tf_static"]))
    try:
        T = tree.lookup(camera_frame, lidar_frame)
    except KeyError as exc:
        raise BagError(f"{bag}: /tf_static: {exc.args[0]}") from None
    return [round(float(v), 6) for v in transform_to_xyzquat(T)]


def extrinsic_parameter(values: list[float]) -> str:
    """The ready-to-paste node argument."""
    return "-p lidar_extrinsic:=\"[" + ", ".join(f"{v:.6f}" for v in values) + "]\""   # floats, as ROS wants


def _frames(bag) -> tuple[str | None, str | None]:
    """The camera frame (of the first camera_info) and the LiDAR frame (of the first cloud) in the bag."""
    infos = bag_topics(bag)
    by_type = {t: i.msgtype for t, i in infos.items()}
    found = {}
    for kind in ("sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/PointCloud2"):
        topic = next((t for t, ty in sorted(by_type.items()) if ty == kind), None)
        if topic is not None:
            found[kind] = next((m.msg.header.frame_id for m in read_messages(bag, [topic])), None)
    return found.get("sensor_msgs/msg/CameraInfo"), found.get("sensor_msgs/msg/PointCloud2")


# The message type --watch subscribes with, by the topic's last name (the node's outputs).
_WATCH_TYPES = {"image": "sensor_msgs/msg/Image", "confidence": "sensor_msgs/msg/Image",
                "camera_info": "sensor_msgs/msg/CameraInfo", "points": "sensor_msgs/msg/PointCloud2"}


class Watcher:
    """``--watch``: subscribes to topics (the node's outputs, say) and says how many messages each
    brought, every few seconds and at the end. A subscriber is what wakes a lazy node such as
    san_node, which subscribes to its inputs only while its outputs have one; without ROS's
    command line tools this is the quickest one to hand. Best effort, which any publisher matches."""

    def __init__(self, node, topics: list[str], period: float = 5.0) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.node, self.counts, self.last = node, {}, {}
        for topic in topics:
            cls = message_class(_WATCH_TYPES.get(topic.rstrip("/").rsplit("/", 1)[-1], "sensor_msgs/msg/Image"))
            self.counts[topic] = 0
            node.create_subscription(cls, topic, lambda msg, t=topic: self._got(t, msg),
                                     QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
        self.timer = node.create_timer(period, self.say)   # also when nothing arrives
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _got(self, topic: str, msg) -> None:
        self.counts[topic] += 1
        self.last[topic] = msg.header

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:   # the context shut down under it
            pass

    def say(self, final: bool = False) -> None:
        for topic, n in self.counts.items():
            head = self.last.get(topic)
            where = (f", the last stamped {head.stamp.sec}.{head.stamp.nanosec:09d} in '{head.frame_id}'"
                     if head is not None else " (is the node running, and its outputs remapped here?)")
            self.node.get_logger().info(f"{'watched' if final else 'watching'} {topic}: {n} messages"
                                        f"{' in all' if final else ' so far'}{where}")

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(timeout=2.0)
        self.say(final=True)


def play(node, bag, *, rate: float = 1.0, loop: bool = False, remap: dict | None = None, topics=None,
         start_delay: float = 0.0, clock: bool = False) -> int:
    """Publish the bag (``loop`` forever); returns the number of messages published. ``clock``: also
    publish each message's bag time on ``/clock`` just before it, as ``ros2 bag play --clock`` does,
    for nodes run with ``use_sim_time``."""
    remap = remap or {}
    infos = bag_topics(bag)
    publishers = {}
    for topic, info in infos.items():
        if topics and topic not in topics:
            continue
        cls = message_class(info.msgtype)
        if cls is None:
            node.get_logger().warning(f"skipping {topic}: message type {info.msgtype} is not installed")
            if topic == "/tf_static":   # the node cannot get the LiDAR's extrinsic from TF then: say what to pass
                camera, lidar = _frames(bag)
                try:
                    hint = extrinsic_parameter(bag_extrinsic(bag, camera, lidar)) if camera and lidar else None
                except BagError:
                    hint = None
                if hint:
                    node.get_logger().warning(f"the node cannot read /tf_static here: run it with {hint} (the "
                                              f"bag's {lidar} in {camera})")
            continue
        publishers[topic] = node.create_publisher(cls, remap.get(topic, topic), _qos(info.qos))
    if not publishers:
        listing = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(infos.items()))
        what = f"none of --topics {' '.join(topics)} is in it" if topics else "no topic has an installed message type"
        raise BagError(f"{bag}: nothing to publish: {what}; the bag has {listing}")
    clock_pub = None
    if clock:
        from builtin_interfaces.msg import Time
        from rosgraph_msgs.msg import Clock

        clock_pub = node.create_publisher(Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
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
            if clock_pub is not None:
                clock_pub.publish(Clock(clock=Time(sec=m.stamp_ns // 10**9, nanosec=m.stamp_ns % 10**9)))
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
    parser.add_argument("--clock", action="store_true",
                        help="publish the bag's time on /clock, for nodes run with use_sim_time:=true (as ros2 bag "
                             "play --clock)")
    parser.add_argument("--watch", nargs="+", metavar="TOPIC",
                        help="also subscribe to these topics (e.g. /depth/image) and say how many messages arrive: "
                             "a consumer that wakes san_node, which works only while its outputs have one")
    parser.add_argument("--print-extrinsic", nargs=2, metavar=("CAMERA_FRAME", "LIDAR_FRAME"),
                        help="print the bag's LiDAR-to-camera extrinsic as san_node's lidar_extrinsic argument, "
                             "then exit")
    args, ros_args = parser.parse_known_args(argv)
    if args.print_extrinsic:
        try:
            print(extrinsic_parameter(bag_extrinsic(args.bag, *args.print_extrinsic)))
        except BagError as exc:
            print(f"depth-ros-play: error: {exc}", file=sys.stderr)
            return 2
        return 0
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
    watcher = None
    try:
        watcher = Watcher(node, args.watch) if args.watch else None
        n = play(node, args.bag, rate=args.rate, loop=args.loop, remap=remap, topics=args.topics,
                 start_delay=args.delay, clock=args.clock)
        node.get_logger().info(f"published {n} messages from {args.bag}")
        if watcher is not None:
            time.sleep(1.0)   # the last frames' outputs are still on their way
    except BagError as exc:
        print(f"depth-ros-play: error: {exc}", file=sys.stderr)
        return 2
    except InvalidTopicNameException as exc:   # a --watch or --remap name
        print(f"depth-ros-play: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if watcher is not None:
            watcher.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

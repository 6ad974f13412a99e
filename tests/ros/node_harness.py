"""Processes for node tests: san_node and depth-ros-play as real processes on this run's
ROS_DOMAIN_ID, and a probe node in the test process. Every process is stopped by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

REMAPS = {"image": "/camera/image_raw", "camera_info": "/camera/camera_info", "lidar_points": "/lidar/points"}


class Process:
    """A child process whose output goes to a file; ``stop()`` sends SIGINT, then SIGKILL."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log_path = log
        self._file = open(log, "w")  # closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._file, stderr=subprocess.STDOUT, env=dict(os.environ))

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        """(exit code, seconds it took to exit after SIGINT)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        return self.proc.returncode, time.monotonic() - t0

    @property
    def log(self) -> str:
        if not self._file.closed:      # still readable after stop(), for the failure message
            self._file.flush()
        return self.log_path.read_text()

    def wait_for(self, text: str, timeout: float, since: int = 0) -> bool:
        """Wait until ``text`` appears in the log after its first ``since`` characters."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log[since:]:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False


def start_node(tmp: Path, params: dict, exe: str | Path = "san_node", remaps: dict | None = None,
               name: str = "node", source: Path | None = None) -> Process:
    """san_node with a parameter file; with ``source``, run as ``ros2 run`` would after sourcing
    that setup script (``exec`` keeps the node's pid, so SIGINT reaches it)."""
    params_file = tmp / f"{name}_params.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    argv = [str(exe), "--ros-args", "--params-file", str(params_file)]
    for src, dst in (remaps or REMAPS).items():
        argv += ["-r", f"{src}:={dst}"]
    if source is not None:
        argv = ["bash", "-c", f"source {source} && exec " + " ".join(f"'{a}'" for a in argv)]
    return Process(argv, tmp / f"{name}.log")


def start_player(tmp: Path, bin_dir: Path, bag: Path, *extra: str, name: str = "play") -> Process:
    return Process([str(bin_dir / "depth-ros-play"), str(bag), "--delay", "3", *extra], tmp / f"{name}.log")


class Probe:
    """Subscribes in the test process and keeps every message per topic (sensor-data QoS;
    ``history``: a deeper queue for some topics, where large messages arrive faster than this
    process's executor takes them)."""

    def __init__(self, topics: dict[str, type], history: dict[str, int] | None = None) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("test_probe", context=self.context)
        self.messages: dict[str, list] = {t: [] for t in topics}
        self._lock = threading.Lock()
        for topic, cls in topics.items():
            qos = 10 if topic == "/diagnostics" else qos_profile_sensor_data
            if history and topic in history:
                qos = QoSProfile(depth=history[topic], reliability=ReliabilityPolicy.BEST_EFFORT)
            self.node.create_subscription(cls, topic, self._store(topic), qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinning = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _store(self, topic):
        def callback(msg):
            with self._lock:
                self.messages[topic].append((time.monotonic(), msg))
        return callback

    def _spin(self) -> None:
        while self._spinning and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def wait(self, topic: str, count: int, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages[topic]) >= count:
                    break
            time.sleep(0.05)
        with self._lock:
            return [m for _, m in self.messages[topic]]

    def clear(self) -> None:
        with self._lock:
            for v in self.messages.values():
                v.clear()

    def publisher(self, cls, topic: str):
        return self.node.create_publisher(cls, topic, qos_profile_sensor_data)

    def close(self) -> None:
        """Call it after stopping the processes that publish to this probe: destroying its node while
        large messages still arrived hung once in CI, busy in rclpy's destroy_when_not_in_use."""
        self._spinning = False
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            # Still in a callback (a backlog of large messages): shutting the context down ends its
            # wait; destroying the node under a running executor would wait for it forever.
            rclpy.try_shutdown(context=self.context)
            self._thread.join(timeout=10)
            return
        # The executor keeps the node's handles while it exists: destroying the node first can wait
        # for them forever (seen once in CI, in rclpy's destroy_when_not_in_use).
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

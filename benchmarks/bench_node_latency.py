"""End-to-end latency of san_node over DDS: this process publishes camera frames (with LiDAR) at
a fixed rate, stamped with the wall clock, and measures when each depth image comes back.

    .venv/bin/python benchmarks/bench_node_latency.py --rates 10 30 --seconds 20

At rates above what inference sustains, the node keeps only the newest frame: latency must stay
bounded (compare the first and last quarter) while frames are dropped, instead of a queue growing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_core.geometry import transform_to_xyzquat
from depth_core.sim import Simulator, default_config
from depth_ros.conversions import camera_info_to_msg, image_to_msg, make_header, pointcloud_to_msg, rclpy_types


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--model", default="default")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=192)
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    types = rclpy_types()
    sim = Simulator(default_config("street", width=args.width, height=args.height), seed=0, frames=1)
    frame = sim.render(0)
    tmp = Path(tempfile.mkdtemp())
    params = tmp / "params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "model": args.model, "lidar_extrinsic": [float(v) for v in transform_to_xyzquat(sim.rig.T_cam_lidar)]}}}))
    exe = Path(sys.executable).parent / "san_node"
    node_proc = subprocess.Popen([str(exe), "--ros-args", "--params-file", str(params), "-r", "image:=/bench/image",
                                  "-r", "camera_info:=/bench/camera_info", "-r", "lidar_points:=/bench/points"],
                                 stdout=open(tmp / "node.log", "w"), stderr=subprocess.STDOUT)
    rclpy.init()
    node = rclpy.create_node("latency_bench")
    pubs = (node.create_publisher(Image, "/bench/image", qos_profile_sensor_data),
            node.create_publisher(CameraInfo, "/bench/camera_info", qos_profile_sensor_data),
            node.create_publisher(PointCloud2, "/bench/points", qos_profile_sensor_data))
    arrivals: dict[int, float] = {}
    diag: list = []
    node.create_subscription(Image, "/depth/image", lambda m: arrivals.setdefault(
        m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, time.time()), qos_profile_sensor_data)
    node.create_subscription(DiagnosticArray, "/diagnostics", diag.append, 10)
    spinner = threading.Thread(target=lambda: rclpy.spin(node), daemon=True)
    spinner.start()
    try:
        while "ready in" not in (tmp / "node.log").read_text():
            if node_proc.poll() is not None:
                raise SystemExit((tmp / "node.log").read_text())
            time.sleep(0.2)
        time.sleep(2.0)
        print(f"# san_node with {args.model} at {args.width}x{args.height}; latency = depth received - image stamp")
        print("| camera rate | sent | received | dropped by node | p50 ms | p95 ms | p50 first quarter | "
              "p50 last quarter |")
        print("|---|---|---|---|---|---|---|---|")
        for rate in args.rates:
            arrivals.clear()
            sent = []
            period = 1.0 / rate
            t_next = time.time()
            dropped0 = _dropped(diag)
            while time.time() - t_next < args.seconds and len(sent) < args.seconds * rate:
                now = time.time()
                stamp = int(now * 1e9)
                header = make_header(types, stamp, "camera_optical_frame")
                pubs[2].publish(pointcloud_to_msg(types, make_header(types, stamp, "lidar_link"),
                                                  {"x": frame.lidar_points[:, 0], "y": frame.lidar_points[:, 1],
                                                   "z": frame.lidar_points[:, 2]}))
                pubs[1].publish(camera_info_to_msg(types, sim.intrinsics, header))
                pubs[0].publish(image_to_msg(types, frame.rgb, "rgb8", header))
                sent.append(stamp)
                t_next += period
                time.sleep(max(0.0, t_next - time.time()))
            time.sleep(2.0)
            lat = np.array([(arrivals[s] - s * 1e-9) * 1e3 for s in sent if s in arrivals])
            q = max(1, len(lat) // 4)
            print(f"| {rate:.0f} Hz | {len(sent)} | {len(lat)} | {_dropped(diag) - dropped0} | "
                  f"{np.median(lat):.0f} | {np.percentile(lat, 95):.0f} | {np.median(lat[:q]):.0f} | "
                  f"{np.median(lat[-q:]):.0f} |")
    finally:
        node_proc.send_signal(signal.SIGINT)
        node_proc.wait(timeout=10)
        rclpy.shutdown()
        spinner.join(timeout=5)   # let the spin thread leave rclpy before the interpreter exits


def _dropped(diag: list) -> int:
    if not diag:
        return 0
    values = {kv.key: kv.value for kv in diag[-1].status[0].values}
    return int(values.get("dropped", 0))


if __name__ == "__main__":
    main()

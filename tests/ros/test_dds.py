"""The ROS 2 installation works end to end: two processes exchange an Image over Fast DDS, on
this run's own ROS_DOMAIN_ID, converted with depth_ros.conversions on both sides."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from sensor_msgs.msg import Image  # noqa: E402

from depth_ros.conversions import rgb_from_msg  # noqa: E402

PUBLISHER = textwrap.dedent("""
    import time, numpy as np, rclpy
    from rclpy.qos import qos_profile_sensor_data
    from depth_ros.conversions import image_to_msg, make_header, rclpy_types
    rclpy.init()
    node = rclpy.create_node("dds_test_publisher")
    pub = node.create_publisher(rclpy_types().Image, "dds_test/image", qos_profile_sensor_data)
    types = rclpy_types()
    pixels = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    deadline = time.monotonic() + 30
    while rclpy.ok() and time.monotonic() < deadline:
        pub.publish(image_to_msg(types, pixels, "rgb8", make_header(types, 42 * 10**9, "cam")))
        time.sleep(0.05)
""")


def test_image_crosses_processes_over_fast_dds():
    env = dict(os.environ)
    assert env["ROS_DOMAIN_ID"]
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    received = []
    try:
        node = rclpy.create_node("dds_test_subscriber", context=context)
        node.create_subscription(Image, "dds_test/image", received.append, rclpy.qos.qos_profile_sensor_data)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 25
        while not received and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        publisher.terminate()
        try:
            output, _ = publisher.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            publisher.kill()
            output, _ = publisher.communicate()
    assert received, f"no Image arrived on domain {env['ROS_DOMAIN_ID']}; publisher said:\n{output}"
    msg = received[0]
    assert msg.header.stamp.sec == 42 and msg.header.frame_id == "cam"
    expected = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    np.testing.assert_array_equal(rgb_from_msg(msg), expected)

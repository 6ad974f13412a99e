"""depth-ros-play publishes a bag onto DDS: remapped topics, recorded timing scaled by --rate."""

from __future__ import annotations

import itertools
import time

import pytest
from node_harness import Probe, start_player
from sensor_msgs.msg import CameraInfo, Image

from depth_ros.bag import read_messages
from depth_ros.conversions import stamp_to_ns

pytestmark = pytest.mark.slow


@pytest.mark.alone
def test_player_remaps_topics_and_keeps_recorded_spacing(tmp_path, venv_bin, sim_bag):
    probe = Probe({"/cam/image": Image, "/camera/camera_info": CameraInfo})
    player = start_player(tmp_path, venv_bin, sim_bag, "--remap", "/camera/image_raw:=/cam/image", "--rate", "0.5",
                          "--topics", "/camera/image_raw", "/camera/camera_info")
    try:
        images = probe.wait("/cam/image", 6, 30)
        infos = probe.wait("/camera/camera_info", 6, 5)
        assert len(images) == 6 and len(infos) == 6, player.log
        recorded = [stamp_to_ns(m.msg.header.stamp) for m in read_messages(sim_bag, ["/camera/image_raw"])]
        assert [stamp_to_ns(m.header.stamp) for m in images] == recorded
        with probe._lock:
            arrivals = [t for t, _ in probe.messages["/cam/image"]]
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert 0.12 < sorted(gaps)[len(gaps) // 2] < 0.35        # 0.1 s recorded, played at half speed
        deadline = time.monotonic() + 10
        while player.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert player.proc.returncode == 0 and "published 12 messages" in player.log
    finally:
        player.stop()
        probe.close()


def test_a_topic_the_bag_lacks_is_named_with_the_bags_topics(venv_bin, sim_bag):
    import subprocess

    run = subprocess.run([str(venv_bin / "depth-ros-play"), str(sim_bag), "--topics", "/wrong", "/camera/image_raw"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "no topic /wrong; the bag has /camera/camera_info (sensor_msgs/msg/CameraInfo)" in run.stderr


def test_the_player_uses_the_nodes_large_message_transport(monkeypatch):
    import os

    from depth_ros.transport import FASTDDS_PROFILE, use_large_message_profile

    monkeypatch.delenv("FASTRTPS_DEFAULT_PROFILES_FILE", raising=False)
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    use_large_message_profile()
    assert os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(FASTDDS_PROFILE) and FASTDDS_PROFILE.is_file()
    monkeypatch.setenv("FASTRTPS_DEFAULT_PROFILES_FILE", "/mine.xml")   # a user's own profile is kept
    use_large_message_profile()
    assert os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] == "/mine.xml"


def test_print_extrinsic_gives_the_bags_tf_static_chain_ready_to_paste(venv_bin, sim_bag):
    import subprocess

    import numpy as np

    from depth_core.geometry import transform_to_xyzquat
    from depth_ros.conversions import tree_from_tf_messages

    run = subprocess.run([str(venv_bin / "depth-ros-play"), str(sim_bag), "--print-extrinsic", "camera_optical_frame",
                          "lidar_link"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip()
    assert line.startswith('-p lidar_extrinsic:="[') and line.endswith(']"')
    values = [float(v) for v in line[len('-p lidar_extrinsic:="['):-2].split(",")]
    tree = tree_from_tf_messages(m.msg for m in read_messages(sim_bag, ["/tf_static"]))
    np.testing.assert_allclose(values, transform_to_xyzquat(tree.lookup("camera_optical_frame", "lidar_link")),
                               atol=1e-6)
    wrong = subprocess.run([str(venv_bin / "depth-ros-play"), str(sim_bag), "--print-extrinsic", "camera_optical_frame",
                            "velodyne"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "frame 'velodyne' is not in the transform tree" in wrong.stderr

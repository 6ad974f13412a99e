"""depth-ros-sim: the bag it writes, read back with rosbags, as replay and users will read it."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import yaml

from depth_core.geometry import project_lidar
from depth_ros.bag import bag_topics, read_messages
from depth_ros.bag.simulate import write_sim_bag
from depth_ros.conversions import (
    depth_from_msg,
    intrinsics_from_camera_info,
    pointcloud_from_msg,
    rgb_from_msg,
    stamp_to_ns,
    tree_from_tf_messages,
)

EXPECTED_TOPICS = {
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
    "/camera/depth_gt": "sensor_msgs/msg/Image",
    "/lidar/points": "sensor_msgs/msg/PointCloud2",
    "/tf_static": "tf2_msgs/msg/TFMessage",
    "/tf": "tf2_msgs/msg/TFMessage",
}


def _by_topic(bag):
    out = {}
    for m in read_messages(bag):
        out.setdefault(m.topic, []).append(m)
    return out


def test_bag_holds_the_design_topics_as_mcap(sim_bag):
    assert list(sim_bag.glob("*.mcap")), "storage is MCAP"
    meta = yaml.safe_load((sim_bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap"
    topics = bag_topics(sim_bag)
    assert {t: i.msgtype for t, i in topics.items()} == EXPECTED_TOPICS
    assert {t: i.count for t, i in topics.items()} == {**{t: 6 for t in EXPECTED_TOPICS}, "/tf_static": 1}
    qos = {t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"]
           for t in meta["topics_with_message_count"]}
    assert qos["/tf_static"][0]["durability"] in (1, "transient_local")
    assert qos["/camera/image_raw"][0]["reliability"] in (2, "best_effort")


def test_messages_have_the_documented_encodings_frames_and_stamps(sim_bag):
    msgs = _by_topic(sim_bag)
    for image, info, depth, cloud in zip(msgs["/camera/image_raw"], msgs["/camera/camera_info"],
                                         msgs["/camera/depth_gt"], msgs["/lidar/points"]):
        stamps = {stamp_to_ns(m.msg.header.stamp) for m in (image, info, depth, cloud)}
        assert len(stamps) == 1 and stamps == {image.stamp_ns}
        assert image.msg.encoding == "rgb8" and image.msg.header.frame_id == "camera_optical_frame"
        assert depth.msg.encoding == "32FC1" and depth.msg.header.frame_id == "camera_optical_frame"
        assert info.msg.header.frame_id == "camera_optical_frame"
        assert cloud.msg.header.frame_id == "lidar_link"
        assert rgb_from_msg(image.msg).shape == (96, 320, 3)
        gt = depth_from_msg(depth.msg)
        assert np.isnan(gt).any() and (gt[np.isfinite(gt)] > 0).all()
        assert [f.name for f in cloud.msg.fields] == ["x", "y", "z", "intensity", "ring"]
        ring = pointcloud_from_msg(cloud.msg, names=("ring",))["ring"]
        assert ring.dtype == np.uint16 and ring.max() < 64
    stamps = [m.stamp_ns for m in msgs["/camera/image_raw"]]
    assert np.allclose(np.diff(stamps), 1e8)  # 10 Hz


def test_lidar_projected_with_the_bags_own_tf_static_lands_on_ground_truth(sim_bag):
    msgs = _by_topic(sim_bag)
    tree = tree_from_tf_messages(m.msg for m in msgs["/tf_static"])
    errors = []
    for info, depth, cloud in zip(msgs["/camera/camera_info"], msgs["/camera/depth_gt"], msgs["/lidar/points"]):
        cam = intrinsics_from_camera_info(info.msg)
        T_cam_lidar = tree.lookup(depth.msg.header.frame_id, cloud.msg.header.frame_id)
        fields = pointcloud_from_msg(cloud.msg)
        points = np.stack([fields["x"], fields["y"], fields["z"]], axis=1)
        sparse = project_lidar(points, T_cam_lidar, cam.K, cam.height, cam.width)
        gt = depth_from_msg(depth.msg)
        both = (sparse > 0) & np.isfinite(gt)
        errors.append(np.abs(sparse[both] - gt[both]) / gt[both])
    errors = np.concatenate(errors)
    assert errors.size > 2000
    assert np.median(errors) < 0.01


def test_an_unsynchronised_lidar_is_stamped_at_its_capture_and_the_odometry_moves_it_onto_the_image(lagged_bag):
    """--lidar-lag: each scan is taken 50 ms before its image, from where the robot was then, and
    stamped then; /tf has the odometry at both stamps. Moved by it, the points land on the image's
    ground truth; left where they were captured, they do not."""
    from depth_core.geometry import invert_transform
    from depth_ros.conversions import transform_from_msg

    msgs = _by_topic(lagged_bag)
    tree = tree_from_tf_messages(m.msg for m in msgs["/tf_static"])
    poses = {stamp: T for m in msgs["/tf"] for _, _, T, stamp in map(transform_from_msg, m.msg.transforms)}
    T_base_lidar = tree.lookup("base_link", "lidar_link")
    moved, kept = [], []
    frames = list(zip(msgs["/camera/camera_info"], msgs["/camera/depth_gt"], msgs["/lidar/points"]))
    for info, depth, cloud in frames[1:]:
        image_ns, cloud_ns = stamp_to_ns(depth.msg.header.stamp), stamp_to_ns(cloud.msg.header.stamp)
        assert image_ns - cloud_ns == 50_000_000 and cloud.stamp_ns == cloud_ns
        cam = intrinsics_from_camera_info(info.msg)
        T_cam_lidar = tree.lookup(depth.msg.header.frame_id, cloud.msg.header.frame_id)
        T_move = invert_transform(poses[image_ns] @ T_base_lidar) @ poses[cloud_ns] @ T_base_lidar
        fields = pointcloud_from_msg(cloud.msg)
        points = np.stack([fields["x"], fields["y"], fields["z"]], axis=1)
        gt = depth_from_msg(depth.msg)
        for out, T in ((moved, T_cam_lidar @ T_move), (kept, T_cam_lidar)):
            sparse = project_lidar(points, T, cam.K, cam.height, cam.width)
            both = (sparse > 0) & np.isfinite(gt)
            out.append(np.abs(sparse[both] - gt[both]) / gt[both])
    assert np.median(np.concatenate(moved)) < 0.01
    assert np.mean(np.concatenate(kept)) > 3 * np.mean(np.concatenate(moved))


def test_sqlite3_storage_and_other_scenes(tmp_path):
    bag = write_sim_bag(tmp_path / "indoor", "indoor", 2, width=64, height=48, storage="sqlite3", progress=False)
    assert list(bag.glob("*.db3"))
    assert bag_topics(bag)["/camera/image_raw"].count == 2


def test_a_bag_from_a_held_out_rig_preset_carries_its_camera_and_lidar(tmp_path):
    bag = write_sim_bag(tmp_path / "low", "yard", 1, rig="low_robot", progress=False)
    msgs = _by_topic(bag)
    cam = intrinsics_from_camera_info(msgs["/camera/camera_info"][0].msg)
    assert (cam.width, cam.height) == (640, 360) and cam.cx == pytest.approx(319.5 + 0.015 * 640)
    ring = pointcloud_from_msg(msgs["/lidar/points"][0].msg, names=("ring",))["ring"]
    assert ring.max() == 15                                  # a VLP-16
    tree = tree_from_tf_messages(m.msg for m in msgs["/tf_static"])
    assert tree.lookup("base_link", "camera_optical_frame")[2, 3] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="above what 'indoor' allows"):
        write_sim_bag(tmp_path / "high", "indoor", 1, rig="high_mount", progress=False)


def test_console_script_writes_a_bag_and_prints_what_it_wrote(tmp_path, venv_bin):
    out = tmp_path / "yard_bag"
    result = subprocess.run([str(venv_bin / "depth-ros-sim"), "--out", str(out), "--frames", "2", "--scene", "yard",
                             "--width", "64", "--height", "48", "--quiet"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "/lidar/points" in result.stdout
    assert bag_topics(out)["/camera/depth_gt"].count == 2


@pytest.mark.parametrize("args, match", [
    (["--frames", "0"], "argument --frames: must be >= 1, got 0"),
    (["--frames", "2", "--scene", "moon"], "argument --scene: invalid choice: 'moon'"),
    (["--frames", "2", "--out-of-place"], "unrecognized arguments: --out-of-place"),
    (["--frames", "2", "--lidar-lag", "0.1"], "lidar_lag_s must be in [0, one frame period = 0.1 s), got 0.1"),
])
def test_console_script_rejects_bad_arguments_in_one_line(tmp_path, venv_bin, args, match):
    result = subprocess.run([str(venv_bin / "depth-ros-sim"), "--out", str(tmp_path / "bag"), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_gets_one_line_and_leaves_nothing(tmp_path, venv_bin):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run([str(venv_bin / "depth-ros-sim"), "--out", str(blocker / "bag"), "--frames", "1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("depth-ros-sim: error: --out:")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_a_drive_with_moving_objects_a_sweep_in_motion_and_drifting_odometry(tmp_path):
    from depth_ros.conversions import transform_from_msg

    common = dict(seed=5, width=160, height=48, moving_objects=4, sweep_motion=True, speed=10.0, progress=False)
    drifting = write_sim_bag(tmp_path / "drifting", "street", 3, odometry_drift=(0.5, 2.0), **common)
    exact = write_sim_bag(tmp_path / "exact", "street", 3, **common)
    clouds = [m.msg for m in read_messages(drifting, ["/lidar/points"])]
    times = pointcloud_from_msg(clouds[1], ("time",))["time"]
    assert times.dtype == np.float32 and 0.0 <= times.min() and 0.09 < times.max() < 0.1   # one 100 ms sweep
    # The sensors are the same; only /tf drifts from the true motion (0.5 m/s): about 0.1 m after 0.2 s.
    np.testing.assert_array_equal(pointcloud_from_msg(clouds[2])["x"],
                                  pointcloud_from_msg([m.msg for m in read_messages(exact, ["/lidar/points"])][2])["x"])
    poses = [[transform_from_msg(m.msg.transforms[0])[2] for m in read_messages(b, ["/tf"])] for b in (drifting, exact)]
    gap = [np.linalg.norm(a[:3, 3] - b[:3, 3]) for a, b in zip(*poses)]
    assert gap[0] < 1e-9 and 0.08 < gap[2] < 0.13

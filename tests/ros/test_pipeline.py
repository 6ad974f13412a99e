"""The frame pipeline shared by the node and the replay, driven with real bag messages."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from depth_core.geometry import CameraIntrinsics, backproject, project_points, transform_to_xyzquat
from depth_core.inference import load_estimator
from depth_core.models import create_model
from depth_ros.bag import read_messages
from depth_ros.conversions import (
    ConversionError,
    camera_info_to_msg,
    compressed_to_msg,
    depth_from_msg,
    image_to_msg,
    make_header,
    pack_rgb,
    pointcloud_from_msg,
    pointcloud_to_msg,
    rosbags_types,
    stamp_to_ns,
    tree_from_tf_messages,
)
from depth_ros.pipeline import FramePipeline, LidarStatus, PipelineConfig

TYPES = rosbags_types()


@pytest.fixture(scope="module")
def bag_frames(sim_bag):
    msgs = {}
    for m in read_messages(sim_bag):
        msgs.setdefault(m.topic, []).append(m.msg)
    tree = tree_from_tf_messages(msgs["/tf_static"])
    extrinsic = list(transform_to_xyzquat(tree.lookup("camera_optical_frame", "lidar_link")))
    return msgs, extrinsic


@pytest.fixture(scope="module")
def estimator():
    torch.manual_seed(0)
    return load_estimator(create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]), "torch")


def _pipeline(est, extrinsic, **cfg):
    return FramePipeline(est, PipelineConfig(lidar_extrinsic=extrinsic, **cfg), TYPES)


def test_outputs_follow_depth_image_proc_conventions(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2], msgs["/lidar/points"][2]
    frame = _pipeline(estimator, extrinsic).process(image, info, cloud)
    assert frame.mode == "completion" and frame.lidar_status == "used" and abs(frame.lidar_age) < 1e-9
    depth_msg = frame.messages["depth"]
    assert depth_msg.encoding == "32FC1" and depth_msg.header == image.header
    depth = depth_from_msg(depth_msg)
    assert depth.shape == (96, 320) and np.isfinite(depth).all()
    info_out = frame.messages["camera_info"]
    assert (info_out.width, info_out.height) == (320, 96) and info_out.header == image.header
    points = frame.messages["points"]
    assert (points.height, points.width, points.is_dense) == (96, 320, False)
    f = pointcloud_from_msg(points)
    xyz = np.stack([f["x"], f["y"], f["z"]], 1).reshape(96, 320, 3)
    np.testing.assert_allclose(xyz, backproject(depth, info_out.k.reshape(3, 3)), rtol=1e-5, equal_nan=True)
    assert {"decode", "lidar", "inference", "postprocess", "encode", "pseudo_lidar"} <= set(frame.timings)


def test_a_rectified_image_is_projected_with_p_and_the_choice_is_logged_once(bag_frames, estimator, caplog):
    """A camera_info whose K is the raw camera's (KITTI's bags) projects the LiDAR and scales the
    depth with P: the outputs equal those of the same frame whose K is P. ``camera_matrix: k``
    takes K, and the output intrinsics follow."""
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2], msgs["/lidar/points"][2]
    raw = copy.deepcopy(info)
    K = info.k.reshape(3, 3).copy()
    K[0, 0] *= 1.33
    K[1, 1] *= 1.33
    raw.k = K.reshape(-1)
    same = _pipeline(estimator, extrinsic).process(image, info, cloud)
    pipe = _pipeline(estimator, extrinsic)
    with caplog.at_level("WARNING", logger="depth_ros.pipeline"):
        by_p = pipe.process(image, raw, cloud)
        pipe.process(image, raw, cloud)
    notes = [r.getMessage() for r in caplog.records if "projecting with" in r.getMessage()]
    assert len(notes) == 1 and "projecting with P" in notes[0], notes     # once per camera, not per frame
    np.testing.assert_array_equal(depth_from_msg(by_p.messages["depth"]), depth_from_msg(same.messages["depth"]))
    np.testing.assert_allclose(by_p.messages["camera_info"].k, info.k)
    by_k = _pipeline(estimator, extrinsic, camera_matrix="k").process(image, raw, cloud)
    np.testing.assert_allclose(by_k.messages["camera_info"].k, K.reshape(-1))
    assert not np.allclose(depth_from_msg(by_k.messages["depth"]), depth_from_msg(same.messages["depth"]),
                           equal_nan=True)
    with pytest.raises(ValueError, match="camera_matrix: expected one of auto, p, k, got 'raw'"):
        PipelineConfig(camera_matrix="raw")


def test_output_size_stride_range_colour_and_nan(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    image, info = msgs["/camera/image_raw"][0], msgs["/camera/camera_info"][0]
    pipe = _pipeline(estimator, extrinsic, output_width=160, output_height=48, points_stride=2, points_rgb=True)
    frame = pipe.process(image, info)
    assert frame.mode == "prediction" and frame.lidar_status == "none"
    assert frame.messages["camera_info"].width == 160
    k = frame.messages["camera_info"].k
    np.testing.assert_allclose(k[0], info.k[0] / 2)                       # fx halves with the width
    points = frame.messages["points"]
    assert (points.height, points.width) == (24, 80) and [f.name for f in points.fields] == ["x", "y", "z", "rgb"]
    f = pointcloud_from_msg(points, ("x", "y", "z", "rgb"))
    assert f["rgb"].dtype == np.float32 and not np.isnan(f["x"]).any()
    ranges = np.sqrt(f["x"] ** 2 + f["y"] ** 2 + f["z"] ** 2)
    limit = float(np.median(ranges))
    capped = _pipeline(estimator, extrinsic, output_width=160, output_height=48, points_stride=2,
                       points_max_range=limit).process(image, info)
    g = pointcloud_from_msg(capped.messages["points"], ("x",))
    np.testing.assert_array_equal(np.isnan(g["x"]), ranges > limit)   # beyond the range: NaN, in place
    assert pack_rgb(np.array([[1, 2, 3]], np.uint8)).view(np.uint32)[0] == 0x010203


def test_lidar_problems_fall_back_to_prediction(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][3], msgs["/camera/camera_info"][3], msgs["/lidar/points"][0]
    assert _pipeline(estimator, extrinsic).process(image, info, cloud).lidar_status == "stale"   # 0.3 s old
    assert _pipeline(estimator, None).process(image, info, msgs["/lidar/points"][3]).lidar_status == "no_extrinsic"
    header = msgs["/lidar/points"][3].header
    nan = np.full(4, np.nan, np.float32)
    nan_cloud = pointcloud_to_msg(TYPES, header, {"x": nan, "y": nan, "z": nan})
    frame = _pipeline(estimator, extrinsic).process(image, info, nan_cloud)
    assert frame.lidar_status is LidarStatus.DAMAGED and frame.lidar_reason == "empty_cloud"
    assert frame.mode == "prediction" and frame.lidar_status.is_problem
    disabled = _pipeline(estimator, extrinsic, use_lidar=False).process(image, info, msgs["/lidar/points"][3])
    assert disabled.lidar_status == "disabled" and disabled.mode == "prediction"


def test_bad_images_raise_reasons(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    image, info = msgs["/camera/image_raw"][0], msgs["/camera/camera_info"][0]
    pipe = _pipeline(estimator, extrinsic)
    zero = TYPES.Image(header=make_header(TYPES, 0, "cam"), height=image.height, width=image.width,
                       encoding=image.encoding, is_bigendian=0, step=image.step, data=image.data)
    for msg, cam, reason in ((zero, info, "zero_stamp"), (image, None, "missing_camera_info")):
        with pytest.raises(ConversionError) as exc:
            pipe.process(msg, cam)
        assert exc.value.reason == reason


def test_a_zero_stamp_takes_the_fallback_stamp_everywhere(bag_frames, estimator):
    """A driver without a clock: the receive (or bag) time stands in, on every output."""
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2], msgs["/lidar/points"][2]
    real = image.header
    zero = TYPES.Image(header=make_header(TYPES, 0, real.frame_id), height=image.height, width=image.width,
                       encoding=image.encoding, is_bigendian=0, step=image.step, data=image.data)
    when = real.stamp.sec * 10**9 + real.stamp.nanosec
    frame = _pipeline(estimator, extrinsic).process(zero, info, cloud, fallback_stamp_ns=when)
    assert frame.prepared.stamp_fallback and frame.stamp_ns == when and frame.mode == "completion"
    assert all(m.header.stamp == real.stamp for m in frame.messages.values())
    assert not _pipeline(estimator, extrinsic).process(image, info, cloud, fallback_stamp_ns=1).prepared.stamp_fallback


def test_an_image_without_a_frame_id_is_published_in_camera_infos(bag_frames, estimator):
    """A driver that leaves the image's frame_id empty: the outputs carry camera_info's, which TF,
    RViz and a costmap can place, with the image's stamp."""
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2], msgs["/lidar/points"][2]
    bare = copy.deepcopy(image)
    bare.header.frame_id = ""
    frame = _pipeline(estimator, extrinsic).process(bare, info, cloud)
    assert frame.frame_id == info.header.frame_id == "camera_optical_frame" and frame.mode == "completion"
    assert {m.header.frame_id for m in frame.messages.values()} == {"camera_optical_frame"}
    assert all(m.header.stamp == image.header.stamp for m in frame.messages.values())


def test_process_is_prepare_then_run_and_returns_what_it_prepared(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2], msgs["/lidar/points"][2]
    pipe = _pipeline(estimator, extrinsic)
    frame = pipe.process(image, info, cloud, outputs=())
    prepared = frame.prepared
    assert prepared.rgb.shape == (96, 320, 3) and prepared.camera.width == 320
    assert prepared.points.shape[1] == 3 and (prepared.points[:, 2] > 0).all()
    assert prepared.rings is not None and prepared.rings.shape == (len(prepared.points),)
    again = pipe.run(pipe.prepare(image, info, cloud), outputs=())
    np.testing.assert_array_equal(again.depth, frame.depth)


def test_compressed_images(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    image, info = msgs["/camera/image_raw"][0], msgs["/camera/camera_info"][0]
    from depth_ros.conversions import rgb_from_msg

    rgb = rgb_from_msg(image)
    jpeg = compressed_to_msg(TYPES, rgb, image.header, "jpeg")
    png = compressed_to_msg(TYPES, rgb, image.header, "png")
    pipe = _pipeline(estimator, extrinsic)
    assert pipe.process(jpeg, info).depth.shape == (96, 320)
    np.testing.assert_array_equal(pipe.decode_image(png), rgb)
    assert np.abs(pipe.decode_image(jpeg).astype(int) - rgb).mean() < 6
    bad = TYPES.CompressedImage(header=image.header, format="jpeg", data=TYPES.byte_array(np.zeros(10, np.uint8)))
    with pytest.raises(ConversionError, match="do not decode"):
        pipe.process(bad, info)


def test_min_confidence_makes_depth_nan_exactly_where_the_confidence_is_lower(confidence_model, bag_frames,
                                                                               estimator):
    est = load_estimator(str(confidence_model), backend="torch")
    header = make_header(TYPES, 1_700_000_000 * 10**9, "camera_optical_frame")
    rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    image = image_to_msg(TYPES, rgb, "rgb8", header)
    info = camera_info_to_msg(TYPES, CameraIntrinsics(120.0, 120.0, 80.0, 60.0, 160, 120), header)
    full = FramePipeline(est, PipelineConfig(), TYPES).process(image, info)
    threshold = float(np.median(full.confidence))
    cut = FramePipeline(est, PipelineConfig(min_confidence=threshold), TYPES).process(image, info)
    low = full.confidence < threshold
    assert 0 < low.sum() < low.size and np.isfinite(full.depth).all()
    np.testing.assert_array_equal(np.isnan(cut.depth), low)
    np.testing.assert_array_equal(cut.depth[~low], full.depth[~low])
    np.testing.assert_array_equal(depth_from_msg(cut.messages["depth"]), cut.depth)
    np.testing.assert_array_equal(depth_from_msg(cut.messages["confidence"]), full.confidence)   # unchanged
    z = pointcloud_from_msg(cut.messages["points"], ("z",))["z"].reshape(120, 160)
    np.testing.assert_array_equal(np.isnan(z), low)

    msgs, extrinsic = bag_frames          # a model without a confidence ignores it
    plain = _pipeline(estimator, extrinsic, min_confidence=0.9).process(msgs["/camera/image_raw"][0],
                                                                         msgs["/camera/camera_info"][0])
    assert plain.confidence is None and np.isfinite(plain.depth).all()


def _odometry_samples(msgs) -> list:
    """The bag's odom -> base_link poses, as ``(stamp_ns, T)`` in time order."""
    from depth_ros.conversions import transform_from_msg

    samples = []
    for tf in msgs["/tf"]:
        for ts in tf.transforms:
            _, child, T, stamp = transform_from_msg(ts)
            if child == "base_link":
                samples.append((stamp, T))
    return sorted(samples, key=lambda s: s[0])


def _odometry_and_mount(msgs):
    """The bag's odom -> base_link poses, and the base's pose in the camera frame."""
    from depth_core.geometry import PoseHistory

    odometry = PoseHistory()
    for stamp, T in _odometry_samples(msgs):
        odometry.add(stamp, T)
    tree = tree_from_tf_messages(msgs["/tf_static"])
    return odometry, list(transform_to_xyzquat(tree.lookup("camera_optical_frame", "base_link")))


def test_accumulated_sweeps_join_the_newest_cloud(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    odometry, mount = _odometry_and_mount(msgs)
    single = _pipeline(estimator, extrinsic)
    several = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=2,
                                                      base_extrinsic=mount), TYPES, odometry=odometry)
    for i in range(4):
        args = (msgs["/camera/image_raw"][i], msgs["/camera/camera_info"][i], msgs["/lidar/points"][i])
        one, many = single.prepare(*args), several.prepare(*args)
    assert many.lidar_status is LidarStatus.USED and many.past_sweeps == 2 and many.accumulation == ""
    # The past sweeps' points in the image join the newest's (those outside it are left out).
    def in_image(frame):
        cam = frame.camera
        return int((project_points(frame.points, cam.K, cam.height, cam.width) > 0).sum())
    assert in_image(many) > 1.3 * in_image(one)     # 1.44x here: many land on pixels the newest has
    # Each sweep keeps its brightness in the image it came with, for the photometric rule; by default
    # (lidar_align_images) each image after the first corrects the odometry by them.
    assert all(sweep.shade is not None and np.isfinite(sweep.shade).any() for sweep, _, _ in several.sweeps.history)
    counts = several.sweeps.counts
    assert several.sweeps.image_alignment and counts["aligned"] > 0 and counts["aligned"] + counts["not_aligned"] == 3
    as_is = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=2,
                                                    base_extrinsic=mount, lidar_align_images=False), TYPES,
                          odometry=odometry)
    for i in range(4):
        as_is.prepare(msgs["/camera/image_raw"][i], msgs["/camera/camera_info"][i], msgs["/lidar/points"][i])
    assert not as_is.sweeps.image_alignment and as_is.sweeps.counts["aligned"] == 0
    assert as_is.sweeps.counts["not_aligned"] == 0
    # A camera faster than the LiDAR: each cloud comes with two images, and the history still grows.
    twice = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=2,
                                                    base_extrinsic=mount), TYPES, odometry=odometry)
    for i in range(4):
        args = (msgs["/camera/image_raw"][i], msgs["/camera/camera_info"][i], msgs["/lidar/points"][i])
        for _ in range(2):
            frame = twice.prepare(*args)
    assert frame.past_sweeps == 2 and twice.sweeps.counts["cleared_time"] == 0
    assert len(frame.points) == len(many.points)
    # Odometry that lags: a cloud's pose arrives after its first image, and its second image
    # accumulates with it (every other cloud, so that the last pose known is 0.2 s old at first).
    from depth_core.geometry import PoseHistory

    poses, late = _odometry_samples(msgs), PoseHistory()
    lagging = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=2,
                                                      base_extrinsic=mount), TYPES, odometry=late)
    for i in (0, 2, 4):
        args = (msgs["/camera/image_raw"][i], msgs["/camera/camera_info"][i], msgs["/lidar/points"][i])
        first = lagging.prepare(*args)
        cloud_ns = stamp_to_ns(msgs["/lidar/points"][i].header.stamp)
        for t, T in poses:
            if t <= cloud_ns and t not in late.stamps:
                late.add(t, T)
        second = lagging.prepare(*args)
    assert first.accumulation == "no_odometry" and second.past_sweeps == 2
    # Without the base's mounting (no TF, no base_extrinsic) it says why and uses the one sweep.
    unmounted = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, lidar_accumulate=2), TYPES,
                              odometry=odometry)
    frame = unmounted.prepare(msgs["/camera/image_raw"][3], msgs["/camera/camera_info"][3], msgs["/lidar/points"][3])
    assert frame.accumulation == "no_base_extrinsic" and len(frame.points) == len(one.points)


def test_a_lidar_dropout_is_held_by_odometry_then_falls_back(bag_frames, estimator):
    msgs, extrinsic = bag_frames
    odometry, mount = _odometry_and_mount(msgs)
    held = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, lidar_hold_s=0.25,
                                                   base_extrinsic=mount), TYPES, odometry=odometry)
    images, infos, clouds = msgs["/camera/image_raw"], msgs["/camera/camera_info"], msgs["/lidar/points"]
    held.prepare(images[0], infos[0], clouds[0])
    # The LiDAR drops out: frames 1 and 2 (0.1 and 0.2 s later) keep completing from the held sweep,
    # moved by the odometry; frame 3 (0.3 s) is past the hold and falls back to the image alone.
    statuses = [held.prepare(images[i], infos[i], None).lidar_status for i in (1, 2, 3)]
    assert statuses == [LidarStatus.HELD, LidarStatus.HELD, LidarStatus.NONE]
    frame = held.prepare(images[1], infos[1], None)
    result = held.run(frame, outputs=())
    assert result.mode == "completion" and result.lidar_status is LidarStatus.HELD
    # The held points are the first sweep moved forward: nearer than where they were measured.
    first = held.prepare(images[0], infos[0], clouds[0]).points
    assert np.median(frame.points[:, 2]) < np.median(first[:, 2])
    # Less those that nearer points now hide from the camera, which is somewhere the LiDAR never was.
    from depth_core.geometry import hidden_keep, points_in_front

    frame = held.prepare(images[2], infos[2], None)
    merged, _, _ = held.sweeps.cloud(stamp_ns=stamp_to_ns(images[2].header.stamp),
                                     camera=(held._last_extrinsic, frame.camera))
    ahead, _ = points_in_front(merged[:, 0], merged[:, 1], merged[:, 2], held._last_extrinsic)
    visible = hidden_keep(ahead, np.ones(len(ahead), bool), frame.camera)
    assert visible.sum() < len(ahead) and len(frame.points) == visible.sum()


def test_per_point_times_are_read_as_the_drivers_write_them():
    from depth_ros.conversions import point_times

    stamp = 1_700_000_000_000_000_000
    expected = np.array([stamp, stamp + 50_000_000])
    for values in (np.array([0.0, 0.05], np.float32),              # Velodyne: float seconds from the stamp
                   np.array([0, 50_000_000], np.uint32),            # Ouster: integer ns from the stamp
                   np.array([1_700_000_000.0, 1_700_000_000.05])):  # Hesai: absolute seconds
        assert np.abs(point_times(values, stamp) - expected).max() < 1000   # within 1 microsecond


def test_a_transform_tf_knows_only_at_another_time_is_used_near_it_and_filed_under_its_own_time(bag_frames,
                                                                                              estimator):
    """TF lags: odom -> base is known up to a little before the image. The pipeline files that pose
    under its own time (never under the stamp it asked for), uses it for points_frame within
    lidar_max_age, and beyond that leaves the points out but still publishes the depth."""
    from depth_core.geometry import make_transform
    from depth_ros.pipeline import StaleTransform

    msgs, extrinsic = bag_frames
    image, info = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2]
    stamp = stamp_to_ns(image.header.stamp)
    T_odom_cam = make_transform(translation=[1.0, 2.0, 3.0])
    lag = {"ns": 50_000_000}

    def lookup(target, source, stamp_ns):
        if (target, source) == ("odom", "camera_optical_frame"):
            raise StaleTransform("TF lags", stamp_ns - lag["ns"], T_odom_cam)
        if (target, source) == ("odom", "base_link"):
            raise StaleTransform("TF lags", stamp_ns - lag["ns"], np.eye(4))
        raise KeyError(f"{source} -> {target}")

    pipe = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, points_frame="odom"), TYPES, lookup)
    near = pipe.process(image, info)
    assert near.messages["points"].header.frame_id == "odom" and not near.points_problem
    f = pointcloud_from_msg(near.messages["points"])
    depth = depth_from_msg(near.messages["depth"])
    ok = np.isfinite(depth.ravel())
    np.testing.assert_allclose(f["z"][ok], depth.ravel()[ok] + 3.0, rtol=1e-5)   # moved by T_odom_cam
    assert pipe._pose(stamp) is not None and pipe.odometry.stamps == [stamp - lag["ns"]]
    lag["ns"] = 500_000_000                               # beyond lidar_max_age (0.15 s)
    far = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, points_frame="odom"), TYPES,
                        lookup).process(image, info)
    assert "points" not in far.messages and "TF lags" in far.points_problem
    np.testing.assert_array_equal(depth_from_msg(far.messages["depth"]), depth)


def test_a_cloud_stamped_before_its_image_is_moved_to_the_images_stamp_by_the_odometry(lagged_bag, estimator):
    from depth_core.geometry import PoseHistory, hidden_keep, transform_from_xyzquat, transform_points

    msgs = {}
    for m in read_messages(lagged_bag):
        msgs.setdefault(m.topic, []).append(m.msg)
    tree = tree_from_tf_messages(msgs["/tf_static"])
    T_cam_lidar = tree.lookup("camera_optical_frame", "lidar_link")
    extrinsic = list(transform_to_xyzquat(T_cam_lidar))
    odometry, mount = _odometry_and_mount(msgs)
    images, infos, clouds = msgs["/camera/image_raw"], msgs["/camera/camera_info"], msgs["/lidar/points"]
    image_ns, cloud_ns = stamp_to_ns(images[2].header.stamp), stamp_to_ns(clouds[2].header.stamp)
    assert image_ns - cloud_ns == 50_000_000            # the bag: the scan 50 ms before its image
    args = (images[2], infos[2], clouds[2])
    moved = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount), TYPES,
                          odometry=odometry).prepare(*args)
    kept = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount,
                                                   lidar_to_image_time=False), TYPES, odometry=odometry).prepare(*args)
    alone = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount), TYPES,
                          odometry=PoseHistory()).prepare(*args)
    # Where the points are at the image's stamp: moved by the robot's motion from then to now.
    T_base_cam = np.linalg.inv(transform_from_xyzquat(mount))
    T_base_lidar = T_base_cam @ T_cam_lidar
    now, then = odometry.at(image_ns, 0), odometry.at(cloud_ns, 0)
    T_now_then = np.linalg.inv(now @ T_base_lidar) @ then @ T_base_lidar
    xyz = pointcloud_from_msg(clouds[2])
    raw = np.stack([xyz["x"], xyz["y"], xyz["z"]], axis=1)
    at_capture = transform_points(T_cam_lidar, raw)
    in_front = at_capture[:, 2] > 1e-3
    assert len(kept.points) == int(in_front.sum())
    np.testing.assert_allclose(kept.points, at_capture[in_front], atol=1e-4)
    # Moved, less the points that nearer ones now hide from the camera (seen from elsewhere).
    now_points = transform_points(T_cam_lidar @ T_now_then, raw)[in_front]
    visible = hidden_keep(now_points, np.ones(len(now_points), bool), moved.camera)
    assert 0.9 * len(now_points) < visible.sum() < len(now_points)
    np.testing.assert_allclose(moved.points, now_points[visible], atol=1e-3)
    assert abs(np.linalg.norm(moved.lidar_motion[:3, 3]) - 0.5) < 0.01   # 10 m/s for 50 ms
    assert np.median(moved.points[:, 2]) < np.median(kept.points[:, 2])   # driving on: nearer
    assert kept.lidar_motion is None and alone.lidar_motion is None        # off; no odometry to move by
    np.testing.assert_allclose(alone.points, kept.points)
    # With past sweeps, the merged cloud is moved as one: the newest sweep first, as above.
    several = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount,
                                                      lidar_accumulate=2), TYPES, odometry=odometry)
    for i in range(3):
        frame = several.prepare(images[i], infos[i], clouds[i])
    assert frame.past_sweeps == 2 and len(frame.points) > len(moved.points)
    np.testing.assert_allclose(frame.lidar_motion, moved.lidar_motion)
    # Its brightness, for the photometric rule, is read where the image saw it: at the moved points.
    from depth_core.geometry import CameraShades

    newest = several.sweeps.history[-1][0]
    at_image = CameraShades(frame.rgb, T_cam_lidar @ frame.lidar_motion, frame.camera).sample(newest.points)
    at_capture = CameraShades(frame.rgb, T_cam_lidar, frame.camera).sample(newest.points)
    np.testing.assert_array_equal(newest.shade, at_image)
    assert not np.allclose(at_capture, at_image, equal_nan=True)     # 0.5 m apart: not the same pixels
    # Not moved (lidar_to_image_time off): the image saw the scene 50 ms later; no brightness is read.
    unmoved = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount,
                                                      lidar_accumulate=2, lidar_to_image_time=False), TYPES,
                            odometry=odometry)
    for i in range(3):
        unmoved.prepare(images[i], infos[i], clouds[i])
    assert unmoved.sweeps.history[-1][0].shade is None
    # A synchronised cloud is not moved.
    sync = copy.deepcopy(clouds[2])
    sync.header.stamp = images[2].header.stamp
    same = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount), TYPES,
                         odometry=odometry).prepare(images[2], infos[2], sync)
    assert same.lidar_motion is None
    np.testing.assert_allclose(same.points, kept.points, atol=1e-4)
    # 50 us apart (hardware sync with jitter), with the history path on: not moved, nothing dropped.
    near = copy.deepcopy(clouds[2])
    near.header.stamp.nanosec = (near.header.stamp.nanosec + 50_000_000 - 50_000) % 10**9   # 50 us before
    assert stamp_to_ns(near.header.stamp) == image_ns - 50_000
    jitter = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount,
                                                     lidar_accumulate=1), TYPES, odometry=odometry)
    frame = jitter.prepare(images[2], infos[2], near)
    assert frame.lidar_motion is None and frame.lidar_unmoved == "" and len(frame.points) == len(kept.points)
    # Odometry that lags: up to 120 ms before the cloud it is carried on at its last velocity (as
    # far as lidar_max_age); the image, 170 ms past the newest pose, is beyond that: not moved, and why.
    lagging = PoseHistory()
    for t in odometry.stamps:
        if t <= cloud_ns - 120_000_000:
            lagging.add(t, odometry.at(t, 0))
    behind = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount), TYPES,
                           odometry=lagging).prepare(*args)
    assert behind.lidar_motion is None and behind.lidar_unmoved == "odometry_behind"
    np.testing.assert_allclose(behind.points, kept.points, atol=1e-4)
    lagging.add(cloud_ns - 20_000_000, odometry.at(cloud_ns - 20_000_000, 0))   # now 70 ms behind the image
    ahead = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic, base_extrinsic=mount), TYPES,
                          odometry=lagging).prepare(*args)
    np.testing.assert_allclose(ahead.lidar_motion, moved.lidar_motion, atol=1e-3)   # a straight drive: exact
    # No odometry at all, or no mounting on the base: not moved, and why.
    assert alone.lidar_unmoved == "no_odometry" and kept.lidar_unmoved == ""
    unmounted = FramePipeline(estimator, PipelineConfig(lidar_extrinsic=extrinsic), TYPES,
                              odometry=odometry).prepare(*args)
    assert unmounted.lidar_motion is None and unmounted.lidar_unmoved == "no_base_extrinsic"


def test_a_sweep_stamped_at_its_start_is_fresh_while_it_swept_near_the_image(bag_frames, estimator):
    """Ouster stamps a 100 ms sweep at its start: an image 190 ms after that stamp is 90 ms after the
    sweep ended, within lidar_max_age (0.15 s), so the cloud is used, not stale. A cloud without
    per-point times, or one whose sweep ended long before, is still stale."""
    msgs, extrinsic = bag_frames
    image, info, cloud = msgs["/camera/image_raw"][2], msgs["/camera/camera_info"][2], msgs["/lidar/points"][2]
    stamp = stamp_to_ns(image.header.stamp)
    xyz = pointcloud_from_msg(cloud, ("x", "y", "z"))
    n = len(xyz["x"])

    def ouster(start_ns: int, span_ns: int):
        fields = {**xyz, "t": np.linspace(0, span_ns, n).astype(np.uint32)}   # ns from the stamp, as Ouster
        return pointcloud_to_msg(TYPES, make_header(TYPES, start_ns, "lidar_link"), fields)

    pipe = _pipeline(estimator, extrinsic)
    fresh = pipe.prepare(image, info, ouster(stamp - 190_000_000, 100_000_000))
    assert fresh.lidar_status is LidarStatus.USED and abs(fresh.lidar_age - 0.19) < 1e-9
    ended = pipe.prepare(image, info, ouster(stamp - 190_000_000, 20_000_000))     # ended 170 ms before
    assert ended.lidar_status is LidarStatus.STALE
    plain = pointcloud_to_msg(TYPES, make_header(TYPES, stamp - 190_000_000, "lidar_link"), xyz)
    assert pipe.prepare(image, info, plain).lidar_status is LidarStatus.STALE
    after = pipe.prepare(image, info, ouster(stamp + 190_000_000, 100_000_000))    # starts 190 ms after
    assert after.lidar_status is LidarStatus.STALE

"""san_node as robots run it: its own process, real rclpy over Fast DDS (PyPI Jazzy wheels), fed
by depth-ros-play or by this test process, on this run's own ROS_DOMAIN_ID."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from node_harness import Probe, start_node, start_player
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_core.geometry import CameraIntrinsics, backproject, project_lidar, transform_to_xyzquat
from depth_core.inference.onnxruntime_backend import onnxruntime_unavailable
from depth_core.inference.quantize import cpu_int8_units
from depth_core.metrics import compute_depth_metrics
from depth_ros.bag import read_messages
from depth_ros.bag.simulate import write_sim_bag
from depth_ros.conversions import (
    camera_info_to_msg,
    depth_from_msg,
    image_to_msg,
    intrinsics_from_camera_info,
    make_header,
    pointcloud_from_msg,
    pointcloud_to_msg,
    rclpy_types,
    stamp_to_ns,
    tree_from_tf_messages,
)

pytestmark = pytest.mark.slow
OUTPUTS = {"/depth/image": Image, "/depth/camera_info": CameraInfo, "/pseudo_lidar/points": PointCloud2,
           "/diagnostics": DiagnosticArray}


@pytest.fixture(scope="module")
def node_bag(tmp_path_factory):
    return write_sim_bag(tmp_path_factory.mktemp("node") / "street", "street", 12, seed=7, progress=False)


@pytest.fixture(scope="module")
def extrinsic(node_bag):
    tree = tree_from_tf_messages(m.msg for m in read_messages(node_bag, ["/tf_static"]))
    return [float(v) for v in transform_to_xyzquat(tree.lookup("camera_optical_frame", "lidar_link"))]


@pytest.fixture(scope="module")
def ground_truth(node_bag):
    """Ground-truth depth per stamp at the pixels the LiDAR scan covers (NaN elsewhere): where a
    completion has information that a prediction lacks, and so must be better."""
    msgs: dict = {}
    for m in read_messages(node_bag, ["/camera/depth_gt", "/camera/camera_info", "/lidar/points"]):
        msgs.setdefault(stamp_to_ns(m.msg.header.stamp), {})[m.topic] = m.msg
    tree = tree_from_tf_messages(m.msg for m in read_messages(node_bag, ["/tf_static"]))
    T = tree.lookup("camera_optical_frame", "lidar_link")
    truth = {}
    for stamp, d in msgs.items():
        cam = intrinsics_from_camera_info(d["/camera/camera_info"])
        f = pointcloud_from_msg(d["/lidar/points"])
        covered = project_lidar(np.stack([f["x"], f["y"], f["z"]], 1), T, cam.K, cam.height, cam.width) > 0
        truth[stamp] = np.where(covered, depth_from_msg(d["/camera/depth_gt"]), np.nan)
    return truth


def _set_parameter(client, name: str, ptype: int, **value):
    """The SetParameters result for one parameter (None when the node does not answer in 10 s)."""
    req = SetParameters.Request(parameters=[Parameter(name=name, value=ParameterValue(type=ptype, **value))])
    future = client.call_async(req)
    deadline = time.monotonic() + 10
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return future.result().results[0] if future.done() else None


def _diagnostics(probe) -> dict:
    """The key/values of the newest /diagnostics message received (empty before the first)."""
    msgs = probe.wait("/diagnostics", 1, 0)
    return {kv.key: kv.value for kv in msgs[-1].status[0].values} if msgs else {}


def _abs_rel(msgs, truth):
    scores = [compute_depth_metrics(depth_from_msg(m), truth[stamp_to_ns(m.header.stamp)])["abs_rel"] for m in msgs]
    return float(np.mean(scores))


def _first_by_stamp(messages: list) -> dict:
    """stamp (ns) -> the first message received with it."""
    out: dict = {}
    for m in messages:
        out.setdefault(stamp_to_ns(m.header.stamp), m)
    return out


def test_node_publishes_depth_and_points_and_switches_modes(tmp_path, venv_bin, node_bag, extrinsic, ground_truth):
    node = start_node(tmp_path, {"lidar_extrinsic": extrinsic}, venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    players = []
    try:
        assert node.wait_for("ready in", 180), node.log
        players.append(start_player(tmp_path, venv_bin, node_bag, "--loop"))
        completion = probe.wait("/depth/image", 16, 90)[2:16]
        assert len(completion) == 14, node.log
        # The player loops, so stamps repeat, and a looped frame may go out in another mode (its scan
        # not there yet): pair each stamp's first depth, cloud and camera_info, which are one frame's.
        infos = _first_by_stamp(probe.wait("/depth/camera_info", 8, 10))
        clouds = _first_by_stamp(probe.wait("/pseudo_lidar/points", 8, 10))
        for msg in completion:
            stamp = stamp_to_ns(msg.header.stamp)
            assert stamp in ground_truth and msg.header.frame_id == "camera_optical_frame"
            assert msg.encoding == "32FC1" and (msg.width, msg.height) == (640, 192)
            depth = depth_from_msg(msg)
            assert not (depth <= 0).any() and not np.isinf(depth).any()  # invalid would be NaN, never 0
        depths = _first_by_stamp(probe.wait("/depth/image", 99, 0))
        stamp, cloud = next((s, c) for s, c in clouds.items() if s in infos and s in depths)
        depth = depth_from_msg(depths[stamp])
        f = pointcloud_from_msg(cloud)
        points = np.stack([f["x"], f["y"], f["z"]], 1).reshape(cloud.height, cloud.width, 3)
        K = intrinsics_from_camera_info(infos[stamp]).K
        np.testing.assert_allclose(points, backproject(depth, K), rtol=1e-5, equal_nan=True)
        assert cloud.is_dense is False and cloud.header.frame_id == "camera_optical_frame"
        assert node.wait_for("-> completion (LiDAR points in use)", 5), node.log

        players.pop().stop()                                   # the LiDAR stops: prediction
        players.append(start_player(tmp_path, venv_bin, node_bag, "--loop", "--topics", "/camera/image_raw",
                                    "/camera/camera_info", name="play_camera_only"))
        # (The mode may already be prediction for a frame whose scan DDS dropped, so wait for the state,
        # not for one particular switch.)
        deadline = time.monotonic() + 30
        while _diagnostics(probe).get("mode") != "prediction":
            assert time.monotonic() < deadline, node.log
            time.sleep(0.2)
        assert "-> prediction" in node.log
        probe.clear()
        prediction = probe.wait("/depth/image", 16, 60)
        diag = probe.wait("/diagnostics", 1, 5)[-1].status[0]
        values = {kv.key: kv.value for kv in diag.values}
        assert values["mode"] == "prediction" and "san_efficientnet_lite0" in values["model"]
        assert {"rate_hz", "latency_p50_ms", "latency_p95_ms", "dropped", "lidar_age_s"} <= set(values)

        players.pop().stop()                                   # the LiDAR resumes
        mark = len(node.log)
        players.append(start_player(tmp_path, venv_bin, node_bag, "--loop", name="play_again"))
        assert node.wait_for("mode: prediction -> completion", 30, since=mark), node.log

        # The same frames in both modes (the player loops the bag, so stamps repeat).
        by_stamp = {stamp_to_ns(m.header.stamp): m for m in prediction}
        # Not the bag's first frame: when the player loops, that image can arrive before its cloud.
        first = min(ground_truth)
        pairs = [(m, by_stamp[stamp_to_ns(m.header.stamp)]) for m in completion
                 if stamp_to_ns(m.header.stamp) in by_stamp and stamp_to_ns(m.header.stamp) != first]
        assert len(pairs) >= 5, [stamp_to_ns(m.header.stamp) for m in prediction]
        completion_abs_rel, prediction_abs_rel = (_abs_rel([c for c, _ in pairs], ground_truth),
                                                  _abs_rel([p for _, p in pairs], ground_truth))
        print(f"paired frames {len(pairs)}: AbsRel completion {completion_abs_rel:.4f}, "
              f"prediction {prediction_abs_rel:.4f}")
        assert completion_abs_rel < prediction_abs_rel
    finally:
        for p in players:
            p.stop()
        code, seconds = node.stop()
        probe.close()
    assert code == 0 and seconds < 5, node.log                  # SIGINT: a clean, quick exit


def test_full_size_outputs_cross_processes(tmp_path_factory, tmp_path, venv_bin):
    big = write_sim_bag(tmp_path_factory.mktemp("big") / "kitti_size", "street", 3, seed=2, width=1242, height=375,
                        progress=False)
    node = start_node(tmp_path, {"use_lidar": False}, venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        player = start_player(tmp_path, venv_bin, big, "--loop")
        depth = probe.wait("/depth/image", 3, 60)
        clouds = probe.wait("/pseudo_lidar/points", 3, 30)
        assert len(depth) >= 3 and len(clouds) >= 3, node.log
        assert len(depth[0].data) == 1242 * 375 * 4                        # 1.9 MB
        assert len(clouds[0].data) == 1242 * 375 * clouds[0].point_step    # 5.6 MB
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


def _bag_camera(bag, seed: int):
    """The bag's camera intrinsics and a random image of its size."""
    info = next(m.msg for m in read_messages(bag, ["/camera/camera_info"]))
    cam = intrinsics_from_camera_info(info)
    return cam, np.random.default_rng(seed).integers(0, 255, (cam.height, cam.width, 3), dtype=np.uint8)


def _matched_publishers(probe: Probe, node, *topics) -> list:
    """Publishers on ``(type, topic)`` pairs, returned once the node has subscribed to each of
    them and its depth output is discovered, plus a second for discovery to settle."""
    pubs = [probe.publisher(kind, topic) for kind, topic in topics]
    deadline = time.monotonic() + 30
    while min(p.get_subscription_count() for p in pubs) < 1 or probe.node.count_publishers("/depth/image") < 1:
        assert time.monotonic() < deadline, node.log
        time.sleep(0.1)
    time.sleep(1.0)
    return pubs


def test_an_image_whose_camera_info_comes_just_after_it_is_processed(tmp_path, venv_bin, node_bag):
    """The image and camera_info topics are not ordered: a first image that arrives 50 ms before
    any camera_info (as in playback, while discovery of the other topic ends) waits for it."""
    types = rclpy_types()
    cam, rgb = _bag_camera(node_bag, seed=1)
    node = start_node(tmp_path, {"use_lidar": False}, venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    try:
        assert node.wait_for("ready in", 180), node.log
        pub_image, pub_info = _matched_publishers(probe, node, (Image, "/camera/image_raw"),
                                                  (CameraInfo, "/camera/camera_info"))
        header = make_header(types, 1_700_000_000 * 10**9, "camera_optical_frame")
        pub_image.publish(image_to_msg(types, rgb, "rgb8", header))
        time.sleep(0.05)
        pub_info.publish(camera_info_to_msg(types, cam, header))
        depths = probe.wait("/depth/image", 1, 10)
        assert [stamp_to_ns(m.header.stamp) for m in depths] == [1_700_000_000 * 10**9], node.log
        assert "missing_camera_info" not in node.log
    finally:
        node.stop()
        probe.close()


def test_bad_input_is_logged_once_and_the_node_answers_the_next_good_frame(tmp_path, venv_bin, node_bag, extrinsic):
    types = rclpy_types()
    cam, rgb = _bag_camera(node_bag, seed=0)
    node = start_node(tmp_path, {"lidar_extrinsic": extrinsic}, venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    try:
        assert node.wait_for("ready in", 180), node.log
        pub_image, pub_info, pub_cloud = _matched_publishers(
            probe, node, (Image, "/camera/image_raw"), (CameraInfo, "/camera/camera_info"),
            (PointCloud2, "/lidar/points"))
        stamp = [1_700_000_000 * 10**9]

        def header(zero=False):
            stamp[0] += 10**8
            return make_header(types, 0 if zero else stamp[0], "camera_optical_frame")

        def image(h, **changes):
            msg = image_to_msg(types, rgb, "rgb8", h)
            for key, value in changes.items():
                setattr(msg, key, value)
            return msg

        def send(*msgs, wait=0.4):
            for pub, msg in msgs:
                pub.publish(msg)
                time.sleep(0.05)
            time.sleep(wait)

        h = header()
        send((pub_image, image(h)))                                            # no camera_info yet
        deadline = time.monotonic() + 10           # the diagnostics say why nothing comes out, not "waiting"
        while not _diagnostics(probe).get("mode", "").startswith("every image skipped (missing_camera_info 1"):
            assert time.monotonic() < deadline, (_diagnostics(probe), node.log)
            time.sleep(0.2)
        h = header()
        good_info = camera_info_to_msg(types, cam, h)
        send((pub_info, good_info), (pub_image, image(h, data=bytes(100))))  # truncated
        send((pub_image, image(h, encoding="yuv_weird")))                     # unknown encoding
        send((pub_image, image(h, step=cam.width)))                           # step mismatch
        probe.clear()
        send((pub_image, image(header(zero=True))))                           # zero stamp: the receive time
        h = header()
        zero_k = camera_info_to_msg(types, cam, h)
        zero_k.k, zero_k.p = np.zeros(9), np.zeros(12)
        send((pub_info, zero_k), (pub_image, image(h)))                       # zero K: the last valid one
        saved = probe.wait("/depth/image", 2, 30)
        assert len(saved) == 2 and stamp_to_ns(saved[0].header.stamp) > 0, node.log
        assert stamp_to_ns(saved[1].header.stamp) == stamp[0], node.log
        for cloud in (pointcloud_to_msg(types, make_header(types, stamp[0] + 10**8, "lidar_link"),
                                        {"x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32),
                                         "z": np.zeros(0, np.float32)}),
                      pointcloud_to_msg(types, make_header(types, stamp[0] + 2 * 10**8, "lidar_link"),
                                        {k: np.full(5, np.nan, np.float32) for k in "xyz"})):
            h = header()
            send((pub_cloud, cloud), (pub_info, camera_info_to_msg(types, cam, h)), (pub_image, image(h)))
        h = header()
        short = pointcloud_to_msg(types, make_header(types, h.stamp.sec * 10**9 + h.stamp.nanosec, "lidar_link"),
                                  {k: np.ones(5, np.float32) for k in "xyz"})
        short.point_step = 8
        send((pub_cloud, short), (pub_info, camera_info_to_msg(types, cam, h)), (pub_image, image(h)))

        probe.clear()
        h = header()                                                           # and now a good frame
        send((pub_info, camera_info_to_msg(types, cam, h)), (pub_image, image(h)), wait=0.1)
        answers = probe.wait("/depth/image", 1, 30)
        assert any(stamp_to_ns(m.header.stamp) == stamp[0] for m in answers), node.log
        log = node.log
        for reason in ("missing_camera_info", "truncated_data", "unknown_encoding", "step_mismatch", "empty_cloud",
                       "bad_point_step"):
            lines = log.count(f"skipping a frame ({reason})") + log.count(f"ignoring the LiDAR cloud ({reason})")
            assert lines == 1, f"{reason}:\n{log}"
        assert log.count("stamped zero") == 1 and log.count("camera_info unusable") == 1, log
        deadline, values = time.monotonic() + 10, {}
        while time.monotonic() < deadline and "fallback_camera_info" not in values:
            msgs = probe.wait("/diagnostics", 1, 2)
            values = {kv.key: kv.value for kv in msgs[-1].status[0].values} if msgs else {}
            probe.clear()
        assert values.get("fallback_stamp") == "1" and values.get("fallback_camera_info") == "1", values
        assert node.proc.poll() is None
    finally:
        node.stop()
        probe.close()


def test_parameters_are_validated_and_inputs_are_subscribed_only_while_an_output_is(tmp_path, venv_bin, node_bag,
                                                                                      extrinsic):
    node = start_node(tmp_path, {"lidar_extrinsic": extrinsic}, venv_bin / "san_node")
    probe = Probe({"/diagnostics": DiagnosticArray})
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        client = probe.node.create_client(SetParameters, "/san_node/set_parameters")
        assert client.wait_for_service(timeout_sec=20)
        bad = _set_parameter(client, "lidar_extrinsic", ParameterType.PARAMETER_DOUBLE_ARRAY,
                             double_array_value=[1.0, 2.0])
        assert not bad.successful and "lidar_extrinsic: expected 7 finite numbers" in bad.reason
        assert not _set_parameter(client, "model", ParameterType.PARAMETER_STRING, string_value="classical").successful
        bad = _set_parameter(client, "camera_matrix", ParameterType.PARAMETER_STRING, string_value="raw")
        assert not bad.successful and "camera_matrix: expected one of auto, p, k" in bad.reason
        assert _set_parameter(client, "camera_matrix", ParameterType.PARAMETER_STRING, string_value="p").successful
        assert _set_parameter(client, "points_stride", ParameterType.PARAMETER_INTEGER, integer_value=4).successful

        def inputs_subscribed(count, timeout=20):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if all(probe.node.count_subscribers(t) == count
                       for t in ("/camera/image_raw", "/camera/camera_info", "/lidar/points")):
                    return True
                time.sleep(0.1)
            return False

        player = start_player(tmp_path, venv_bin, node_bag, "--loop")
        time.sleep(4.0)                                       # the player's --delay 3, then messages flow
        assert inputs_subscribed(0, timeout=1), node.log      # nobody listens: the node does not subscribe
        depth = []
        # Reliable, as RViz2 and C++ nodes subscribe by default: it must match the node's outputs.
        sub = probe.node.create_subscription(Image, "/depth/image", depth.append, QoSProfile(depth=5))
        assert inputs_subscribed(1), node.log                 # a subscriber: the node subscribes to its inputs
        deadline = time.monotonic() + 60
        while not depth and time.monotonic() < deadline:
            time.sleep(0.1)
        assert depth, node.log
        probe.node.destroy_subscription(sub)
        assert inputs_subscribed(0), node.log                 # the last one left: the node unsubscribes
        # It logs after it has unsubscribed, and its log reaches us through a pipe: wait for the line.
        assert node.wait_for("unsubscribed from the inputs", 10), node.log
        assert "subscribed to the camera and LiDAR inputs" in node.log
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


def test_min_confidence_set_at_run_time_masks_depth_and_points_where_the_confidence_is_lower(tmp_path, venv_bin,
                                                                                               confidence_model):
    types = rclpy_types()
    cam = CameraIntrinsics(120.0, 120.0, 80.0, 60.0, 160, 120)
    rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    node = start_node(tmp_path, {"model": str(confidence_model), "backend": "torch", "use_lidar": False},
                      venv_bin / "san_node")
    probe = Probe({"/depth/image": Image, "/depth/confidence": Image, "/pseudo_lidar/points": PointCloud2})
    try:
        assert node.wait_for("ready in", 180), node.log
        pub_image = probe.publisher(Image, "/camera/image_raw")
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info")
        client = probe.node.create_client(SetParameters, "/san_node/set_parameters")
        assert client.wait_for_service(timeout_sec=20)
        deadline = time.monotonic() + 30                                       # discovery
        while min(p.get_subscription_count() for p in (pub_image, pub_info)) < 1:
            assert time.monotonic() < deadline, node.log
            time.sleep(0.1)

        def outputs(stamp):
            """depth, confidence and cloud of the frame stamped ``stamp``, republished until all three came."""
            h = make_header(types, stamp, "camera_optical_frame")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pub_info.publish(camera_info_to_msg(types, cam, h))
                pub_image.publish(image_to_msg(types, rgb, "rgb8", h))
                time.sleep(1.0)
                found = {t: [m for m in probe.wait(t, 0, 0) if stamp_to_ns(m.header.stamp) == stamp]
                         for t in probe.messages}
                if all(found.values()):
                    return [found[t][0] for t in ("/depth/image", "/depth/confidence", "/pseudo_lidar/points")]
            raise AssertionError(f"no outputs for stamp {stamp}:\n{node.log}")

        depth, confidence, _ = outputs(1_700_000_000 * 10**9)
        assert np.isfinite(depth_from_msg(depth)).all()                       # off by default
        threshold = float(np.median(depth_from_msg(confidence)))
        bad = _set_parameter(client, "min_confidence", ParameterType.PARAMETER_DOUBLE, double_value=1.5)
        assert not bad.successful and "min_confidence" in bad.reason
        assert _set_parameter(client, "min_confidence", ParameterType.PARAMETER_DOUBLE,
                              double_value=threshold).successful

        depth, confidence, cloud = outputs(1_700_000_001 * 10**9)
        depth, low = depth_from_msg(depth), depth_from_msg(confidence) < threshold
        assert 0 < low.sum() < low.size
        np.testing.assert_array_equal(np.isnan(depth), low)
        assert np.isfinite(depth[~low]).all()
        assert (cloud.height, cloud.width) == (120, 160)                      # organised, points_stride 1
        f = pointcloud_from_msg(cloud)
        points = np.stack([f["x"], f["y"], f["z"]], 1).reshape(120, 160, 3)
        np.testing.assert_array_equal(np.isnan(points).any(axis=2), low)
        np.testing.assert_allclose(points, backproject(depth, cam.K), rtol=1e-5, equal_nan=True)
    finally:
        node.stop()
        probe.close()


def test_colcon_installed_node_runs_with_a_params_file(tmp_path, colcon_install, venv_bin, node_bag, extrinsic):
    exe = colcon_install / "depth_ros" / "lib" / "depth_ros" / "san_node"
    assert exe.is_file()
    # What `ros2 run depth_ros san_node --ros-args --params-file ...` does: source, then run lib/depth_ros/<exe>.
    node = start_node(tmp_path, {"lidar_extrinsic": extrinsic, "points_stride": 2}, exe,
                      source=colcon_install / "setup.bash")
    probe = Probe(OUTPUTS)
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        player = start_player(tmp_path, venv_bin, node_bag, "--loop")
        clouds = probe.wait("/pseudo_lidar/points", 2, 60)
        assert clouds and (clouds[0].height, clouds[0].width) == (96, 320), node.log   # stride 2 from the file
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


@pytest.fixture(scope="module")
def truncated_model(tmp_path_factory):
    import depth_core.models

    shipped = Path(depth_core.models.__file__).parent / "weights" / "san_efficientnet_lite0.safetensors"
    path = tmp_path_factory.mktemp("bad") / "truncated.safetensors"
    path.write_bytes(shipped.read_bytes()[:100_000])
    return path


@pytest.mark.parametrize("params, message", [
    ({"backend": "torch", "precision": "int8"}, "precision int8 is not supported by torch (it runs fp32)"),
    ({"precision": "fp64"}, "precision: expected one of auto, fp32, fp16, int8, got 'fp64'"),
    ({"model": "TRUNCATED"}, "not a readable safetensors file"),
    ({"backend": "tensorrt"}, "TensorRT is not available here"),
    ({"model": "/no/such/model.engine"}, "model '/no/such/model.engine': neither a registered model"),
])
def test_a_model_or_backend_that_cannot_run_stops_the_node_with_one_clear_line(tmp_path, venv_bin, params, message,
                                                                                   truncated_model):
    from depth_core.inference.tensorrt import tensorrt_unavailable

    if params.get("model") == "TRUNCATED":
        params = {"model": str(truncated_model)}
    if params.get("precision") is None and params.get("backend") == "tensorrt" and tensorrt_unavailable() is None:
        pytest.skip("TensorRT is usable here: this checks the node without it")
    node = start_node(tmp_path, params, venv_bin / "san_node")
    try:
        node.proc.wait(120)
    finally:
        code, _ = node.stop()
    log = node.log_path.read_text()
    assert code == 2, log
    assert message in log and "Traceback" not in log, log


def test_the_node_runs_int8_on_onnx_runtime_with_the_built_in_calibration(tmp_path, venv_bin, node_bag, extrinsic,
                                                                           ground_truth):
    """precision:=int8 on ONNX Runtime (the CPU here): the node quantises the default on its
    built-in calibration set at start (or finds it quantised in the cache: tests/core/test_int8.py's
    gate makes the same 512x160 graph earlier in a whole run), says so and what the CPU's int8
    units let INT8 gain, and publishes completion depth over DDS as accurate as it should be."""
    node = start_node(tmp_path, {"lidar_extrinsic": extrinsic, "backend": "onnxruntime", "precision": "int8"},
                      venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    player = None
    try:
        assert node.wait_for("ready in", 300), node.log
        assert ("INT8: quantising" in node.log or "using cached INT8 graph" in node.log) \
            and "built-in simulated" in node.log and "] int8 at about" in node.log, node.log
        if onnxruntime_unavailable(gpu=True) is not None and cpu_int8_units() is not None:   # INT8 on the CPU
            assert "this CPU has" in node.log and "int8 dot-product instructions" in node.log, node.log
        player = start_player(tmp_path, venv_bin, node_bag, "--loop")
        depths = probe.wait("/depth/image", 6, 60)[2:6]
        assert len(depths) == 4, node.log
        assert _diagnostics(probe).get("model", "").find("int8") >= 0
        assert _abs_rel(depths, ground_truth) < 0.1, node.log      # completion: a few percent
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


def test_a_lidar_dropout_is_held_by_odometry_then_falls_back_to_the_image(tmp_path, venv_bin, node_bag, extrinsic):
    """lidar_hold_s over DDS: a cloud, then images without one, with nav_msgs/Odometry on odom
    (as on the PyPI install, where TF is not): held within the hold, camera-only after it. A cloud
    stamped 40 ms before its image is moved to the image's stamp by that odometry
    (lidar_to_image_time), counted and said once."""
    from geometry_msgs.msg import Pose
    from nav_msgs.msg import Odometry

    from depth_ros.conversions import rgb_from_msg, transform_from_msg

    types = rclpy_types()
    msgs: dict = {}
    for m in read_messages(node_bag, ["/camera/image_raw", "/camera/camera_info", "/lidar/points", "/tf"]):
        msgs.setdefault(m.topic, []).append(m.msg)
    tree = tree_from_tf_messages(m.msg for m in read_messages(node_bag, ["/tf_static"]))
    mount = [float(v) for v in transform_to_xyzquat(tree.lookup("camera_optical_frame", "base_link"))]
    node = start_node(tmp_path, {"lidar_extrinsic": extrinsic, "lidar_hold_s": 0.5, "base_extrinsic": mount},
                      venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    try:
        assert node.wait_for("ready in", 180), node.log
        pubs = {t: probe.publisher(cls, t) for t, cls in (("/camera/image_raw", Image), ("/camera/camera_info",
                                                          CameraInfo), ("/lidar/points", PointCloud2))}
        deadline = time.monotonic() + 30
        while min(p.get_subscription_count() for p in pubs.values()) < 1:   # the inputs, once an output is seen
            assert time.monotonic() < deadline, node.log
            time.sleep(0.1)
        pub_odom = probe.publisher(Odometry, "/odom")
        while pub_odom.get_subscription_count() < 1:
            assert time.monotonic() < deadline, node.log
            time.sleep(0.1)
        time.sleep(1.0)

        def odometry(i: int) -> Odometry:
            _, _, T, stamp = transform_from_msg(msgs["/tf"][i].transforms[0])
            x, y, z, qx, qy, qz, qw = transform_to_xyzquat(T)
            odom = Odometry(header=make_header(types, stamp, "odom"), child_frame_id="base_link")
            odom.pose.pose = Pose()
            odom.pose.pose.position.x, odom.pose.pose.position.y, odom.pose.pose.position.z = x, y, z
            o = odom.pose.pose.orientation
            o.x, o.y, o.z, o.w = qx, qy, qz, qw
            return odom

        def send(i: int, with_cloud: bool, lag_ns: int = 0) -> dict:
            for k in range(max(0, i - 2), i + 2):                 # the odometry around the frame, as it streams
                pub_odom.publish(odometry(k))
                time.sleep(0.05)
            image, info = msgs["/camera/image_raw"][i], msgs["/camera/camera_info"][i]
            stamp = stamp_to_ns(image.header.stamp)
            header = make_header(types, stamp, "camera_optical_frame")
            cam = intrinsics_from_camera_info(info)
            # Every 8th point: a small cloud that best-effort DDS delivers in one piece.
            points = {k: v[::8] for k, v in pointcloud_from_msg(msgs["/lidar/points"][i], ("x", "y", "z")).items()}
            cloud = pointcloud_to_msg(types, make_header(types, stamp - lag_ns, "lidar_link"), points)
            probe.clear()
            for _ in range(3):             # best-effort QoS: a message may be lost; resend until answered
                pubs["/camera/camera_info"].publish(camera_info_to_msg(types, cam, header))
                if with_cloud:
                    pubs["/lidar/points"].publish(cloud)
                time.sleep(0.3)
                pubs["/camera/image_raw"].publish(image_to_msg(types, rgb_from_msg(image), "rgb8", header))
                if probe.wait("/depth/image", 1, 20):
                    break
            assert probe.wait("/depth/image", 1, 0), node.log
            assert stamp_to_ns(probe.wait("/depth/image", 1, 0)[-1].header.stamp) == stamp
            done = len(probe.wait("/depth/image", 1, 0))
            deadline = time.monotonic() + 10
            while True:                                           # the diagnostics after that frame
                values = _diagnostics(probe)
                if int(values.get("processed", 0)) >= sent[0] + done:
                    break
                assert time.monotonic() < deadline, node.log
                time.sleep(0.1)
            sent[0] += done
            return values

        sent = [0]
        first = send(0, True)
        assert first["lidar"] == "used" and "lidar_moved_to_image" not in first
        lagged = send(1, True, 40_000_000)                         # an unsynchronised LiDAR: moved by the odometry
        assert lagged["lidar"] == "used" and lagged["lidar_moved_to_image"] == "1", node.log
        assert "each is moved to its image's stamp by the odometry" in node.log
        held = send(3, False)                                     # 0.3 s without a cloud: held
        assert held["lidar"] == "held" and held["mode"] == "completion" and held["lidar_held"] == "1", node.log
        # The sweep history's counts, each rule's drops among them.
        assert int(held["accumulation_sweeps"]) == 2 and int(held["accumulation_no_odometry"]) == 0, held
        assert {f"accumulation_dropped_{rule}" for rule in ("moving", "hidden", "photometric")} <= set(held)
        after = send(9, False)                                    # 0.9 s: past the hold, the image alone
        assert after["mode"] == "prediction" and after["lidar"] in ("none", "stale"), node.log
        assert "holding the last LiDAR sweeps" in node.log and "after the 0.5 s hold" in node.log
    finally:
        node.stop()
        probe.close()


def test_help_prints_the_parameters_and_an_example_and_exits(venv_bin):
    run = subprocess.run([str(venv_bin / "san_node"), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: san_node")
    for text in ("lidar_hold_s", "min_confidence", "'default'", "example", "--ros-args"):
        assert text in run.stdout
    assert re.search(r"^  lidar_align_images +True: ", run.stdout, re.MULTILINE)      # on by default


def _readme_playback_block(repo_root: Path) -> list[str]:
    """The README's PyPI playback example, as shell lines (continuations joined)."""
    text = (repo_root / "README.md").read_text()
    start = text.index("Playing a bag into the node on the PyPI install")
    block = text[text.index("```bash", start) + len("```bash"):text.index("```", text.index("```bash", start) + 7)]
    return [line.strip() for line in block.replace("\\\n", " ").strip().splitlines()]


def test_the_readme_playback_example_runs_in_completion_mode(tmp_path, venv_bin, node_bag, repo_root):
    """The README's example as written (its bag and venv paths swapped for this run's): the printed
    extrinsic, the node with it, the player, which is also the consumer that wakes the node
    (--watch); the node completes with the LiDAR and the player counts its depth images."""
    from node_harness import Process

    lines = [line.replace("runs/demo_bag", str(node_bag)).replace(".venv/bin/", f"{venv_bin}/")
             for line in _readme_playback_block(repo_root)]
    extrinsic_line, node_line, play_line = lines
    assert node_line.endswith("&")
    node = Process(["bash", "-c", f"{extrinsic_line} && eval exec {node_line[len('eval '):-1].strip()}"],
                   tmp_path / "node.log")
    assert "--watch /depth/image" in play_line     # no other consumer: the player is the one
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        player = Process(["bash", "-c", f"exec {play_line}"], tmp_path / "play.log")
        assert node.wait_for("-> completion (LiDAR points in use)", 90), node.log + player.log
        assert "no_extrinsic" not in node.log
        assert player.wait_for("messages in all", 120), player.log
        counts = [int(m) for m in re.findall(r"watched /depth/image: (\d+) messages in all", player.log)]
        assert counts and counts[-1] > 0, player.log
    finally:
        if player:
            player.stop()
        node.stop()


def test_without_an_extrinsic_the_node_says_it_ignores_the_lidar_and_how_to_fix_it(tmp_path, venv_bin, node_bag):
    node = start_node(tmp_path, {"diagnostics_period": 0.5}, venv_bin / "san_node")   # lidar_extrinsic unset
    probe = Probe(OUTPUTS)
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        player = start_player(tmp_path, venv_bin, node_bag, "--loop")
        assert node.wait_for("ignoring the LiDAR cloud (no_extrinsic)", 90), node.log
        assert "depth-ros-play BAG --print-extrinsic" in node.log and "-p lidar_extrinsic:=" in node.log
        assert node.log.count("ignoring the LiDAR cloud (no_extrinsic)") == 1
        deadline = time.monotonic() + 20
        while True:
            msgs = probe.wait("/diagnostics", 1, 0)
            status = msgs[-1].status[0] if msgs else None
            if status is not None and status.level == DiagnosticStatus.WARN and "LiDAR ignored: no_extrinsic" in \
                    status.message:
                break
            assert time.monotonic() < deadline, node.log
            time.sleep(0.2)
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


@pytest.mark.alone
def test_large_raw_images_played_at_rate_1_all_reach_the_node(tmp_path, venv_bin):
    """20 frames of 1280x720 raw images (2.7 MB each) through depth-ros-play at rate 1 all reach
    the node: the player and the node share the large-message transport (before, 10 of 20
    arrived), and the images that arrive while the node prepares the backend for the new camera
    shape (about a second) are kept and processed in order, not dropped (before, 9 of 20 were).
    After that the node keeps up or drops as designed: on an idle 2-core VM it processes all 20, in
    a loaded CI run 16 once, so the test does not ask for all 20."""
    bag = write_sim_bag(tmp_path / "large", "street", 20, seed=9, width=1280, height=720, progress=False)
    node = start_node(tmp_path, {"use_lidar": False, "diagnostics_period": 0.5}, venv_bin / "san_node")
    probe = Probe({"/depth/image": Image, "/diagnostics": DiagnosticArray}, history={"/depth/image": 30})
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        player = start_player(tmp_path, venv_bin, bag, "--topics", "/camera/image_raw", "/camera/camera_info",
                              "--delay", "5")
        deadline = time.monotonic() + 60
        while True:
            values = _diagnostics(probe)
            if int(values.get("processed", 0)) + int(values.get("dropped", 0)) >= 20:
                break
            counts = {k: values.get(k) for k in ("processed", "dropped", "skipped", "missed_input_frames")}
            assert time.monotonic() < deadline, (counts, node.log[-2000:], player.log)
            time.sleep(0.2)
        time.sleep(1.0)
        values = _diagnostics(probe)
        assert int(values["processed"]) + int(values["dropped"]) == 20 and values["missed_input_frames"] == "0", values
        processed = int(values["processed"])
        depths = probe.wait("/depth/image", processed, 10)
        # The probe subscribes best effort, as a robot's consumers do (with a 30-deep queue): under
        # load a few of these 3.7 MB depth images were lost on the way to it (17 of 20 once in CI,
        # with the sensor-data queue of 5), never on the way in.
        lost = processed - len(depths)
        assert depths and 0 <= lost <= 3, (lost, values)
        assert (depths[0].width, depths[0].height) == (1280, 720)
        # Every image that arrived during the warm-up has its depth image (bar those the probe lost).
        found = re.search(r"backend ready for 1280x720 images in [0-9.]+ s; (\d+) image\(s\) that arrived meanwhile",
                          node.log)
        assert found, node.log
        waited = int(found.group(1))
        sent = sorted(stamp_to_ns(m.msg.header.stamp) for m in read_messages(bag, ["/camera/image_raw"]))
        # The image that started the warm-up, then those that arrived during it.
        received = {stamp_to_ns(m.header.stamp) for m in depths}
        assert received <= set(sent) and len(set(sent[:waited + 1]) - received) <= lost, (waited, lost, values)
        assert processed >= waited + 1
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


def test_an_error_after_the_context_is_shut_down_is_a_clean_stop():
    """A SIGINT between the executor's check of the context and its next wait makes rclpy raise
    from the wait set after the signal handler shut the context down: the node stops cleanly
    then (exit 0), and raises an error that comes while the context is up."""
    import rclpy

    from depth_ros.nodes.san_node import spin_until_shutdown

    class Executor:          # rclpy's, reduced to what the race does
        def __init__(self, context, shut_down: bool) -> None:
            self.context, self.shut_down = context, shut_down

        def spin(self) -> None:
            if self.shut_down:
                rclpy.shutdown(context=self.context)
            raise RuntimeError("failed to initialize wait set: the given context is not valid")

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(RuntimeError, match="wait set"):
            spin_until_shutdown(Executor(context, shut_down=False), context)
        spin_until_shutdown(Executor(context, shut_down=True), context)
        assert not rclpy.ok(context=context)
    finally:
        rclpy.try_shutdown(context=context)


def test_with_use_sim_time_the_node_follows_the_players_clock(tmp_path, venv_bin, node_bag):
    """Replaying a bag as `ros2 bag play --clock` does (depth-ros-play --clock) to a node started with
    use_sim_time, as the launch file's use_sim_time:=true sets it: the node completes frames and its
    clock, which stamps the diagnostics, is the bag's time, not the wall's."""
    stamps = [m.stamp_ns for m in read_messages(node_bag)]
    node = start_node(tmp_path, {"use_sim_time": True, "diagnostics_period": 0.5}, venv_bin / "san_node")
    probe = Probe(OUTPUTS)
    player = None
    try:
        assert node.wait_for("ready in", 180), node.log
        player = start_player(tmp_path, venv_bin, node_bag, "--loop", "--clock")
        assert probe.wait("/depth/image", 3, 90), node.log
        deadline = time.monotonic() + 30
        while not probe.wait("/diagnostics", 1, 0):
            assert time.monotonic() < deadline, node.log + player.log
            time.sleep(0.2)
        diag = stamp_to_ns(probe.wait("/diagnostics", 1, 0)[-1].header.stamp)
        assert min(stamps) <= diag <= max(stamps) + 10**9, (diag, min(stamps), max(stamps))
    finally:
        if player:
            player.stop()
        node.stop()
        probe.close()


def test_compressed_images_are_kept_while_the_backend_warms_up(tmp_path, venv_bin, node_bag):
    """image_transport: compressed. A CompressedImage does not say its size, so the warm-up takes
    it from camera_info: the backend for the camera's shape is prepared before the first frame,
    with the images that arrive meanwhile kept (before, the first frame prepared it inside its own
    processing, and the images that came meanwhile were dropped), and the depth has the image's size."""
    from sensor_msgs.msg import CompressedImage

    from depth_ros.conversions import compressed_to_msg, rgb_from_msg

    types = rclpy_types()
    images = [m.msg for m in read_messages(node_bag, ["/camera/image_raw"])]
    infos = [m.msg for m in read_messages(node_bag, ["/camera/camera_info"])]
    remaps = {"image/compressed": "/camera/image_raw/compressed", "camera_info": "/camera/camera_info"}
    node = start_node(tmp_path, {"image_transport": "compressed", "use_lidar": False}, venv_bin / "san_node",
                      remaps=remaps)
    probe = Probe({"/depth/image": Image}, history={"/depth/image": 20})
    try:
        assert node.wait_for("ready in", 180), node.log
        pub = probe.publisher(CompressedImage, "/camera/image_raw/compressed")
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info")
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() < 1:   # the inputs, once an output is seen
            assert time.monotonic() < deadline, node.log
            time.sleep(0.1)
        time.sleep(1.0)
        # A 4:3 camera: a network shape other than the one prepared at start (the model's own).
        for image, info in zip(images, infos):
            cam = intrinsics_from_camera_info(info).resized(320, 240)
            pub_info.publish(camera_info_to_msg(types, cam, info.header))
            rgb = cv2.resize(rgb_from_msg(image), (320, 240), interpolation=cv2.INTER_AREA)
            pub.publish(compressed_to_msg(types, rgb, image.header, "png"))
            time.sleep(0.1)
        assert node.wait_for("backend ready for 320x240 images", 60), node.log
        found = re.search(r"backend ready for 320x240 images in [0-9.]+ s; (\d+) image\(s\) that arrived meanwhile",
                          node.log)
        assert found and int(found.group(1)) >= 3, node.log
        depths = probe.wait("/depth/image", len(images) - 2, 60)
        assert len(depths) >= len(images) - 2, (len(depths), node.log)
        assert (depths[0].width, depths[0].height) == (320, 240)
    finally:
        node.stop()
        probe.close()

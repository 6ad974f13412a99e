"""san_node: dense metric depth and pseudo-LiDAR from a camera, plus LiDAR when it has one.

Subscribes ``image`` (or ``image/compressed``), ``camera_info`` and ``lidar_points``; publishes
``depth/image`` (32FC1 m, NaN invalid), ``depth/camera_info``, ``depth/confidence`` (models that
have one), ``pseudo_lidar/points`` and ``/diagnostics``. See docs/components.md.

Callbacks only store the latest messages; one worker thread runs inference on the newest frame,
so a slow model never builds a queue of stale images (dropped frames are counted). The one
exception is the first image of a camera shape: while the backend for it is prepared (about a
second), the images that arrive are kept and processed in order. The camera path never waits for
the LiDAR: without a fresh cloud the frame is predicted from the image. A frame waits up to
0.25 s for a camera_info that has not arrived yet (the topics are not ordered).

Subscriptions are lazy, as in image_pipeline: the node subscribes to its inputs only while some
node subscribes to one of its outputs (publisher matched events), so an idle node costs nothing
and its camera driver's messages are not even delivered to it.

Broken metadata does not cost the frame: an image stamped zero takes its receive time, and a
camera_info with a zero or invalid K is replaced by the last valid one of the same frame and size;
both warn (throttled) and are counted in the diagnostics (``fallback_stamp``, ``fallback_camera_info``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.event_handler import PublisherEventCallbacks, UnsupportedEventTypeError
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

try:   # the odometry topic, for LiDAR accumulation and hold where TF is not installed
    from nav_msgs.msg import Odometry
except ImportError:  # pragma: no cover - a workspace without nav_msgs
    Odometry = None

from depth_core.geometry import PoseHistory, transform_from_xyzquat
from depth_core.inference import BACKENDS, PRECISION_CHOICES, BackendError, load_estimator
from depth_core.models.checkpoint import ModelFileError

from ..conversions import CAMERA_MATRICES, ConversionError, rclpy_types, stamp_to_ns
from ..pipeline import ODOMETRY_SPAN_NS, FramePipeline, FrameStats, LidarStatus, PipelineConfig, StaleTransform
from ..sync import CameraInfoBuffer, StreamGaps, image_stamp, nearest_stamp
from ..transport import use_large_message_profile

__all__ = ["SanNode", "main"]


# name: (default, description, extra descriptor fields)
PARAMETERS = {
    "model": ("default", "registry name, 'default', 'classical', or a path to .onnx/.engine/.safetensors", {}),
    "backend": ("auto", f"inference backend: {' | '.join(BACKENDS)}", {}),
    "precision": ("auto", "auto (fp16 on TensorRT and on the GPU, fp32 on the CPU) | fp32 | fp16 | int8 (TensorRT, "
                          "ONNX Runtime; calibrated on `calibration`, else on a built-in simulated set)", {}),
    "calibration": ("", "int8: a frame set or image folder to calibrate on (empty: the built-in simulated set)", {}),
    "input_width": (0, "network input width (0: the model's configured size; for canonical-camera models such as "
                    "the default, width x height is the pixel budget and each camera's aspect ratio is kept)", {}),
    "input_height": (0, "network input height (0: the model's configured size; see input_width)", {}),
    "camera_matrix": ("auto", "intrinsics from camera_info's P (p: the rectified image's camera, as image_geometry "
                              "uses), K (k: the raw camera's), or auto: P when it is set, else K", {}),
    "image_transport": ("raw", "raw: subscribe 'image'; compressed: 'image/compressed' (jpeg/png)", {}),
    "use_lidar": (True, "use LiDAR points when a fresh cloud is present (depth completion)", {}),
    "lidar_max_age": (0.15, "seconds between image and cloud stamps beyond which the cloud is stale (a cloud with "
                            "per-point times: between the image and the nearest part of its sweep)",
                      {"floating_point_range": [FloatingPointRange(from_value=0.0, to_value=10.0)]}),
    "lidar_extrinsic": ([0.0] * 7,
                        "[x, y, z, qx, qy, qz, qw]: the LiDAR frame's pose in the camera optical frame, used "
                        "when TF has no transform (all zeros: unset; `depth-ros-play BAG --print-extrinsic CAMERA "
                        "LIDAR` prints it from a bag's /tf_static)", {}),
    "output_width": (0, "published depth width (0: the input image's)", {}),
    "output_height": (0, "published depth height (0: the input image's)", {}),
    "publish_points": (True, "publish pseudo_lidar/points", {}),
    "points_stride": (1, "pseudo-LiDAR: keep every n-th pixel", {"integer_range": [IntegerRange(from_value=1,
                                                                                                  to_value=64)]}),
    "points_max_range": (0.0, "pseudo-LiDAR: drop points farther than this (m, 0: keep all)", {}),
    "points_frame": ("", "pseudo-LiDAR frame (needs TF; '': the camera optical frame)", {}),
    "points_rgb": (False, "pseudo-LiDAR with a packed rgb field (XYZRGB)", {}),
    "min_confidence": (0.0, "depth/confidence below this becomes NaN in depth/image and is dropped from "
                       "pseudo_lidar/points (0: off; models without a confidence ignore it)",
                       {"floating_point_range": [FloatingPointRange(from_value=0.0, to_value=1.0)]}),
    "diagnostics_period": (1.0, "seconds between /diagnostics messages", {}),
    "lidar_accumulate": (0, "previous LiDAR sweeps added to each cloud, moved by the odometry (0: off)",
                         {"integer_range": [IntegerRange(from_value=0, to_value=20)]}),
    "lidar_hold_s": (0.0, "with no fresh cloud, the recent sweeps moved by the odometry stand in for this long (s, "
                     "0: off; then the node predicts from the image alone)",
                     {"floating_point_range": [FloatingPointRange(from_value=0.0, to_value=10.0)]}),
    "lidar_deskew": (True, "de-skew a cloud with per-point times (time, t or timestamp) by the odometry", {}),
    "lidar_to_image_time": (True, "move a cloud stamped apart from its image (an unsynchronised LiDAR) to the "
                                  "image's stamp by the odometry: the robot's motion between the two captures", {}),
    "lidar_align_images": (True, "with lidar_accumulate or lidar_hold_s: take the odometry's drift out by aligning "
                                 "each image to the past sweeps' points by their brightness (false: the past sweeps "
                                 "moved by the odometry as it is)", {}),
    "odom_frame": ("odom", "the odometry's fixed frame (TF: odom_frame -> base_frame; else the odom topic)", {}),
    "base_frame": ("base_link", "the robot's base frame, moved by the odometry", {}),
    "base_extrinsic": ([0.0] * 7, "[x, y, z, qx, qy, qz, qw]: the base frame's pose in the camera optical frame, "
                       "used when TF cannot mount the camera on the base (all zeros: unset)", {}),
}
# Changing these at run time would need a new model or new subscriptions.
READ_ONLY = {"model", "backend", "precision", "calibration", "input_width", "input_height", "image_transport"}


WARMUP_BACKLOG = 100   # images kept while a new camera shape's backend is prepared
WARMUP_CATCH_UP_S = 2.0   # and for this long after, while the worker catches up on them
INFO_WAIT_S = 0.25   # how long a frame waits for a camera_info that has not arrived yet
CLOUD_HOLD_S = 1.0   # s of wall time a received cloud stays usable
LIDAR_APART_WARN_S = 0.01   # a cloud this far from its image's stamp and not moved there is warned about (once)
ACCUMULATION_HELP = {
    "no_odometry": "no odometry at the sweep's stamp (publish nav_msgs/Odometry on 'odom', or odom_frame -> "
                   "base_frame on TF)",
    "no_base_extrinsic": "the camera's mounting on the base is unknown (TF base_frame -> camera, or the "
                         "base_extrinsic parameter)",
}


class _Throttle:
    """One log line per reason per ``period`` seconds."""

    def __init__(self, period: float = 5.0) -> None:
        self.period, self.last = period, {}

    def __call__(self, reason: str) -> bool:
        now = time.monotonic()
        if now - self.last.get(reason, -1e9) >= self.period:
            self.last[reason] = now
            return True
        return False


class _ToRosLog(logging.Handler):
    """depth_core's log lines (an export, a calibration, a backend prepared for a new camera shape)
    in the node's own log, at their level."""

    def __init__(self, logger) -> None:
        super().__init__(logging.INFO)
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.logger.error(text)
        elif record.levelno >= logging.WARNING:
            self.logger.warning(text)
        else:
            self.logger.info(text)


class SanNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("san_node", **kwargs)
        for name in ("depth_core", "depth_ros"):
            lib = logging.getLogger(name)
            lib.setLevel(logging.INFO)
            lib.addHandler(_ToRosLog(self.get_logger()))
            lib.propagate = False   # in the ROS log once, not again through a root handler
        for name, (default, doc, extra) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=doc, read_only=name in READ_ONLY,
                                                                      **extra))
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        problem = self._validate(p)
        if problem:
            raise ValueError(problem)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        size = (p["input_height"], p["input_width"]) if p["input_width"] and p["input_height"] else None
        self.get_logger().info(f"loading model '{p['model']}' with backend '{p['backend']}' (the first start of a "
                               "model exports it to ONNX once, a few seconds; on TensorRT it also builds an engine "
                               "once, minutes, logged with the expected time)")
        t0 = time.perf_counter()
        self.estimator = load_estimator(p["model"], p["backend"], input_size=size, precision=p["precision"],
                                        calibration=p["calibration"] or None)
        self.get_logger().info(f"ready in {time.perf_counter() - t0:.1f} s: {self.estimator.description}")

        self.types = rclpy_types()
        self.tf_lookup, self._tf_objects = self._make_tf_lookup()
        # From the odom topic; the pipeline adds what it asks TF for. Bounded: a node runs for hours.
        self.odometry = PoseHistory(span_ns=ODOMETRY_SPAN_NS)
        self.pipeline = FramePipeline(self.estimator, self._pipeline_config(p), self.types, self.tf_lookup,
                                      self.odometry)
        self.stats = FrameStats()
        self.throttle = _Throttle()
        self._once: set[str] = set()
        self.mode = None
        self._mode_switches = 0       # since the last mode line
        self._mode_changed_at = -1e9  # monotonic time of the last switch
        self.lidar_reason = LidarStatus.NONE.value
        self.lidar_age = None

        self._lock = threading.Condition()
        # (image msg, stamp, receive time) of the unprocessed images: the newest only, except while
        # the worker prepares the backend for a new camera shape (about a second, once per shape),
        # when every image is kept and then processed in order.
        self._frames: deque = deque()
        self._warming = False
        self._catch_up_until = 0.0    # monotonic time until which a warm-up's backlog is kept
        self._infos = CameraInfoBuffer(maxlen=30, camera_matrix=p["camera_matrix"])
        self._clouds: deque = deque(maxlen=10)   # about 1 s of clouds: each image takes the nearest in time
        self._last_image_stamp = 0
        self._gaps = StreamGaps()
        self._running = True
        self._inputs: list = []       # the input subscriptions, while an output has a subscriber
        self._image_transport = p["image_transport"]
        self._poll_outputs = False    # True where the RMW has no matched events

        self._qos = qos_profile_sensor_data     # inputs: best effort matches a reliable driver and a best-effort one
        # Outputs: reliable, which best-effort and reliable subscribers both match (RViz2 and C++
        # nodes subscribe reliable by default and would never match a best-effort publisher).
        self._out_qos = QoSProfile(depth=5)
        self._overrides = QoSOverridingOptions.with_default_policies()
        self.pub_depth, self.pub_info, self.pub_conf, self.pub_points = (
            self._output(kind, topic) for kind, topic in ((Image, "depth/image"), (CameraInfo, "depth/camera_info"),
                                                          (Image, "depth/confidence"),
                                                          (PointCloud2, "pseudo_lidar/points")))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))
        self._update_inputs()
        if not self._inputs:
            self.get_logger().info("waiting for a subscriber to depth/image, depth/camera_info, depth/confidence or "
                                   "pseudo_lidar/points before subscribing to the camera and LiDAR")
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self.worker = threading.Thread(target=self._work, name="san_node_inference", daemon=True)
        self.worker.start()

    # -- parameters -----------------------------------------------------------------------------

    @staticmethod
    def _validate(p: dict) -> str | None:
        if p["backend"] not in BACKENDS:
            return f"backend: expected one of {', '.join(BACKENDS)}, got '{p['backend']}'"
        if p["precision"] not in PRECISION_CHOICES:
            return f"precision: expected one of {', '.join(PRECISION_CHOICES)}, got '{p['precision']}'"
        if p["image_transport"] not in ("raw", "compressed"):
            return f"image_transport: expected raw or compressed, got '{p['image_transport']}'"
        if len(p["lidar_extrinsic"]) != 7 or not np.all(np.isfinite(p["lidar_extrinsic"])):
            return "lidar_extrinsic: expected 7 finite numbers [x, y, z, qx, qy, qz, qw] (all zeros: unset)"
        if any(p["lidar_extrinsic"]) and np.linalg.norm(p["lidar_extrinsic"][3:]) < 1e-6:
            return "lidar_extrinsic: the quaternion has zero norm (all seven zeros mean unset)"
        for key in ("output_width", "output_height", "input_width", "input_height"):
            if p[key] < 0:
                return f"{key}: must be >= 0, got {p[key]}"
        if bool(p["output_width"]) != bool(p["output_height"]):
            return "output_width and output_height: set both or neither"
        if bool(p["input_width"]) != bool(p["input_height"]):
            return "input_width and input_height: set both or neither"
        if p["camera_matrix"] not in CAMERA_MATRICES:
            return f"camera_matrix: expected one of {', '.join(CAMERA_MATRICES)}, got '{p['camera_matrix']}'"
        if p["points_max_range"] < 0 or p["diagnostics_period"] <= 0:
            return "points_max_range must be >= 0 and diagnostics_period > 0"
        if not 0.0 <= p["min_confidence"] <= 1.0:
            return f"min_confidence: expected 0..1, got {p['min_confidence']}"
        base = list(p["base_extrinsic"])
        if any(base) and (len(base) != 7 or not np.all(np.isfinite(base)) or np.linalg.norm(base[3:]) < 1e-6):
            return "base_extrinsic: expected 7 finite numbers [x, y, z, qx, qy, qz, qw] (quaternion not 0), or zeros"
        return None

    def _on_set_parameters(self, params) -> SetParametersResult:
        current = {name: self.get_parameter(name).value for name in PARAMETERS}
        current.update({q.name: q.value for q in params if q.name in PARAMETERS})
        problem = self._validate(current)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        # A new pipeline (cheap: settings, the odometry it shares, and a sweep history that starts
        # again); the worker picks it up next frame.
        self.pipeline = FramePipeline(self.estimator, self._pipeline_config(current), self.types, self.tf_lookup,
                                      self.odometry)
        self._infos.camera_matrix = current["camera_matrix"]   # which camera_info counts as broken
        return SetParametersResult(successful=True)

    @staticmethod
    def _pipeline_config(p: dict) -> PipelineConfig:
        return PipelineConfig(use_lidar=p["use_lidar"], lidar_max_age=p["lidar_max_age"],
                              lidar_extrinsic=list(p["lidar_extrinsic"]) if any(p["lidar_extrinsic"]) else None,
                              output_width=p["output_width"],
                              output_height=p["output_height"], points_stride=p["points_stride"],
                              points_max_range=p["points_max_range"], points_frame=p["points_frame"],
                              points_rgb=p["points_rgb"], min_confidence=p["min_confidence"],
                              lidar_accumulate=p["lidar_accumulate"], lidar_hold_s=p["lidar_hold_s"],
                              odom_frame=p["odom_frame"], base_frame=p["base_frame"], lidar_deskew=p["lidar_deskew"],
                              lidar_to_image_time=p["lidar_to_image_time"], camera_matrix=p["camera_matrix"],
                              lidar_align_images=p["lidar_align_images"],
                              base_extrinsic=list(p["base_extrinsic"]) if any(p["base_extrinsic"]) else None)

    def _make_tf_lookup(self):
        try:
            import tf2_ros
        except ImportError:
            self.get_logger().info("tf2_ros is not installed: LiDAR extrinsics come from the lidar_extrinsic parameter")
            return None, None
        buffer = tf2_ros.Buffer()
        listener = tf2_ros.TransformListener(buffer, self)

        def lookup(target: str, source: str, stamp_ns: int) -> np.ndarray:
            from depth_core.geometry import transform_from_xyzquat

            def matrix(msg) -> np.ndarray:
                t = msg.transform
                return transform_from_xyzquat([t.translation.x, t.translation.y, t.translation.z,
                                               t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w])

            try:
                when = rclpy.time.Time(nanoseconds=stamp_ns)
                if buffer.can_transform(target, source, when):
                    return matrix(buffer.lookup_transform(target, source, when))
                newest = buffer.lookup_transform(target, source, rclpy.time.Time())
            except Exception as exc:  # tf2 raises several exception types
                raise KeyError(f"TF {source} -> {target}: {exc}") from None
            newest_ns = rclpy.time.Time.from_msg(newest.header.stamp).nanoseconds
            if newest_ns == 0:   # a static chain: the same at any time
                return matrix(newest)
            raise StaleTransform(f"TF {source} -> {target}: known up to {newest_ns * 1e-9:.3f} s, not at "
                                 f"{stamp_ns * 1e-9:.3f} s", newest_ns, matrix(newest))

        return lookup, (buffer, listener)

    # -- lazy subscription ----------------------------------------------------------------------

    def _output(self, kind, topic: str):
        """A publisher whose subscribers coming and going (matched events) update the inputs. An
        RMW without matched events gets the diagnostics timer's check instead (once a period)."""
        try:
            return self.create_publisher(kind, topic, self._out_qos, qos_overriding_options=self._overrides,
                                         event_callbacks=PublisherEventCallbacks(matched=self._on_output_matched))
        except UnsupportedEventTypeError:
            if self.throttle("no_matched_events"):
                self.get_logger().info("this RMW has no publisher matched events: the inputs are (un)subscribed "
                                       "at the diagnostics period instead")
            self._poll_outputs = True
            return self.create_publisher(kind, topic, self._out_qos, qos_overriding_options=self._overrides)

    def _outputs_wanted(self) -> bool:
        return any(pub.get_subscription_count() > 0
                   for pub in (self.pub_depth, self.pub_info, self.pub_conf, self.pub_points))

    def _on_output_matched(self, _status) -> None:
        self._update_inputs()

    def _update_inputs(self) -> None:
        """Subscribe to the inputs while an output has a subscriber, and unsubscribe when none has."""
        wanted = self._outputs_wanted()
        with self._lock:
            if wanted == bool(self._inputs):
                return
            if wanted:
                qos, overrides = self._qos, self._overrides
                image = ((CompressedImage, "image/compressed") if self._image_transport == "compressed"
                         else (Image, "image"))
                inputs = [(*image, self._on_image), (CameraInfo, "camera_info", self._on_info),
                          (PointCloud2, "lidar_points", self._on_cloud)]
                cfg = self.pipeline.config
                if (cfg.uses_odometry or cfg.lidar_deskew or cfg.lidar_to_image_time) and Odometry is not None:
                    inputs.append((Odometry, "odom", self._on_odometry))
                self._inputs = [self.create_subscription(kind, topic, callback, qos, qos_overriding_options=overrides)
                                for kind, topic, callback in inputs]
                self.get_logger().info("an output has a subscriber: subscribed to the camera and LiDAR inputs")
            else:
                for sub in self._inputs:
                    self.destroy_subscription(sub)
                self._inputs = []
                self._frames.clear()
                self._clouds.clear()
                self.get_logger().info("no output has a subscriber: unsubscribed from the inputs until one has")

    # -- callbacks: store only ------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        received = time.monotonic()
        stamp, _ = image_stamp(msg, self.get_clock().now().nanoseconds)
        with self._lock:
            if stamp < self._last_image_stamp:   # time went backwards (a bag loop, a sim reset)
                self._clouds.clear()              # old clouds would pair with the repeated stamps
                if self.throttle("time_jump"):
                    self.get_logger().info("image stamps went backwards (a looping bag?): LiDAR buffer cleared")
            self._last_image_stamp = stamp
            self._gaps.add(stamp)   # frames lost before they reached us (transport, a dropping driver)
            self._frames.append((msg, stamp, received))
            keep = WARMUP_BACKLOG if self._warming or received < self._catch_up_until else 1
            while len(self._frames) > keep:
                self._frames.popleft()
                self.stats.drop()  # the worker had not taken it yet: the latest frame wins
            self._lock.notify()

    def _on_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self._infos.add(msg)
            self._lock.notify_all()   # a frame may be waiting for it

    def _on_odometry(self, msg) -> None:
        """nav_msgs/Odometry: the base's pose in the odometry frame (where TF is not installed)."""
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        T = transform_from_xyzquat([p.x, p.y, p.z, q.x, q.y, q.z, q.w])
        self.odometry.add(stamp_to_ns(msg.header.stamp), T)

    def _on_cloud(self, msg: PointCloud2) -> None:
        with self._lock:
            self._clouds.append((msg, time.monotonic()))

    def _matching_cloud(self, stamp: int, received: float) -> PointCloud2 | None:
        """The recent cloud nearest to the image's stamp. When inference lags, the image being
        processed is older than the newest cloud; pairing by stamp (not arrival) keeps it in
        completion mode instead of calling the newest cloud stale. Clouds that arrived more than
        CLOUD_HOLD_S before the image are not used: a LiDAR that stopped is down, even if a
        replayed or simulated clock repeats the stamps of its old scans."""
        recent = [c for c, t in self._clouds if t >= received - CLOUD_HOLD_S]
        i = nearest_stamp([stamp_to_ns(c.header.stamp) for c in recent], stamp)
        return None if i is None else recent[i]

    # -- the worker -----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._running and not self._frames:
                    self._catch_up_until = 0.0   # the backlog of a warm-up is done
                    self._lock.wait(timeout=0.5)
                if not self._running:
                    return
                image, stamp, received = self._frames.popleft()
                info = self._infos.match(stamp, image)
                # The two topics are not ordered: the first image (a large one in particular) can
                # arrive before any camera_info, e.g. while discovery of the other topic ends.
                deadline = time.monotonic() + INFO_WAIT_S
                while info is None and self._running and time.monotonic() < deadline:
                    self._lock.wait(timeout=deadline - time.monotonic())
                    info = self._infos.match(stamp, image)
                cloud = self._matching_cloud(stamp, received)
            if not self._outputs_wanted():
                self.stats.skip("no_subscribers")   # the last subscriber left while this frame waited
                continue
            self._warm_up(image, info)
            try:
                self._process(image, stamp, info, cloud, received)
            except ConversionError as exc:
                self.stats.skip(exc.reason)
                if self.throttle(exc.reason):
                    self.get_logger().warning(f"skipping a frame ({exc.reason}): {exc}")
            except Exception as exc:  # keep the node alive; say what happened
                self.stats.skip("error")
                if self.throttle("error"):
                    self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}")

    def _warm_up(self, image, info=None) -> None:
        """Prepare the backend for this image's shape when it is the first of its shape (an ONNX
        Runtime session, or a TensorRT engine, per camera shape): images that arrive meanwhile
        are kept, not dropped, and processed in order afterwards. A compressed image does not say
        its size without decoding it: its camera_info does."""
        height, width = int(getattr(image, "height", 0) or 0), int(getattr(image, "width", 0) or 0)
        if (not height or not width) and info is not None:
            try:   # its camera as the pipeline reads it (binning and ROI applied)
                camera = self.pipeline.camera(info.msg)
                height, width = int(camera.height), int(camera.width)
            except ConversionError:
                return   # the frame's own processing says what is wrong with it
        if not height or not width or self.estimator.prepared(height, width):
            return
        with self._lock:
            self._warming = True
        t0 = time.perf_counter()
        try:
            self.estimator.prepare(height, width)
        except Exception:   # the frame's own processing reports it
            return
        finally:
            with self._lock:
                # Then catch up on what arrived meanwhile, for at most WARMUP_CATCH_UP_S: a node
                # slower than its camera goes back to the newest image only.
                self._warming, self._catch_up_until = False, time.monotonic() + WARMUP_CATCH_UP_S
        self.get_logger().info(f"backend ready for {width}x{height} images in {time.perf_counter() - t0:.1f} s; "
                               f"{len(self._frames)} image(s) that arrived meanwhile follow in order")

    def _process(self, image, stamp: int, info, cloud, received: float) -> None:
        outputs = [name for name, pub in (("depth", self.pub_depth), ("camera_info", self.pub_info),
                                          ("confidence", self.pub_conf), ("points", self.pub_points))
                   if pub.get_subscription_count() > 0]
        if "points" in outputs and not self.get_parameter("publish_points").value:
            outputs.remove("points")
        frame = self.pipeline.process(image, info.msg if info else None, cloud, fallback_stamp_ns=stamp,
                                      outputs=outputs)
        if frame.prepared.stamp_fallback:
            self.stats.fallback("stamp")
            if self.throttle("fallback_stamp"):
                self.get_logger().warning("an image is stamped zero (a driver without a clock?): using its receive "
                                          "time as its stamp")
        if info is not None and info.fallback:
            self.stats.fallback("camera_info")
            if self.throttle("fallback_camera_info"):
                self.get_logger().warning(f"camera_info unusable ({info.reason}): using the last valid one of frame "
                                          f"'{info.msg.header.frame_id}' ({info.msg.width}x{info.msg.height})")
        once = frame.lidar_status is LidarStatus.NO_EXTRINSIC   # a setup problem: said once, fixed once
        if frame.lidar_status.is_problem and (self._warned_once(frame.lidar_reason) if once
                                              else self.throttle(frame.lidar_reason)):
            fix = (" The cloud's frame is not placed in the camera's: publish /tf_static (with tf2_ros installed), or "
                   "pass -p lidar_extrinsic:=[x, y, z, qx, qy, qz, qw] (the LiDAR's pose in the camera frame; "
                   "`depth-ros-play BAG --print-extrinsic CAMERA_FRAME LIDAR_FRAME` prints it from a bag)."
                   if frame.lidar_status is LidarStatus.NO_EXTRINSIC else "")
            self.get_logger().warning(f"ignoring the LiDAR cloud ({frame.lidar_reason}); predicting from the "
                                      f"image.{fix}")
        if frame.lidar_status is LidarStatus.HELD and self.lidar_reason != LidarStatus.HELD.value:
            self.get_logger().info(f"LiDAR dropout: holding the last LiDAR sweeps, moved by the odometry, for up to "
                                   f"lidar_hold_s = {self.pipeline.config.lidar_hold_s:g} s")
        if frame.mode != self.mode:
            # A switch after a second or more in one mode is always said; a LiDAR whose clouds
            # straddle lidar_max_age flips it several times a second: one line per 5 s then, with
            # how many switches it stands for.
            now = time.monotonic()
            settled, self._mode_changed_at = now - self._mode_changed_at >= 1.0, now
            self._mode_switches += 1
            if settled or self.throttle("mode"):
                why = frame.lidar_status.explain(frame.lidar_reason, frame.lidar_age)
                if self.lidar_reason == LidarStatus.HELD.value:
                    why += f", after the {self.pipeline.config.lidar_hold_s:g} s hold"
                more = (f"; {self._mode_switches - 1} more switches since the last such line: see lidar_max_age"
                        if self._mode_switches > 1 else "")
                self.get_logger().info(f"mode: {self.mode or 'start'} -> {frame.mode} ({why}{more})")
                self._mode_switches = 0
            self.mode = frame.mode
        elif self._mode_switches and time.monotonic() - self._mode_changed_at >= 1.0:
            # The last switches of a burst went unsaid: say where it settled.
            self.get_logger().info(f"mode: {frame.mode}, settled after {self._mode_switches} more switches")
            self._mode_switches = 0
        if frame.points_problem:
            self.stats.lidar("points_skipped")
            if self.throttle("points_frame"):
                self.get_logger().warning(f"pseudo_lidar/points left out, depth published: {frame.points_problem}")
        self.lidar_reason, self.lidar_age = frame.lidar_reason, frame.lidar_age
        self.stats.lidar(frame.lidar_status.value)
        self._say_lidar_time(frame)
        if frame.prepared.accumulation:   # counted in the diagnostics as lidar_accumulation_off_<why>
            self.stats.lidar(f"accumulation_off_{frame.prepared.accumulation}")
        if frame.prepared.accumulation and self.throttle(f"accumulation_{frame.prepared.accumulation}"):
            self.get_logger().warning(f"LiDAR accumulation is off for this sweep ({frame.prepared.accumulation}): "
                                      + ACCUMULATION_HELP.get(frame.prepared.accumulation, ""))
        publish = {"depth": self.pub_depth, "camera_info": self.pub_info, "confidence": self.pub_conf,
                   "points": self.pub_points}
        for name, msg in frame.messages.items():
            publish[name].publish(msg)
        self.stats.frame_done(time.monotonic() - received, frame.timings)

    def _say_lidar_time(self, frame) -> None:
        """Counts the clouds moved to their image's stamp (diagnostics: lidar_moved_to_image) and
        those that could not be (lidar_not_moved_<why>); says once that it happens, and once per
        cause where clouds 10 ms or more from their images stay where they were captured."""
        prepared = frame.prepared
        if prepared.lidar_motion is not None:
            self.stats.lidar("moved_to_image")
            if self._warned_once("moved_to_image"):
                shift = float(np.linalg.norm(prepared.lidar_motion[:3, 3]))
                self.get_logger().info(f"LiDAR clouds are stamped apart from the images "
                                       f"({1e3 * prepared.lidar_age:.0f} ms): each is moved to its image's stamp by "
                                       f"the odometry (this one {100 * shift:.0f} cm)")
            return
        if prepared.lidar_unmoved:
            self.stats.lidar(f"not_moved_{prepared.lidar_unmoved}")
        apart = prepared.lidar_age is not None and abs(prepared.lidar_age) >= LIDAR_APART_WARN_S
        why = prepared.lidar_unmoved or ("off" if not self.pipeline.config.lidar_to_image_time else "")
        if apart and why and frame.lidar_status is LidarStatus.USED and self._warned_once(f"lidar_apart_{why}"):
            cfg = self.pipeline.config
            how = {"off": "lidar_to_image_time is off",
                   "no_odometry": f"there is no odometry at the cloud's stamp to move it by (nav_msgs/Odometry on "
                                  f"'odom', or {cfg.odom_frame} -> {cfg.base_frame} on TF)",
                   "no_base_extrinsic": "the camera's mounting on the base is unknown (TF "
                                        f"{cfg.base_frame} -> camera, or the base_extrinsic parameter)",
                   "odometry_behind": "the odometry does not reach the image's stamp (it lags the camera by more "
                                      "than lidar_max_age, or has a gap)"}.get(why, why)
            self.get_logger().warning(f"LiDAR clouds are stamped {1e3 * prepared.lidar_age:.0f} ms apart from their "
                                      f"images and stay where the robot was then: {how}. At speed their points "
                                      "land off their surfaces.")

    def _warned_once(self, reason: str) -> bool:
        """True the first time ``reason`` is seen in this node's life."""
        if reason in self._once:
            return False
        self._once.add(reason)
        return True

    def _publish_diagnostics(self) -> None:
        if self._poll_outputs:
            self._update_inputs()
        s = self.stats.summary()
        values = {
            "model": self.estimator.description, "mode": self.mode or "waiting for images",
            "lidar": self.lidar_reason, "lidar_age_s": "n/a" if self.lidar_age is None else f"{self.lidar_age:.3f}",
            "rate_hz": f"{s['rate_hz']:.2f}", "latency_p50_ms": f"{s['latency_p50_ms']:.1f}",
            "latency_p95_ms": f"{s['latency_p95_ms']:.1f}", "processed": str(s["processed"]),
            "dropped": str(s["dropped"]), "missed_input_frames": str(self._gaps.missed),
            **{f"skipped_{k}": str(v) for k, v in s["skipped"].items()},
            **{f"fallback_{k}": str(v) for k, v in s["fallbacks"].items()},
            **{f"lidar_{k}": str(v) for k, v in s["lidar"].items()},
            **{f"stage_{k}_ms": f"{v:.1f}" for k, v in s["stages_ms"].items()},
        }
        sweeps = self.pipeline.sweeps
        if sweeps is not None and self.pipeline.config.uses_odometry:
            # What the sweep history holds and what its rules dropped (accumulation_dropped_moving |
            # _hidden | _photometric, in past points; sweeps, resets): how a robot's bag tunes it.
            values.update({f"accumulation_{k}": str(v) for k, v in dict(sweeps.counts).items()})
        problem = self.lidar_reason in {v.value for v in LidarStatus if v.is_problem}
        level = DiagnosticStatus.OK if self.mode and not problem else DiagnosticStatus.WARN
        message = f"{values['mode']}, {values['rate_hz']} Hz" + (f", LiDAR ignored: {self.lidar_reason}"
                                                                 if problem else "")
        if not self.mode and s["skipped"]:   # images come, but none could be used: say why, not "waiting"
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["skipped"].items(), key=lambda kv: -kv[1]))
            message = values["mode"] = f"every image skipped ({reasons})"
        status = DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: depth",
                                  message=message, hardware_id="depth_ros",
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def destroy_node(self) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self.worker.is_alive():
            self.worker.join(timeout=5.0)
        super().destroy_node()


def usage() -> str:
    """``san_node --help``: what it does, every parameter with its default and meaning, an example."""
    width = max(len(n) for n in PARAMETERS)
    lines = ["usage: san_node [--help] [--ros-args [-p NAME:=VALUE ...] [--params-file FILE] [-r FROM:=TO ...]]", "",
             "Dense metric depth and pseudo-LiDAR from a camera, plus LiDAR when it arrives (ROS 2 node).",
             "Subscribes: image (or image/compressed), camera_info, lidar_points, odom (nav_msgs/Odometry, for",
             "accumulation, hold and de-skewing without TF). Publishes: depth/image, depth/camera_info,",
             "depth/confidence, pseudo_lidar/points, /diagnostics.", "", "parameters (default: meaning):"]
    for name, (default, doc, _) in PARAMETERS.items():
        lines.append(f"  {name:<{width}}  {default!r}: {doc}")
    lines += ["", "example (a venv install; with ROS sourced: ros2 launch depth_ros san.launch.py ...):",
              "  san_node --ros-args -r image:=/camera/image_raw -r camera_info:=/camera/camera_info \\",
              "           -r lidar_points:=/lidar/points -p lidar_hold_s:=0.5", "",
              "docs: docs/components.md; the parameter file: config/san.yaml"]
    return "\n".join(lines)


def spin_until_shutdown(executor, context=None) -> None:
    """``executor.spin()``, where an error raised once the ROS context has been shut down is a
    normal stop: a SIGINT that lands between the executor's check of the context and its next
    wait makes rclpy raise "the given context is not valid" from the wait set, after the signal
    handler has already shut the context down. Any error while the context is still up is
    raised (a KeyboardInterrupt is left to the caller)."""
    try:
        executor.spin()
    except Exception:     # ExternalShutdownException too: raised only once the context is down
        if rclpy.ok(context=context):
            raise


def main(args=None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    ours = argv[:argv.index("--ros-args")] if "--ros-args" in argv else argv
    if "-h" in ours or "--help" in ours:
        print(usage())
        raise SystemExit(0)
    use_large_message_profile()
    rclpy.init(args=args)
    node = None
    try:
        node = SanNode()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, BackendError, FileNotFoundError, ModelFileError) as exc:  # bad parameters or model: one line
        rclpy.logging.get_logger("san_node").fatal(str(exc))
        raise SystemExit(2) from None
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

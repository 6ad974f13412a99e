"""The frame pipeline shared by ``san_node`` (live) and ``depth-ros-eval`` (bag replay):

    image (+ camera_info, + optional LiDAR cloud) -> decode -> LiDAR in the camera frame
    -> estimator -> depth / camera_info / confidence / pseudo-LiDAR messages

:meth:`FramePipeline.process` runs it all; it is :meth:`~FramePipeline.prepare` (decode, check,
the LiDAR points in the camera frame) then :meth:`~FramePipeline.run` (estimate, encode). The
replay calls the two itself, to hold some of the prepared points out for scoring. Only the
transport differs between the two users; every conversion, check and timing is here.

A damaged image or camera_info raises :class:`ConversionError` with a reason; a damaged, stale or
missing cloud never stops the camera path: the frame is predicted without it and the reason is
reported in :attr:`FrameResult.lidar_status` (a :class:`LidarStatus`) and ``lidar_reason``.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from depth_core.geometry import (
    CameraIntrinsics,
    PoseHistory,
    Sweep,
    SweepAccumulator,
    invert_transform,
    motion_between,
    organised_cloud,
    points_in_front,
    transform_from_xyzquat,
    transform_points,
    visible_keep,
)
from depth_core.geometry.kernels import warm_up as warm_up_kernels
from depth_core.inference import DepthEstimator

from ..conversions import (
    CAMERA_MATRICES,
    TIME_FIELDS,
    ConversionError,
    MessageTypes,
    camera_info_to_msg,
    camera_matrix_note,
    depth_to_msg,
    fit_camera,
    intrinsics_from_camera_info,
    make_header,
    pack_rgb,
    point_times,
    pointcloud_from_msg,
    pointcloud_to_msg,
    rgb_from_any,
    stamp_to_ns,
)
from ..sync import SAME_TIME_S, image_stamp, seen_with_image

__all__ = ["ODOMETRY_SPAN_NS", "FramePipeline", "FrameResult", "LidarStatus", "PipelineConfig",
           "PreparedFrame", "StaleTransform", "TransformLookup"]

# The odometry a live pipeline keeps: 20 accumulated sweeps of a 5 Hz LiDAR and a 10 s hold, with room.
ODOMETRY_SPAN_NS = 30 * 10**9

log = logging.getLogger("depth_ros.pipeline")

# (target_frame, source_frame, stamp_ns) -> T_target_source [4,4]; raises KeyError when unknown,
# StaleTransform (a KeyError) when known only at another time.
TransformLookup = Callable[[str, str, int], np.ndarray]


class _NoPointsFrame(KeyError):
    """TF cannot place the pseudo-LiDAR in ``points_frame`` for this frame."""

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class StaleTransform(KeyError):
    """A transform that changes over time (odom -> base) is not known at the stamp asked for, only
    at ``stamp_ns`` (the newest TF has): ``T`` then. The pipeline files it under its own time and
    uses it within ``lidar_max_age``; a static chain is answered whatever the stamp."""

    def __init__(self, message: str, stamp_ns: int, T: np.ndarray) -> None:
        super().__init__(message)
        self.stamp_ns, self.T = int(stamp_ns), T
OUTPUTS = ("depth", "camera_info", "confidence", "points")
class LidarStatus(str, enum.Enum):
    """What became of a frame's LiDAR cloud (a str, so it compares equal to its value)."""

    USED = "used"                            # its points went into the estimate
    DISABLED = "disabled"                    # use_lidar is false
    NONE = "none"                            # no cloud came with the image
    STALE = "stale"                          # its stamp is too far from the image's
    NO_EXTRINSIC = "no_extrinsic"            # neither TF nor lidar_extrinsic places it
    NO_POINTS_IN_VIEW = "no_points_in_view"  # none of its points is in the image
    DAMAGED = "damaged"                      # the message is malformed (lidar_reason says how)
    HELD = "held"                            # no fresh cloud: the recent sweeps, moved by odometry (lidar_hold_s)

    @property
    def is_problem(self) -> bool:
        """A cloud was there but could not be used: worth a warning (stale is a timing matter)."""
        return self in (LidarStatus.NO_EXTRINSIC, LidarStatus.NO_POINTS_IN_VIEW, LidarStatus.DAMAGED)

    def explain(self, reason: str = "", age: float | None = None) -> str:
        """Why the frame is in its mode, for a log line."""
        if self is LidarStatus.STALE and age is not None:
            return f"LiDAR stale: {age:.2f} s between image and cloud"
        return {LidarStatus.USED: "LiDAR points in use", LidarStatus.NONE: "no LiDAR cloud received",
                LidarStatus.DISABLED: "use_lidar is false",
                LidarStatus.HELD: "no fresh LiDAR cloud: the recent sweeps, moved by odometry",
                }.get(self, reason or self.value)


@dataclass
class PipelineConfig:
    use_lidar: bool = True
    lidar_max_age: float = 0.15             # s: a cloud older (or newer) than this is stale
    lidar_extrinsic: list | None = None     # [x, y, z, qx, qy, qz, qw]: LiDAR pose in the camera frame
    output_width: int = 0                   # published size; 0 = the input image's
    output_height: int = 0
    points_stride: int = 1                  # pseudo-LiDAR: keep every n-th pixel in each direction
    points_max_range: float = 0.0           # pseudo-LiDAR: drop points farther than this (m); 0 = keep all
    points_frame: str = ""                  # pseudo-LiDAR frame; "" = the camera optical frame
    points_rgb: bool = False                # pseudo-LiDAR: add a packed rgb field (XYZRGB)
    min_confidence: float = 0.0             # depth where the confidence is below this becomes NaN; 0 = off
    lidar_accumulate: int = 0               # previous sweeps added to each cloud, moved by odometry
    lidar_hold_s: float = 0.0               # s: with no fresh cloud, the sweeps moved by odometry stand in this long
    odom_frame: str = "odom"                # the odometry: odom_frame -> base_frame (TF or an Odometry topic)
    base_frame: str = "base_link"
    base_extrinsic: list | None = None      # [x, y, z, qx, qy, qz, qw]: the base frame's pose in the camera frame,
    #                                         used when TF cannot mount the camera on the base
    lidar_deskew: bool = True               # a cloud with per-point times is de-skewed by the odometry
    lidar_to_image_time: bool = True        # a cloud stamped apart from its image is moved to the image's stamp
    #                                         by the odometry (the robot's motion between the two captures)
    lidar_align_images: bool = True         # merged sweeps: the odometry corrected by aligning each image to them
    camera_matrix: str = "auto"             # intrinsics from CameraInfo's P (rectified), K (raw), or auto: P if set

    def __post_init__(self) -> None:
        if self.camera_matrix not in CAMERA_MATRICES:
            raise ValueError(f"camera_matrix: expected one of {', '.join(CAMERA_MATRICES)}, got '{self.camera_matrix}'")

    @property
    def uses_odometry(self) -> bool:
        return self.use_lidar and (self.lidar_accumulate > 0 or self.lidar_hold_s > 0)


@dataclass
class PreparedFrame:
    """A frame ready for the estimator: what :meth:`FramePipeline.prepare` made of the messages."""

    stamp_ns: int
    frame_id: str
    header: object                          # of the outputs: the image's, with the stamp used
    rgb: np.ndarray                         # [H,W,3] uint8
    camera: CameraIntrinsics                # of the image
    points: np.ndarray | None               # [N,3] float32 LiDAR points in front of the camera, camera frame
    rings: np.ndarray | None                # [N] their ring (beam) indices, None without a ring field
    lidar_status: LidarStatus
    lidar_reason: str                       # the status's value, or for DAMAGED the conversion's reason
    lidar_age: float | None                 # s, image stamp - cloud stamp
    stamp_fallback: bool = False            # the image was stamped zero: the given fallback stamp is used
    timings: dict = field(default_factory=dict)
    accumulation: str = ""                  # why past sweeps could not be added ('' = they were, or none wanted)
    past_sweeps: int = 0                    # previous sweeps added to this frame's points
    # The robot's motion from the cloud's stamp to the image's, by which the points were moved: it
    # maps the LiDAR frame at the cloud's stamp to the LiDAR frame at the image's. None where they
    # are at the cloud's own time: synchronised, or not moved (then ``lidar_unmoved`` says why:
    # no_odometry, no_base_extrinsic, or odometry_behind the image's stamp).
    lidar_motion: np.ndarray | None = None
    lidar_unmoved: str = ""


@dataclass
class FrameResult:
    """The outputs of one frame, with the :class:`PreparedFrame` they came from."""

    prepared: PreparedFrame
    depth: np.ndarray                       # [h,w] float32 m at the output size, NaN invalid
    camera: CameraIntrinsics                # of the output
    mode: str                               # 'prediction' | 'completion'
    lidar_status: LidarStatus               # as prepared, or NO_POINTS_IN_VIEW when none fell in the image
    timings: dict[str, float]               # s per stage
    confidence: np.ndarray | None = None    # at the output size
    messages: dict = field(default_factory=dict)
    points_problem: str = ""                # why pseudo_lidar/points was left out (no TF to points_frame)

    @property
    def stamp_ns(self) -> int:
        return self.prepared.stamp_ns

    @property
    def frame_id(self) -> str:
        return self.prepared.frame_id

    @property
    def lidar_age(self) -> float | None:
        return self.prepared.lidar_age

    @property
    def lidar_reason(self) -> str:
        same = self.lidar_status is self.prepared.lidar_status
        return self.prepared.lidar_reason if same else self.lidar_status.value


class FramePipeline:
    def __init__(self, estimator: DepthEstimator, config: PipelineConfig, types: MessageTypes,
                 transform_lookup: TransformLookup | None = None, odometry: PoseHistory | None = None) -> None:
        """``odometry``: the robot's poses (odom -> base), fed by the caller from an Odometry topic;
        with ``transform_lookup`` (TF), the pipeline also asks TF at each stamp it needs."""
        self.estimator, self.config, self.types = estimator, config, types
        self.transform_lookup = transform_lookup
        self._extrinsic = (transform_from_xyzquat(config.lidar_extrinsic)
                           if config.lidar_extrinsic is not None else None)
        self._camera_cache: tuple | None = None
        self.odometry = odometry if odometry is not None else PoseHistory(span_ns=ODOMETRY_SPAN_NS)
        self.sweeps: SweepAccumulator | None = None   # built on the first cloud (it needs the LiDAR's mounting)
        self._sweep_key: tuple | None = None          # (camera frame, LiDAR frame) the accumulator was built for
        self._last_extrinsic: np.ndarray | None = None
        # The per-frame path's compiled loops (the image's resize, the LiDAR's projection, the
        # accumulation's rules), now rather than on the first frame that needs one (seconds to
        # compile once per install, then cached; a fraction of a second to load).
        seconds = warm_up_kernels()
        if seconds > 2.0:
            log.info("compiled the per-frame loops in %.0f s (once per install; cached)", seconds)

    # -- inputs ---------------------------------------------------------------------------------

    def camera(self, info_msg) -> CameraIntrinsics:
        key = (tuple(np.asarray(info_msg.k, dtype=float)), tuple(np.asarray(info_msg.p, dtype=float)),
               info_msg.width, info_msg.height, info_msg.binning_x, info_msg.binning_y, info_msg.roi.x_offset,
               info_msg.roi.y_offset, info_msg.roi.width, info_msg.roi.height)
        if self._camera_cache is None or self._camera_cache[0] != key:
            matrix = self.config.camera_matrix
            self._camera_cache = (key, intrinsics_from_camera_info(info_msg, matrix))
            note = camera_matrix_note(info_msg, matrix)
            if note:   # a warning: projecting a distorted image_raw with P would be a silent error
                log.warning(note)
        return self._camera_cache[1]

    @staticmethod
    def decode_image(msg) -> np.ndarray:
        return rgb_from_any(msg)

    def lidar_to_camera(self, cloud_msg, camera_frame: str) -> np.ndarray:
        """T_camera_lidar for this cloud: TF at the cloud's stamp when available, else the
        configured extrinsic. Raises KeyError when neither knows the transform."""
        stamp = stamp_to_ns(cloud_msg.header.stamp)
        if self.transform_lookup is not None:
            try:
                return self._lookup_near(camera_frame, cloud_msg.header.frame_id, stamp)
            except KeyError:
                if self._extrinsic is None:
                    raise
        if self._extrinsic is None:
            if cloud_msg.header.frame_id.lstrip("/") == camera_frame.lstrip("/"):
                return np.eye(4)   # a cloud already in the camera frame needs no extrinsic
            raise KeyError(f"no transform {cloud_msg.header.frame_id} -> {camera_frame} and no lidar_extrinsic")
        return self._extrinsic

    def camera_points(self, cloud_msg, T: np.ndarray, with_times: bool = False):
        """The cloud's finite points that lie in front of the camera, moved into the camera frame by
        ``T`` (float32 [N,3]), and their ring indices (None without a ring field); with
        ``with_times`` also each point's absolute stamp in ns (None without a time field: see
        :func:`point_times`). Raises ConversionError('empty_cloud') when the cloud has no finite point."""
        names = {f.name for f in cloud_msg.fields}
        has_ring = "ring" in names
        time_field = next((n for n in TIME_FIELDS if n in names), None) if with_times else None
        wanted = ("x", "y", "z") + (("ring",) if has_ring else ()) + ((time_field,) if time_field else ())
        f = pointcloud_from_msg(cloud_msg, wanted)
        x, y, z = (f[k].astype(np.float32, copy=False) for k in "xyz")
        points, keep = points_in_front(x, y, z, T)
        if not len(points) and not (np.isfinite(x) & np.isfinite(y) & np.isfinite(z)).any():
            raise ConversionError("empty_cloud", "PointCloud2: no finite point (empty or all NaN)")
        rings = f["ring"][keep] if has_ring else None
        if not with_times:
            return points, rings
        times = None if time_field is None else point_times(f[time_field][keep], stamp_to_ns(cloud_msg.header.stamp))
        return points, rings, times

    def _sweep_near(self, cloud_msg, stamp_ns: int) -> bool:
        """Whether a cloud with per-point times swept within ``lidar_max_age`` of ``stamp_ns``,
        though its header stamp is not: drivers stamp a sweep at its start (Ouster) or its end, so
        the header alone can make a fresh 100 ms sweep look stale. Read only for such clouds."""
        time_field = next((f.name for f in cloud_msg.fields if f.name in TIME_FIELDS), None)
        if time_field is None:
            return False
        try:
            values = pointcloud_from_msg(cloud_msg, (time_field,))[time_field]
        except ConversionError:
            return False   # prepare's own reading says what is wrong with it
        if not values.size:
            return False
        times = point_times(np.array([np.nanmin(values), np.nanmax(values)], dtype=values.dtype),
                            stamp_to_ns(cloud_msg.header.stamp))
        gap = max(int(times[0]) - stamp_ns, stamp_ns - int(times[1]), 0)
        return gap * 1e-9 <= self.config.lidar_max_age

    # -- several sweeps -------------------------------------------------------------------------

    def _pose(self, stamp_ns: int) -> np.ndarray | None:
        """odom -> base at ``stamp_ns``: asked of TF (and remembered) when there is TF, else the
        Odometry topic's history."""
        tol = int(max(self.config.lidar_max_age, 0.1) * 1e9)
        if self.transform_lookup is not None:
            try:
                pose = self.transform_lookup(self.config.odom_frame, self.config.base_frame, stamp_ns)
                self.odometry.add(stamp_ns, pose)
                return pose
            except StaleTransform as stale:   # TF lags: its newest pose, filed under its own time
                self.odometry.add(stale.stamp_ns, stale.T)
            except KeyError:
                pass
        return self.odometry.at(stamp_ns, tol)

    def _lookup_near(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """TF at ``stamp_ns``, or its newest when that is within ``lidar_max_age`` of it; else KeyError."""
        try:
            return self.transform_lookup(target, source, stamp_ns)
        except StaleTransform as stale:
            if abs(stale.stamp_ns - stamp_ns) <= self.config.lidar_max_age * 1e9:
                return stale.T
            raise

    def _accumulator(self, camera_frame: str, cloud_msg, T_cam_lidar: np.ndarray) -> SweepAccumulator | None:
        key = (camera_frame, cloud_msg.header.frame_id)
        if self.sweeps is not None and self._sweep_key == key:
            return self.sweeps
        T_cam_base = None
        if self.transform_lookup is not None:
            try:
                T_cam_base = self._lookup_near(camera_frame, self.config.base_frame,
                                               stamp_to_ns(cloud_msg.header.stamp))
            except KeyError:
                pass
        if T_cam_base is None and self.config.base_extrinsic is not None:
            T_cam_base = transform_from_xyzquat(self.config.base_extrinsic)
        if T_cam_base is None and self.config.base_frame == camera_frame:
            T_cam_base = np.eye(4)
        if T_cam_base is None:
            return None
        # Only de-skewing (no accumulation, no hold): the history is never merged, so no rule runs.
        merged = self.config.lidar_accumulate > 0 or self.config.lidar_hold_s > 0
        self.sweeps = SweepAccumulator(keep=max(self.config.lidar_accumulate, 1), odometry=self.odometry,
                                       T_base_lidar=invert_transform(T_cam_base) @ T_cam_lidar,
                                       tolerance_ns=int(max(self.config.lidar_max_age, 0.1) * 1e9),
                                       moving_rule=merged, occlusion_rule=merged, photometric_rule=merged,
                                       image_alignment=merged and self.config.lidar_align_images)
        self._sweep_key = key
        return self.sweeps

    def _with_history(self, frame_id: str, cloud_msg, T: np.ndarray, points, rings, times, cam: CameraIntrinsics,
                      image_stamp_ns: int | None = None, rgb: np.ndarray | None = None,
                      lidar_age: float | None = None):
        """The cloud's points plus the accumulated sweeps (camera frame) that the camera ``cam``
        can see, and what went in: ``(points, rings, past sweeps used, why not, motion, why not
        moved)``. With ``image_stamp_ns`` (a cloud stamped apart from its image), all of them are
        moved on to the robot's pose then: ``motion`` by what, or None and why not. ``rgb``, the
        image (``lidar_age`` s after the cloud), goes into the history with the cloud, for the
        photometric rule, where the image saw the points (:func:`~depth_ros.sync.seen_with_image`)."""
        acc = self._accumulator(frame_id, cloud_msg, T)
        if acc is None:
            return points, rings, 0, "no_base_extrinsic", None, "no_base_extrinsic" if image_stamp_ns else ""
        stamp = stamp_to_ns(cloud_msg.header.stamp)
        # A camera faster than the LiDAR pairs one cloud with several images: it is added once
        # (again only if the odometry had not reached its stamp the first time).
        fresh = not acc.history or acc.history[-1][0].stamp_ns != stamp or acc.history[-1][1] is None
        if self._pose(stamp) is None:
            if fresh:
                acc.add(Sweep(stamp, transform_points(invert_transform(T), points), rings, None))
            return points, rings, 0, "no_odometry", None, "no_odometry" if image_stamp_ns else ""
        if times is not None:
            for t in (int(times.min()), int(times.max())):
                self._pose(t)
        # The newest sweep's LiDAR frame -> the camera frame, at the image's stamp when asked: one
        # rigid motion for the whole cloud, after the rules (which test from the newest sweep's origin).
        motion, unmoved = None, ""
        if image_stamp_ns is not None:
            motion = self._motion(stamp, image_stamp_ns, acc.T_base_lidar)
            unmoved = "" if motion is not None else "odometry_behind"
        T_out = T if motion is None else T @ motion
        # With the image it is paired with first, for the photometric rule (where sweeps are merged),
        # where the points are where the image saw them: synchronised, or moved to its stamp.
        seen = rgb is not None and seen_with_image(lidar_age, motion)
        image = (rgb, T_out, cam) if seen and self.config.uses_odometry else None
        if fresh:
            acc.add(Sweep(stamp, transform_points(invert_transform(T), points), rings,
                          times if self.config.lidar_deskew else None), image=image)
        if self.config.lidar_accumulate <= 0:   # the newest sweep alone, de-skewed when it had times
            newest = acc.history[-1][0]
            merged, merged_rings, used = newest.points, newest.rings, 0
        else:
            merged, merged_rings, used = acc.cloud(camera=(T, cam))
        points = transform_points(T_out, merged).astype(np.float32)
        if motion is not None and len(points):
            # Seen from where the camera is now, not from where the LiDAR was: the points that nearer
            # ones now surround in the image are hidden from it (the accumulation's occlusion rule).
            keep = visible_keep(points, cam)
            points, merged_rings = np.compress(keep, points, 0), None if merged_rings is None else merged_rings[keep]
        return points, merged_rings, used, "", motion, unmoved

    def _motion(self, cloud_ns: int, image_ns: int, T_base_lidar: np.ndarray) -> np.ndarray | None:
        """The LiDAR frame at ``cloud_ns`` -> the LiDAR frame at ``image_ns`` (:func:`motion_between`,
        carried on for up to ``lidar_max_age`` past the newest pose: odometry often lags the sensors)."""
        self._pose(image_ns)    # asks TF (where there is TF) for the image's stamp too
        return motion_between(self.odometry, cloud_ns, image_ns, T_base_lidar, int(self.config.lidar_max_age * 1e9))

    def _held(self, stamp_ns: int, cam: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray | None] | None:
        """With no fresh cloud: the recent sweeps moved to the robot's pose at ``stamp_ns``, while
        the newest is at most ``lidar_hold_s`` old and the odometry covers the gap."""
        acc, T = self.sweeps, self._last_extrinsic
        if acc is None or T is None or not acc.history:
            return None
        if not 0 <= (stamp_ns - acc.history[-1][0].stamp_ns) * 1e-9 <= self.config.lidar_hold_s:
            return None
        if self._pose(stamp_ns) is None:
            return None
        merged, rings, _ = acc.cloud(stamp_ns=stamp_ns, camera=(T, cam))
        if not len(merged):
            return None
        points, keep = points_in_front(*(merged[:, i] for i in range(3)), T)
        # Seen from where the camera is now: as a cloud moved to its image's stamp (_with_history).
        visible = visible_keep(points, cam)
        return np.compress(visible, points, 0), None if rings is None else rings[keep][visible]

    # -- one frame ------------------------------------------------------------------------------

    def prepare(self, image_msg, info_msg, cloud_msg=None, *, fallback_stamp_ns: int = 0) -> PreparedFrame:
        """Decode and check the image and its camera_info, and move the cloud's points into the
        camera frame. ``fallback_stamp_ns`` (the receive or bag time) stands in for a zero stamp."""
        t0 = time.perf_counter()
        stamp, stamp_fallback = image_stamp(image_msg, fallback_stamp_ns)
        if stamp == 0:
            raise ConversionError("zero_stamp", "image has a zero stamp (a driver without a clock?)")
        if info_msg is None:
            raise ConversionError("missing_camera_info", "no camera_info for this image")
        rgb = self.decode_image(image_msg)
        cam = fit_camera(self.camera(info_msg), rgb.shape[1], rgb.shape[0])
        frame_id = image_msg.header.frame_id or (info_msg.header.frame_id if info_msg else "")
        # The outputs' header: the image's, with the stamp used and, where a driver leaves the image's
        # frame_id empty, camera_info's (an empty frame cannot be placed by TF, RViz or a costmap).
        header = make_header(self.types, stamp, frame_id) if stamp_fallback or frame_id != image_msg.header.frame_id \
            else image_msg.header
        timings = {"decode": time.perf_counter() - t0}

        t = time.perf_counter()
        points = rings = age = motion = None
        status, reason, used, unmoved = LidarStatus.DISABLED, "", 0, ""
        if self.config.use_lidar:
            status = LidarStatus.NONE
            if cloud_msg is not None:
                age = (stamp - stamp_to_ns(cloud_msg.header.stamp)) * 1e-9
                if abs(age) > self.config.lidar_max_age and not self._sweep_near(cloud_msg, stamp):
                    status = LidarStatus.STALE
                else:
                    try:
                        T = self.lidar_to_camera(cloud_msg, frame_id)
                        timed = self.config.lidar_deskew and any(f.name in TIME_FIELDS for f in cloud_msg.fields)
                        # Stamped apart from the image (an unsynchronised LiDAR): moved to the
                        # image's stamp where the odometry covers both.
                        apart = self.config.lidar_to_image_time and abs(age) > SAME_TIME_S
                        odometry = apart and self._pose(stamp_to_ns(cloud_msg.header.stamp)) is not None
                        if self.config.uses_odometry or timed or odometry:
                            points, rings, times = self.camera_points(cloud_msg, T, with_times=True)
                            self._last_extrinsic = T
                            points, rings, used, why, motion, unmoved = self._with_history(
                                frame_id, cloud_msg, T, points, rings, times, cam, stamp if apart else None,
                                rgb, age)
                            # Said only where accumulation or a hold was asked for (de-skewing alone
                            # quietly does without odometry).
                            reason = why if self.config.uses_odometry else ""
                        else:
                            points, rings = self.camera_points(cloud_msg, T)
                            unmoved = "no_odometry" if apart else ""
                        status = LidarStatus.USED if len(points) else LidarStatus.NO_POINTS_IN_VIEW
                    except ConversionError as exc:
                        status, reason = LidarStatus.DAMAGED, exc.reason
                    except KeyError:
                        status = LidarStatus.NO_EXTRINSIC
            if status in (LidarStatus.NONE, LidarStatus.STALE) and self.config.lidar_hold_s > 0:
                held = self._held(stamp, cam)
                if held is not None:
                    (points, rings), status, reason = held, LidarStatus.HELD, ""
        timings["lidar"] = time.perf_counter() - t
        return PreparedFrame(stamp, frame_id, header, rgb, cam, points, rings, status,
                             reason if status is LidarStatus.DAMAGED else status.value, age, stamp_fallback, timings,
                             accumulation=reason if status is LidarStatus.USED else "", past_sweeps=used,
                             lidar_motion=motion, lidar_unmoved=unmoved)

    def run(self, frame: PreparedFrame, *, sparse_depth: np.ndarray | None = None,
            outputs=OUTPUTS) -> FrameResult:
        """Estimate depth for a prepared frame and build the ``outputs`` messages. The LiDAR input
        is the frame's points, projected by the estimator at its network size, or, given,
        ``sparse_depth`` [H,W] at the image's size (the replay's input share of them). Depth whose
        confidence is below ``min_confidence`` becomes NaN, so the pseudo-LiDAR drops it too."""
        rgb, cam = frame.rgb, frame.camera
        status = frame.lidar_status
        if sparse_depth is not None:
            result = self.estimator.predict(rgb, cam.K, sparse_depth)
        else:
            points = frame.points if status in (LidarStatus.USED, LidarStatus.HELD) else None
            result = self.estimator.predict(rgb, cam.K, sparse_points=points)
            if points is not None and result.n_points == 0 and self.estimator.uses_sparse_depth:
                status = LidarStatus.NO_POINTS_IN_VIEW   # in front of the camera, but outside the image
        timings = {**frame.timings, **result.timings}

        t = time.perf_counter()
        h, w = rgb.shape[:2]
        out_w = self.config.output_width or w
        out_h = self.config.output_height or h
        depth, out_cam, confidence = result.depth, cam, result.confidence
        if (out_w, out_h) != (w, h):
            depth = cv2.resize(depth, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            if confidence is not None:
                confidence = cv2.resize(confidence, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
            out_cam = cam.resized(out_w, out_h)
        if confidence is not None and self.config.min_confidence > 0:
            # A NaN confidence (none estimated there) counts as below any threshold.
            depth = np.where(confidence >= self.config.min_confidence, depth, np.float32(np.nan))
        timings["postprocess"] = timings.get("postprocess", 0.0) + time.perf_counter() - t

        out = FrameResult(frame, depth, out_cam, result.mode, status, timings, confidence)
        self._messages(out, outputs)
        return out

    def process(self, image_msg, info_msg, cloud_msg=None, *, fallback_stamp_ns: int = 0,
                outputs=OUTPUTS) -> FrameResult:
        """One frame, messages in, messages out: :meth:`prepare` then :meth:`run`."""
        return self.run(self.prepare(image_msg, info_msg, cloud_msg, fallback_stamp_ns=fallback_stamp_ns),
                        outputs=outputs)

    def _messages(self, frame: FrameResult, outputs) -> None:
        types, header = self.types, frame.prepared.header
        t = time.perf_counter()
        if "depth" in outputs:
            frame.messages["depth"] = depth_to_msg(types, frame.depth, header)
        if "camera_info" in outputs:
            frame.messages["camera_info"] = camera_info_to_msg(types, frame.camera, header)
        if "confidence" in outputs and frame.confidence is not None:
            frame.messages["confidence"] = depth_to_msg(types, frame.confidence, header)
        frame.timings["encode"] = time.perf_counter() - t
        if "points" in outputs:
            t = time.perf_counter()
            try:
                frame.messages["points"] = self.pseudo_lidar(frame)
            except _NoPointsFrame as exc:   # no TF to points_frame (yet): the depth goes out all the same
                frame.points_problem = str(exc)
            frame.timings["pseudo_lidar"] = time.perf_counter() - t

    def pseudo_lidar(self, frame: FrameResult):
        cfg, types = self.config, self.types
        T, frame_id = None, frame.frame_id
        if cfg.points_frame and cfg.points_frame != frame.frame_id:
            if self.transform_lookup is None:
                raise _NoPointsFrame(f"points_frame '{cfg.points_frame}' needs TF, which is not available")
            try:
                T = self._lookup_near(cfg.points_frame, frame.frame_id, frame.stamp_ns)
            except KeyError as exc:
                raise _NoPointsFrame(exc.args[0] if exc.args else str(exc)) from None
            frame_id = cfg.points_frame
        stride = max(cfg.points_stride, 1)
        xyz = organised_cloud(frame.depth, frame.camera.K, stride=stride, max_range=cfg.points_max_range,
                              T_target_camera=T)
        fields = {"x": xyz[..., 0], "y": xyz[..., 1], "z": xyz[..., 2]}
        if cfg.points_rgb:
            rgb = frame.prepared.rgb
            if rgb.shape[:2] != frame.depth.shape:
                rgb = cv2.resize(rgb, frame.depth.shape[::-1], interpolation=cv2.INTER_AREA)
            fields["rgb"] = pack_rgb(rgb[::stride, ::stride])
        out_header = types.Header(stamp=frame.prepared.header.stamp, frame_id=frame_id)
        # XYZ: the interleaved cloud is the message's data as it is; XYZRGB is packed field by field.
        return pointcloud_to_msg(types, out_header, fields, height=xyz.shape[0], is_dense=False,
                                 packed=None if cfg.points_rgb else xyz)

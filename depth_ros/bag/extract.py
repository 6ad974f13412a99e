"""``depth-ros-dataset``: turn a robot's camera + LiDAR bag into a training frame set.

With no LiDAR (no ``--lidar-topic`` and none on ``/lidar/points``, or ``--no-lidar``) and no depth
topic, it writes a *video* frame set instead: each image with its stamp, K and camera pose (the
bag's ``/tf`` odometry, odom -> ``--base-frame``, chained to the camera through ``/tf_static``),
for self-supervised fine-tuning (``config/train/finetune_video.yaml``). A bag without that
odometry is refused before any image is read.

For each camera image: the nearest LiDAR scan (within ``--max-dt``) projected into the camera is
the sparse input; the ground truth is a depth image topic when the bag has one (``--depth-topic``),
else the LiDAR itself, optionally densified by accumulating the ``--accumulate`` scans before and
after it, moved into the image's camera pose with the bag's ``/tf`` odometry (nearest point per
pixel wins), less the other scans' points that the occlusion and photometric rules of
:mod:`depth_core.geometry.sweeps` drop (the latter reads each scan in the image nearest it, moved
to that image's stamp by the odometry). Extrinsics come from ``/tf_static`` (chains resolved) or
``--lidar-extrinsic``.

Messages are streamed: only a window of scans around the images being written is in memory.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_core.data.frames import FrameSetWriter, project_with_rings
from depth_core.geometry import (
    CameraShades,
    PoseHistory,
    Sweep,
    TransformTree,
    deskew,
    hidden_keep,
    motion_between,
    move_sweep,
    project_points,
    transform_from_xyzquat,
    transform_points,
    visible_keep,
)
from depth_core.utils import ArgumentParser, atomic_output_dir, positive_float
from depth_core.utils.files import OutputError

from ..conversions import (
    CAMERA_MATRICES,
    TIME_FIELDS,
    ConversionError,
    camera_matrix_note,
    depth_from_msg,
    fit_camera,
    intrinsics_from_camera_info,
    point_times,
    pointcloud_from_msg,
    rgb_from_any,
    stamp_to_ns,
    tree_from_tf_messages,
)
from ..sync import SAME_TIME_S, check_topics, nearest_stamp
from .odometry import read_odometry
from .reader import BagError, bag_topics, read_messages

__all__ = ["extract_frames", "main"]

log = logging.getLogger("depth_ros.dataset")


def _cloud(msg) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The finite points (LiDAR frame), their rings and their absolute times in ns (None without a
    ring / time field)."""
    names = [f.name for f in msg.fields]
    time_field = next((n for n in TIME_FIELDS if n in names), None)
    wanted = ["x", "y", "z"] + (["ring"] if "ring" in names else []) + ([time_field] if time_field else [])
    fields = pointcloud_from_msg(msg, wanted)
    xyz = np.stack([fields["x"], fields["y"], fields["z"]], axis=1).astype(np.float64)
    keep = np.isfinite(xyz).all(axis=1)
    ring = fields["ring"][keep] if "ring" in fields else None
    times = point_times(fields[time_field][keep], stamp_to_ns(msg.header.stamp)) if time_field else None
    return xyz[keep], ring, times


class _Deskew:
    """De-skews clouds with per-point times by the bag's odometry, as the node does
    (``lidar_deskew``): each point moved into the LiDAR frame at the cloud's stamp. Counts what it
    did, and says once why it could not."""

    def __init__(self, odometry: PoseHistory, static: TransformTree, base_frame: str, tolerance_ns: int,
                 cam_frame: str = "", T_cam_lidar: np.ndarray | None = None) -> None:
        """``T_cam_lidar`` (``--lidar-extrinsic``): the LiDAR is mounted through the camera, base ->
        camera from /tf_static."""
        self.odometry, self.static, self.base_frame, self.tol = odometry, static, base_frame, tolerance_ns
        self.cam_frame, self.T_cam_lidar = cam_frame, T_cam_lidar
        self.mounts: dict[str, np.ndarray | None] = {}
        self.done = self.failed = 0
        self.warned = False

    def mount(self, lidar_frame: str) -> np.ndarray | None:
        """T_base_lidar from /tf_static (or through the camera), None where it does not link them."""
        if lidar_frame not in self.mounts:
            try:
                self.mounts[lidar_frame] = self.static.mount(self.base_frame, lidar_frame, self.cam_frame,
                                                             self.T_cam_lidar)
            except KeyError:
                self.mounts[lidar_frame] = None
        return self.mounts[lidar_frame]

    def to_image(self, xyz: np.ndarray, scan_stamp: int, image_stamp: int, lidar_frame: str) -> np.ndarray | None:
        """The scan's points moved on to the LiDAR frame at ``image_stamp`` by the odometry (the
        node's ``lidar_to_image_time``); None where the odometry or the mounting is missing."""
        mount = self.mount(lidar_frame)
        # As the node moves it, carried on for up to --max-dt past the odometry's last pose (the bag's end).
        motion = None if mount is None else motion_between(self.odometry, scan_stamp, image_stamp, mount, self.tol)
        return None if motion is None else transform_points(motion, xyz).astype(xyz.dtype, copy=False)

    def __call__(self, xyz: np.ndarray, ring, times, stamp: int, lidar_frame: str) -> np.ndarray:
        if times is None:
            return xyz
        mount = self.mount(lidar_frame)
        moved = None if mount is None or not len(self.odometry) else \
            deskew(Sweep(stamp, xyz, ring, times), self.odometry, mount, self.tol)
        if moved is None:
            self.failed += 1
            if not self.warned:
                self.warned = True
                target = lidar_frame if self.T_cam_lidar is None else self.cam_frame
                why = (f"/tf_static does not link '{self.base_frame}' to '{target}'" if mount is None else
                       f"/tf has no odometry to '{self.base_frame}' over the sweep")
                log.warning("clouds with per-point times are kept as recorded, not de-skewed: %s", why)
            return xyz
        self.done += 1
        return moved


def _fit(cam, rgb, bag, image_topic: str, camera_info_topic: str):
    """The intrinsics of this image: ``cam``, scaled where the image is a resized copy of what the
    camera_info describes; a BagError where it is not (the whole bag's calibration is wrong)."""
    h, w = rgb.shape[:2]
    if (cam.width, cam.height) == (w, h):
        return cam
    try:
        fitted = fit_camera(cam, w, h)
    except ConversionError as exc:
        raise BagError(f"{bag}: {exc} on {image_topic} ({camera_info_topic} does not describe these images: "
                       "pass the camera_info topic recorded with them)") from None
    log.info("%s: the images are %dx%d and %s describes %dx%d: intrinsics scaled to the images", bag, w, h,
             camera_info_topic, cam.width, cam.height)
    return fitted


def _camera(info, matrix: str):
    note = camera_matrix_note(info, matrix)
    if note:
        log.warning(note)
    return intrinsics_from_camera_info(info, matrix)


def extract_frames(bag: str | Path, out: str | Path, *, image_topic: str, camera_info_topic: str,
                   lidar_topic: str | None, depth_topic: str | None = None, accumulate: int = 0, every: int = 1,
                   max_dt: float = 0.05, lidar_extrinsic=None, base_frame: str = "base_link", overwrite: bool = False,
                   progress: bool = True, camera_matrix: str = "auto", deskew: bool = True,
                   to_image_time: bool = True, align_images: bool = True) -> dict:
    """Write the frame set; ``lidar_topic`` None (and no ``depth_topic``): a video frame set.
    ``deskew``: clouds with per-point times (``time``, ``t``, ``timestamp``) are de-skewed by the
    bag's /tf odometry, as the node does by default. ``to_image_time``: a scan stamped apart from
    its image is moved to the image's stamp by that odometry, as the node's ``lidar_to_image_time``
    (the accumulated ground truth always is). ``align_images``: with ``accumulate``, each other scan
    is first aligned to the frame's image by its points' brightness in their own image, which takes
    the odometry's drift out of it, as the node's ``lidar_align_images``.
    ``camera_matrix``: which of camera_info's matrices describes the image (P, K, or auto: P when set)."""
    bag = Path(bag)
    if lidar_topic is None and (depth_topic or accumulate):
        raise BagError(f"{'--depth-topic' if depth_topic else '--accumulate'} needs a LiDAR (--lidar-topic): "
                       "without one the frame set is camera and odometry only")
    topics = check_topics(bag, {"--image-topic": image_topic, "--camera-info-topic": camera_info_topic,
                                "--lidar-topic": lidar_topic, "--depth-topic": depth_topic})
    static = TransformTree() if "/tf_static" not in topics else tree_from_tf_messages(
        m.msg for m in read_messages(bag, ["/tf_static"]))
    if lidar_topic is None:
        return _extract_video(bag, out, topics, static, image_topic=image_topic, camera_info_topic=camera_info_topic,
                              every=every, max_dt=max_dt, base_frame=base_frame, overwrite=overwrite,
                              progress=progress, camera_matrix=camera_matrix)
    odometry, _ = read_odometry(bag, base_frame)
    info = None
    scan_stamps = []
    for m in read_messages(bag, [camera_info_topic, lidar_topic]):  # pass 1: small messages and stamps only
        if m.topic == camera_info_topic and info is None:
            info = m.msg
        elif m.topic == lidar_topic:
            scan_stamps.append(stamp_to_ns(m.msg.header.stamp))
    if info is None:
        raise BagError(f"{bag}: no message on {camera_info_topic}")
    if accumulate and not odometry.stamps:
        raise BagError(f"{bag}: --accumulate needs ground-truth or odometry poses on /tf ({base_frame})")
    cam = _camera(info, camera_matrix)
    cam_frame = info.header.frame_id
    tol = int(max_dt * 1e9)
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        writer = FrameSetWriter(staging, source=f"rosbag:{bag.name}")
        seq = None
        window: deque = deque()            # (stamp, xyz, ring, lidar_frame) of recent scans
        pending: deque = deque()           # images waiting for the scans after them
        # Every image as old as the scans in the window (the undecoded message), for the photometric
        # rule of --accumulate: each scan's points are read in the image nearest it.
        recent: deque = deque()
        # not: no image near it, or no odometry then; aligned: of those tested, moved by the alignment
        shading = {"scans_tested": 0, "scans_not_tested": 0, "scans_aligned": 0}
        depth_by_stamp: dict[int, np.ndarray] = {}
        last_image = 0
        counts = {"images": 0, "written": 0, "no_scan": 0, "no_pose": 0, "damaged": 0}
        apart = {"scans": 0, "moved": 0}   # scans stamped apart from their image, and those moved to it
        deskewer = _Deskew(odometry, static, base_frame, tol, cam_frame,
                           None if lidar_extrinsic is None else transform_from_xyzquat(lidar_extrinsic))
        stream = [image_topic, lidar_topic] + ([depth_topic] if depth_topic else [])
        total = topics[image_topic].count
        bar = tqdm(total=total, desc="extracting", unit="image", disable=None if progress else True)

        def emit(img) -> None:
            nonlocal seq
            stamp, rgb = img
            scans = list(window)
            i = nearest_stamp([s[0] for s in scans], stamp, tol)
            if i is None:
                counts["no_scan"] += 1
                return
            centre = scans[i]
            lidar_frame = centre[3]
            T_cam_lidar = (transform_from_xyzquat(lidar_extrinsic) if lidar_extrinsic is not None
                           else static.lookup(cam_frame, lidar_frame))
            xyz, ring = centre[1], centre[2]
            if abs(centre[0] - stamp) > SAME_TIME_S * 1e9:
                apart["scans"] += 1
                moved = deskewer.to_image(xyz, centre[0], stamp, lidar_frame) if to_image_time else None
                if moved is not None:
                    # As the node does: less the points that nearer ones now hide from the camera.
                    keep = visible_keep(transform_points(T_cam_lidar, moved), cam)
                    xyz, ring = moved[keep], None if ring is None else ring[keep]
                    apart["moved"] += 1
            sparse, rings = project_with_rings(xyz, ring, T_cam_lidar, cam)
            if depth_topic:
                depth = depth_by_stamp.pop(stamp, None)
                if depth is None:
                    counts["no_scan"] += 1
                    return
            elif accumulate:
                depth = _accumulated(scans, centre, accumulate, stamp, odometry, tol, static, cam_frame, lidar_frame,
                                     base_frame, T_cam_lidar, cam, (rgb, lambda t: _image_at(recent, t, cam, tol)),
                                     shading, align_images)
                if depth is None:
                    counts["no_pose"] += 1
                    return
            else:
                depth = sparse
            if seq is None:
                seq = writer.sequence("seq_0000", cam, T_cam_lidar, bag.stem, _mounting(static, base_frame, cam_frame))
            seq.add(rgb, np.nan_to_num(depth), sparse, rings, stamp, odometry.at(stamp, tol))
            counts["written"] += 1

        for m in read_messages(bag, stream):
            try:
                if m.topic == image_topic:
                    counts["images"] += 1
                    bar.update()
                    last_image = stamp_to_ns(m.msg.header.stamp)
                    if accumulate:
                        recent.append([last_image, m.msg])
                    if (counts["images"] - 1) % every == 0:
                        rgb = rgb_from_any(m.msg)
                        cam = _fit(cam, rgb, bag, image_topic, camera_info_topic)
                        pending.append((stamp_to_ns(m.msg.header.stamp), rgb))
                elif m.topic == depth_topic:
                    depth_by_stamp[stamp_to_ns(m.msg.header.stamp)] = depth_from_msg(m.msg)
                else:
                    xyz, ring, times = _cloud(m.msg)
                    scan_stamp, lidar_frame = stamp_to_ns(m.msg.header.stamp), m.msg.header.frame_id
                    if deskew:
                        xyz = deskewer(xyz, ring, times, scan_stamp, lidar_frame)
                    window.append((scan_stamp, xyz, ring, lidar_frame))
            except ConversionError:
                counts["damaged"] += 1
                continue
            # An image is complete once `accumulate` scans (and at least one) follow it.
            while pending and sum(s[0] > pending[0][0] + tol for s in window) >= max(accumulate, 1):
                emit(pending.popleft())
            # Keep only the scans that a pending or future image can still use.
            ref = pending[0][0] if pending else window[-1][0] if window else 0
            older = sum(s[0] < ref - tol for s in window)
            for _ in range(older - (accumulate + 1)):
                window.popleft()
            while recent and window and recent[0][0] < window[0][0] - tol:
                recent.popleft()
            # And only the depth images an image still to come can be paired with (exact stamps):
            # those of images left out by --every, or never matched, would pile up over a long bag.
            oldest = pending[0][0] if pending else last_image
            for stale in [k for k in depth_by_stamp if k < oldest]:
                del depth_by_stamp[stale]
        while pending:
            emit(pending.popleft())
        bar.close()
        if seq is not None:
            seq.close()
        if counts["written"] == 0:
            raise BagError(f"{bag}: no image could be paired with a LiDAR scan within {max_dt} s ({counts})")
        truth = "depth_image" if depth_topic else "lidar_accumulated" if accumulate else "lidar"
        if apart["moved"] < apart["scans"]:
            log.warning("%d of %d scans were stamped apart from their images and %s: at speed the points land off "
                        "their surfaces", apart["scans"] - apart["moved"], apart["scans"],
                        "were not moved to the image's stamp (no odometry at both stamps, or /tf_static does not "
                        f"place the LiDAR on '{base_frame}')" if to_image_time else
                        "stayed at their own (--no-lidar-to-image-time)")
        extra = {"photometric_rule": {**shading, "align_images": align_images}} if accumulate else {}
        summary = writer.finish(ground_truth=truth, images=counts, accumulate=accumulate, every=every,
                                scans_deskewed=deskewer.done, scans_not_deskewed=deskewer.failed,
                                scans_apart_from_image=apart["scans"], scans_moved_to_image=apart["moved"], **extra)
    return summary


def _mounting(static: TransformTree, base_frame: str, cam_frame: str) -> dict:
    """``{"T_base_cam": ...}`` for calib.json when /tf_static links the base to the camera, else {}."""
    try:
        return {"T_base_cam": static.lookup(base_frame, cam_frame).tolist()}
    except KeyError as exc:
        log.warning("the camera's mounting is unknown (%s): this frame set cannot train from video "
                    "(finetune_video_lidar.yaml)", exc.args[0])
        return {}


def _extract_video(bag: Path, out, topics: dict, static: TransformTree, *, image_topic: str, camera_info_topic: str,
                   every: int, max_dt: float, base_frame: str, overwrite: bool, progress: bool,
                   camera_matrix: str = "auto") -> dict:
    """A video frame set: each image with its stamp and the base's odometry pose; the camera's
    mounting (base -> camera from /tf_static) in calib.json."""
    info = next((m.msg for m in read_messages(bag, [camera_info_topic])), None)
    if info is None:
        raise BagError(f"{bag}: no message on {camera_info_topic}")
    cam = _camera(info, camera_matrix)
    cam_frame = info.header.frame_id
    odometry, pairs = read_odometry(bag, base_frame)
    if not len(odometry):
        children = sorted({child for _, child in pairs})
        found = f"/tf has transforms to {', '.join(children)}" if children else "the bag has no /tf"
        raise BagError(f"{bag}: no odometry for a camera-only frame set: {found}, none to '{base_frame}'. A video "
                       "frame set needs the robot's motion: record /tf (odom -> base frame) with the camera, or pass "
                       "--base-frame with the frame your odometry moves (or give --lidar-topic for a LiDAR frame set)")
    try:
        T_base_cam = static.lookup(base_frame, cam_frame)
    except KeyError as exc:
        raise BagError(f"{bag}: the camera's mounting is unknown: /tf_static does not link '{base_frame}' to the "
                       f"camera frame '{cam_frame}' ({exc.args[0]}); record /tf_static with the camera") from None
    tol = int(max_dt * 1e9)
    counts = {"images": 0, "written": 0, "no_scan": 0, "no_pose": 0, "damaged": 0}
    with atomic_output_dir(out, overwrite=overwrite) as staging:
        writer = FrameSetWriter(staging, source=f"rosbag:{bag.name}")
        seq = None   # made at the first image, with the intrinsics fitted to its size
        bar = tqdm(total=topics[image_topic].count, desc="extracting video", unit="image",
                   disable=None if progress else True)
        positions = []
        for m in read_messages(bag, [image_topic]):
            counts["images"] += 1
            bar.update()
            if (counts["images"] - 1) % every:
                continue
            try:
                stamp, rgb = stamp_to_ns(m.msg.header.stamp), rgb_from_any(m.msg)
            except ConversionError:
                counts["damaged"] += 1
                continue
            cam = _fit(cam, rgb, bag, image_topic, camera_info_topic)
            pose = odometry.at(stamp, tol)
            if pose is None:
                counts["no_pose"] += 1
                continue
            if seq is None:
                seq = writer.sequence("seq_0000", cam, None, bag.stem, {"T_base_cam": T_base_cam.tolist()})
            seq.add(rgb, None, None, None, stamp, pose)
            positions.append((pose @ T_base_cam)[:3, 3])
            counts["written"] += 1
        bar.close()
        if seq is not None:
            seq.close()
        if not counts["written"]:
            raise BagError(f"{bag}: none of its {counts['images']} images has an odometry pose within {max_dt} s "
                           f"(/tf to '{base_frame}' covers {len(odometry)} stamps); widen --max-dt or check the clocks")
        travel = float(np.ptp(np.array(positions), axis=0).max()) if len(positions) > 1 else 0.0
        summary = writer.finish(ground_truth="none", images=counts, accumulate=0, every=every, camera_travel_m=travel)
    if travel < 0.05:
        log.warning("%s: the camera moves at most %.3f m in the whole recording: self-supervised training needs a "
                    "moving robot", bag, travel)
    return summary


def _image_at(recent: deque, stamp: int, cam, tol: int) -> tuple[int, np.ndarray] | None:
    """``(its stamp, the image)`` of ``recent`` (``[stamp, message or decoded]`` entries) nearest
    ``stamp``, within ``tol`` ns, decoded once; None where there is none or it does not fit ``cam``."""
    i = nearest_stamp([entry[0] for entry in recent], stamp, tol)
    if i is None:
        return None
    entry = recent[i]
    if not isinstance(entry[1], np.ndarray):
        try:
            entry[1] = rgb_from_any(entry[1])
        except ConversionError:
            entry[1] = np.zeros((0, 0, 3), np.uint8)
    return (entry[0], entry[1]) if entry[1].shape[:2] == (cam.height, cam.width) else None


def _accumulated(scans, centre, n, stamp, odometry, tol, static, cam_frame, lidar_frame, base_frame, T_cam_lidar,
                 cam, images=None, counts=None, align: bool = False) -> np.ndarray | None:
    """The centre scan plus up to ``n`` scans either side, moved into the camera at ``stamp``,
    less the other scans' points that nearer points hide from the camera, and, with ``images``
    (the centre image, and a function giving ``(stamp, image)`` nearest a scan's stamp), those
    whose brightness in their own image the centre image contradicts (the photometric rule; the
    scan is moved to its image's stamp by the odometry to be read there). With ``align`` such a
    scan is first aligned to the centre image by those brightnesses (:meth:`CameraShades.align`,
    as the node's accumulation does): the odometry's drift taken out. ``counts`` gains the scans
    so tested, those not (no image near it, or no odometry at the image's stamp) and those aligned."""
    T_odom_base_now = odometry.at(stamp, tol)
    if T_odom_base_now is None:
        return None
    T_base_lidar = static.lookup(base_frame, cam_frame) @ T_cam_lidar
    k = next(i for i, s in enumerate(scans) if s is centre)
    clouds, others, now = [], [], None
    for s in scans[max(0, k - n):k + n + 1]:
        T_odom_base = odometry.at(s[0], tol)
        if T_odom_base is None:
            continue
        # The same motion and occlusion rule as the node's and the replay's accumulation
        # (depth_core.geometry.sweeps): ground truth with the far side of a post on the post's
        # pixels would teach the network exactly the error the rule removes from their input.
        moved = move_sweep(s[1], T_odom_base, T_odom_base_now, T_base_lidar, T_cam_lidar)
        own = None if images is None or s is centre else images[1](s[0])
        pose_then = None if own is None else odometry.at(own[0], tol)
        if pose_then is not None:
            if now is None:
                now = CameraShades(images[0], np.eye(4), cam)
            seen = move_sweep(s[1], T_odom_base, pose_then, T_base_lidar, T_cam_lidar)
            shade = CameraShades(own[1], np.eye(4), cam).sample(seen)
            correction = now.align(moved, shade) if align else None
            if correction is not None:
                moved = transform_points(correction, moved)
                if counts is not None:
                    counts["scans_aligned"] += 1
            moved = moved[now.keep(moved, shade)]
        if counts is not None and images is not None and s is not centre:
            counts["scans_tested" if pose_then is not None else "scans_not_tested"] += 1
        clouds.append(moved)
        others.append(np.full(len(moved), s is not centre))
    points, candidates = np.concatenate(clouds), np.concatenate(others)
    points = points[hidden_keep(points, candidates, cam)]
    return project_points(points, cam.K, cam.height, cam.width)


DEFAULT_LIDAR_TOPIC = "/lidar/points"


def _default_lidar_topic(bag, depth_topic: str | None) -> str | None:
    """The LiDAR topic when none is given: the default one if the bag has it (or a depth topic
    needs pairing), else None: a video frame set."""
    topics = bag_topics(Path(bag))
    if DEFAULT_LIDAR_TOPIC in topics:
        return DEFAULT_LIDAR_TOPIC
    log.info("%s: no LiDAR on %s: writing a video frame set (camera + odometry)", bag, DEFAULT_LIDAR_TOPIC)
    return None


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="depth-ros-dataset", description="Turn a camera + LiDAR rosbag into a training "
                                                                   "frame set (depth-core train: type: frames).")
    parser.add_argument("bag", help="rosbag2 folder (MCAP or sqlite3) or ROS 1 .bag")
    parser.add_argument("--out", required=True, help="frame set folder to create")
    parser.add_argument("--image-topic", default="/camera/image_raw")
    parser.add_argument("--camera-info-topic", default="/camera/camera_info")
    parser.add_argument("--lidar-topic", help=f"default: {DEFAULT_LIDAR_TOPIC} when the bag has it; without a LiDAR "
                        "(and no --depth-topic) the frame set is camera + odometry only, for self-supervised training")
    parser.add_argument("--no-lidar", action="store_true", help="ignore the bag's LiDAR: a camera + odometry frame set")
    parser.add_argument("--depth-topic", help="a depth image topic to use as ground truth (32FC1 m or 16UC1 mm)")
    parser.add_argument("--accumulate", type=int, default=0,
                        help="densify the ground truth with this many scans before and after (needs /tf odometry)")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th image")
    parser.add_argument("--max-dt", type=positive_float, default=0.05, help="image/scan pairing tolerance, s")
    parser.add_argument("--no-deskew", action="store_true",
                        help="keep clouds with per-point times as recorded (default: de-skewed by the /tf odometry, "
                             "as the node's lidar_deskew)")
    parser.add_argument("--no-lidar-to-image-time", action="store_true",
                        help="keep a scan stamped apart from its image where it was captured (default: moved to the "
                             "image's stamp by the /tf odometry, as the node's lidar_to_image_time)")
    parser.add_argument("--no-align-images", action="store_true",
                        help="with --accumulate: move the other scans by the /tf odometry as it is (default: each "
                             "is aligned to the frame's image by its brightness first, as the node's "
                             "lidar_align_images, which takes the odometry's drift out)")
    parser.add_argument("--camera-matrix", choices=CAMERA_MATRICES, default="auto",
                        help="intrinsics from camera_info's P (the rectified image's camera), K (the raw camera's), "
                             "or auto: P when it is set, else K (as the node's camera_matrix parameter)")
    parser.add_argument("--lidar-extrinsic", type=float, nargs=7, metavar=("X", "Y", "Z", "QX", "QY", "QZ", "QW"),
                        help="the LiDAR frame's pose in the camera frame (instead of /tf_static)")
    parser.add_argument("--base-frame", default="base_link", help="odometry child frame on /tf")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.accumulate < 0 or args.every < 1:
        print("depth-ros-dataset: error: --accumulate must be >= 0 and --every >= 1", file=sys.stderr)
        return 2
    if args.no_align_images and not args.accumulate:
        print("depth-ros-dataset: error: --no-align-images only applies to accumulated scans (--accumulate N)",
              file=sys.stderr)
        return 2
    if args.no_lidar and args.lidar_topic:
        print("depth-ros-dataset: error: give --lidar-topic or --no-lidar, not both", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        lidar_topic = None if args.no_lidar else args.lidar_topic or _default_lidar_topic(args.bag, args.depth_topic)
        summary = extract_frames(args.bag, args.out, image_topic=args.image_topic,
                                 camera_info_topic=args.camera_info_topic, lidar_topic=lidar_topic,
                                 depth_topic=args.depth_topic, accumulate=args.accumulate, every=args.every,
                                 max_dt=args.max_dt, lidar_extrinsic=args.lidar_extrinsic, base_frame=args.base_frame,
                                 overwrite=args.overwrite, progress=not args.quiet, camera_matrix=args.camera_matrix,
                                 deskew=not args.no_deskew, to_image_time=not args.no_lidar_to_image_time,
                                 align_images=not args.no_align_images)
    except OutputError as exc:
        print(f"depth-ros-dataset: error: --out: {exc}", file=sys.stderr)
        return 2
    except (BagError, KeyError, ConversionError) as exc:
        print(f"depth-ros-dataset: error: {exc}", file=sys.stderr)
        return 2
    counts = summary["images"]
    if summary["ground_truth"] == "none":
        print(f"wrote a video frame set (camera + odometry, no LiDAR) of {summary['samples']} frames to {args.out} "
              f"from {counts['images']} images in {time.perf_counter() - t0:.1f} s (camera travel "
              f"{summary['camera_travel_m']:.2f} m; skipped: {counts['no_pose']} without a pose, {counts['damaged']} "
              "damaged messages); train on it with config/train/finetune_video.yaml")
        return 0
    print(f"wrote {summary['samples']} frames to {args.out} from {counts['images']} images in "
          f"{time.perf_counter() - t0:.1f} s (skipped: {counts['no_scan']} without a scan, {counts['no_pose']} "
          f"without a pose, {counts['damaged']} damaged messages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

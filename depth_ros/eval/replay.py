"""Replay a bag through the node's frame pipeline and score it against the bag's own LiDAR.

For every camera image: the LiDAR scan nearest in time (within ``max_dt``) is projected into the
image; a fraction of its points (or every k-th beam) is the completion input, the rest is held
out. Completion (and the classical baseline) are scored on the held-out points, prediction on
all points, exactly as ``depth-ros-eval`` documents. Every image is accounted for: evaluated, or
skipped with a reason; frames saved by a metadata fallback (a zero stamp: the bag time; a broken
camera_info: the last valid one) are scored and counted in ``fallbacks``. For a model with a
confidence, each row's sparsification is pooled over the frames' scored points.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_core.geometry import (
    PoseHistory,
    Sweep,
    SweepAccumulator,
    invert_transform,
    project_points,
    ring_image,
    transform_from_xyzquat,
    transform_points,
    visible_keep,
)
from depth_core.inference import DepthEstimator
from depth_core.metrics import Sparsification, compute_depth_metrics

from ..bag import BagError, BagWriter, read_messages
from ..bag.odometry import read_odometry
from ..conversions import TIME_FIELDS, ConversionError, rosbags_types, stamp_to_ns, tree_from_tf_messages
from ..pipeline import FramePipeline, LidarStatus, PipelineConfig, PreparedFrame
from ..sync import SAME_TIME_S, CameraInfoBuffer, check_topics, image_stamp, nearest_stamp, seen_with_image

__all__ = ["RANGE_BINS", "ReplayResult", "replay", "replay_topics"]

log = logging.getLogger("depth_ros.eval")

RANGE_BINS = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)
OUTPUT_TOPICS = {"depth": "/depth/image", "camera_info": "/depth/camera_info", "confidence": "/depth/confidence",
                 "points": "/pseudo_lidar/points"}


@dataclass
class ReplayResult:
    images: int = 0
    skipped: Counter = field(default_factory=Counter)
    fallbacks: Counter = field(default_factory=Counter)      # 'camera_info' | 'stamp' -> frames saved by one
    per_frame: dict = field(default_factory=lambda: {"prediction": [], "completion": [], "classical": []})
    sweep: dict = field(default_factory=dict)                 # fraction -> per-frame metrics
    range_errors: dict = field(default_factory=dict)          # row -> [bins, 2]: abs-rel sum, count
    timings: dict = field(default_factory=dict)               # stage -> list of seconds
    samples: list = field(default_factory=list)               # a few frames for pictures
    modes: Counter = field(default_factory=Counter)
    sparsification: dict = field(default_factory=dict)        # row -> Sparsification (models with a confidence)
    accumulation: dict = field(default_factory=dict)          # --accumulate: sweeps used, what was dropped
    deskewed: bool = False                                    # clouds with per-point times were de-skewed
    # Clouds stamped apart from their images: how many, their median offset, how many were moved
    # to the image's stamp by the odometry.
    lidar_apart: list = field(default_factory=list)           # s, image stamp - cloud stamp, of those frames
    moved_to_image: int = 0
    not_moved: Counter = field(default_factory=Counter)       # why the others were not


def _split(sparse: np.ndarray, rings, fraction: float, beam_keep_every: int | None, rng) -> tuple:
    valid = sparse > 0
    if beam_keep_every:
        if rings is None:
            raise ConversionError("missing_field", "beam subsampling needs a 'ring' field in the cloud")
        chosen = valid & (rings >= 0) & (rings % beam_keep_every == 0)
    else:
        # One draw per point, not per pixel: a 1242x375 image has ten times more pixels than points.
        chosen = np.zeros(sparse.shape, bool)
        points = np.flatnonzero(valid)
        chosen.flat[points] = rng.uniform(size=len(points)) < fraction
    return (np.where(chosen, sparse, 0).astype(np.float32, copy=False),
            np.where(valid & ~chosen, sparse, 0).astype(np.float32, copy=False))


def _range_errors(result: ReplayResult, row: str, pred: np.ndarray, truth: np.ndarray) -> None:
    acc = result.range_errors.setdefault(row, np.zeros((len(RANGE_BINS) - 1, 2)))
    m = (truth > 0) & np.isfinite(pred)
    if not m.any():
        return
    g, rel = truth[m], np.abs(pred[m] - truth[m]) / truth[m]
    idx = np.digitize(g, RANGE_BINS) - 1
    ok = (idx >= 0) & (idx < len(RANGE_BINS) - 1)
    np.add.at(acc[:, 0], idx[ok], rel[ok])
    np.add.at(acc[:, 1], idx[ok], 1)


def replay_topics(bag: str | Path, image_topic: str, camera_info_topic: str, lidar_topic: str | None,
                  beam_keep_every: int | None = None) -> dict:
    """The bag's topics, or a BagError naming the argument whose topic the bag lacks. With
    ``beam_keep_every``, also a BagError when the LiDAR's clouds have no ``ring`` field (checked
    on the first one), before anything slow."""
    topics = check_topics(bag, {"--image-topic": image_topic, "--camera-info-topic": camera_info_topic,
                                "--lidar-topic": lidar_topic})
    if beam_keep_every and lidar_topic:
        first = next(iter(read_messages(bag, [lidar_topic])), None)
        names = [f.name for f in first.msg.fields] if first is not None else []
        if first is not None and "ring" not in names:
            raise BagError(f"{bag}: --beam-keep-every needs each point's beam, a 'ring' field, and the clouds on "
                           f"{lidar_topic} have {', '.join(names) or 'no fields'}: use --lidar-input-fraction")
    return topics


def _lidar_truth(frame: PreparedFrame) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The frame's LiDAR points as a sparse depth image at the image's size, its ring map, and
    which point won each pixel (-1: none)."""
    cam = frame.camera
    sparse, index = project_points(frame.points, cam.K, cam.height, cam.width, return_index=True)
    return sparse, ring_image(index, frame.rings), index


def _timed(bag: Path, lidar_topic: str) -> bool:
    """Whether the first cloud on ``lidar_topic`` has a per-point time field."""
    first = next(iter(read_messages(bag, [lidar_topic])), None)
    return first is not None and any(f.name in TIME_FIELDS for f in first.msg.fields)


def _mounted(bag: Path, tree, base_frame: str, lidar_topic: str, camera_info_topic: str, lidar_extrinsic) -> bool:
    """Whether /tf_static places the LiDAR on the base (directly, or through the camera when the
    extrinsic is given): what moving its points by the odometry needs."""
    if tree is None:
        return False
    first = next(iter(read_messages(bag, [lidar_topic])), None)
    info = next(iter(read_messages(bag, [camera_info_topic])), None)
    try:
        tree.mount(base_frame, first.msg.header.frame_id if first is not None else "",
                   info.msg.header.frame_id if info is not None else "",
                   None if lidar_extrinsic is None else transform_from_xyzquat(lidar_extrinsic))
    except KeyError:
        return False
    return True


def _bag_odometry(bag: Path, topics: dict, odom_frame: str, base_frame: str, option: str) -> PoseHistory:
    """The bag's odom -> base poses on /tf, or a BagError saying what /tf has instead."""
    if "/tf" not in topics:
        raise BagError(f"{bag}: {option} needs the robot's odometry on /tf ({odom_frame} -> {base_frame}); "
                       "the bag has no /tf")
    odometry, pairs = read_odometry(bag, base_frame, odom_frame)
    if not len(odometry):
        listing = ", ".join(f"{parent} -> {child}" for parent, child in sorted(pairs)) or "nothing"
        raise BagError(f"{bag}: {option}: /tf has no {odom_frame} -> {base_frame} (it has {listing}); pass "
                       "--odom-frame and --base-frame")
    return odometry


class _Accumulation:
    """``--accumulate N``: each frame's model input gains the input points of the ``N`` previous
    sweeps (chosen by the same selection as the current one), moved by the bag's odometry and
    filtered by the free-space and occlusion rules (:class:`~depth_core.geometry.SweepAccumulator`,
    the node's)."""

    def __init__(self, odometry: PoseHistory, n: int, base_frame: str, tree, lidar_extrinsic,
                 tolerance_ns: int, moving_rule: bool = True, occlusion_rule: bool = True,
                 photometric_rule: bool = True, image_alignment: bool = True) -> None:
        self.odometry, self.moving_rule, self.occlusion_rule = odometry, moving_rule, occlusion_rule
        self.photometric_rule, self.image_alignment = photometric_rule, image_alignment
        self.n, self.base_frame, self.tree, self.tolerance = n, base_frame, tree, tolerance_ns
        self.extrinsic = None if lidar_extrinsic is None else transform_from_xyzquat(lidar_extrinsic)
        self.acc: SweepAccumulator | None = None
        self.used: list[int] = []

    def inputs(self, frame: PreparedFrame, cloud, index: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """``inputs`` with the previous sweeps' input points added (the nearest point per pixel)."""
        lidar_frame = cloud.header.frame_id
        if self.tree is None:
            raise BagError("--accumulate needs /tf_static to mount the LiDAR on the base frame")
        T_cam_lidar = self.extrinsic if self.extrinsic is not None else self.tree.lookup(frame.frame_id, lidar_frame)
        if self.acc is None:
            T_base_lidar = self.tree.lookup(self.base_frame, frame.frame_id) @ T_cam_lidar
            self.acc = SweepAccumulator(keep=self.n, odometry=self.odometry, T_base_lidar=T_base_lidar,
                                        tolerance_ns=self.tolerance, moving_rule=self.moving_rule,
                                        occlusion_rule=self.occlusion_rule, photometric_rule=self.photometric_rule,
                                        image_alignment=self.image_alignment)
        chosen = index[(inputs > 0) & (index >= 0)]
        # The points were moved to the image's stamp (frame.lidar_motion): back to the cloud's for
        # the history, whose sweeps are each at their own stamp, and the merged cloud on again.
        T_out = T_cam_lidar if frame.lidar_motion is None else T_cam_lidar @ frame.lidar_motion
        selected = transform_points(invert_transform(T_out), frame.points[chosen])
        rings = None if frame.rings is None else frame.rings[chosen]
        # With its image, for the photometric rule, where the points are where the image saw them:
        # synchronised, or moved to its stamp (a cloud from another time would be misread).
        seen = seen_with_image(frame.lidar_age, frame.lidar_motion)
        self.acc.add(Sweep(stamp_to_ns(cloud.header.stamp), selected, rings),
                     image=(frame.rgb, T_out, frame.camera) if seen else None)
        cam = frame.camera
        points, _, used = self.acc.cloud(camera=(T_cam_lidar, cam))
        self.used.append(used)
        past = transform_points(T_out, points[len(selected):])
        if frame.lidar_motion is not None and len(past):
            # Moved to the image's stamp: seen from where the camera is then, as the node does.
            both = np.concatenate([frame.points[chosen], past])
            past = past[visible_keep(both, cam)[len(chosen):]]
        extra = project_points(past, cam.K, cam.height, cam.width)
        return np.where((inputs > 0) | (extra <= 0), inputs, extra).astype(np.float32)


def replay(bag: str | Path, estimator: DepthEstimator, *, image_topic: str, camera_info_topic: str,
           lidar_topic: str | None, classical: DepthEstimator | None = None, fraction: float = 0.8,
           beam_keep_every: int | None = None, seed: int = 0, max_dt: float = 0.15, lidar_extrinsic=None,
           max_depth: float = 80.0, sweep: tuple[float, ...] = (), output_bag: Path | None = None,
           samples: int = 3, progress: bool = True, accumulate: int = 0, odom_frame: str = "odom",
           base_frame: str = "base_link", deskew: bool | str = False, moving_rule: bool = True,
           occlusion_rule: bool = True, photometric_rule: bool = True, image_alignment: bool = True,
           camera_matrix: str = "auto",
           to_image_time: bool | str = False
           ) -> ReplayResult:
    """``accumulate``: the model's input also holds the input points of that many previous sweeps,
    moved by the bag's odometry (``odom_frame`` -> ``base_frame`` on /tf); only the current scan's
    held-out points are scored. ``deskew`` (implied by ``accumulate``): clouds with per-point
    times are de-skewed by that odometry, input and held-out points alike; ``"auto"`` (the command
    line's default, as the node's ``lidar_deskew``): when the clouds have per-point times and the
    bag has the odometry, else not, saying why. ``to_image_time``: a cloud stamped apart from its
    image is moved to the image's stamp by that odometry, input and held-out points alike (the
    node's ``lidar_to_image_time``); ``"auto"`` (the command line's default): where the bag has the
    odometry and places the LiDAR on the base, else not, saying so when clouds were apart.
    ``moving_rule``, ``occlusion_rule`` and ``photometric_rule``: the accumulation's filters (all on
    unless ablated); ``image_alignment``: its correction of the odometry by the images (on unless
    turned off, as the node's ``lidar_align_images``).
    ``camera_matrix``: which of camera_info's matrices describes the image (P, K, or auto: P when
    set), as the node's parameter."""
    bag = Path(bag)
    topics = replay_topics(bag, image_topic, camera_info_topic, lidar_topic)
    lookup = tree = None
    if "/tf_static" in topics:
        tree = tree_from_tf_messages(m.msg for m in read_messages(bag, ["/tf_static"]))
        lookup = lambda target, source, stamp: tree.lookup(target, source)  # noqa: E731
    elif lidar_topic and lidar_extrinsic is None:
        raise BagError(f"{bag}: no /tf_static to find the LiDAR extrinsic; pass --lidar-extrinsic")
    odometry = accumulation = None
    timed = bool(lidar_topic) and _timed(bag, lidar_topic)
    mounted = bool(lidar_topic) and _mounted(bag, tree, base_frame, lidar_topic, camera_info_topic, lidar_extrinsic)
    if lidar_topic and (accumulate or deskew is True or to_image_time is True):
        option = "--accumulate" if accumulate else "--deskew" if deskew is True else "--lidar-to-image-time"
        if to_image_time is True and not mounted:
            raise BagError(f"{bag}: --lidar-to-image-time needs /tf_static to place the LiDAR on '{base_frame}'"
                           + (" (through the camera, with --lidar-extrinsic)" if lidar_extrinsic else ""))
        odometry = _bag_odometry(bag, topics, odom_frame, base_frame, option)
    elif lidar_topic and ((deskew == "auto" and timed) or to_image_time == "auto"):
        try:
            if not mounted:
                raise BagError(f"/tf_static does not place the LiDAR on '{base_frame}'"
                               + (" (through the camera, with --lidar-extrinsic)" if lidar_extrinsic else ""))
            odometry = _bag_odometry(bag, topics, odom_frame, base_frame, "de-skewing")
            if deskew == "auto" and timed:
                log.info("the clouds carry per-point times: de-skewed by the bag's odometry, as the node does "
                         "(--no-deskew: as recorded)")
        except BagError as exc:
            if deskew == "auto" and timed:
                log.warning("the clouds carry per-point times but are not de-skewed: %s", exc)
            else:
                log.debug("clouds stay at their own stamps: %s", exc)
    if accumulate and lidar_topic:
        accumulation = _Accumulation(odometry, accumulate, base_frame, tree, lidar_extrinsic,
                                     int(max(max_dt, 0.1) * 1e9), moving_rule, occlusion_rule, photometric_rule,
                                     image_alignment)
    types = rosbags_types()
    pipeline = FramePipeline(estimator, PipelineConfig(use_lidar=lidar_topic is not None, lidar_max_age=max_dt,
                                                       lidar_extrinsic=lidar_extrinsic,
                                                       lidar_deskew=odometry is not None and deskew is not False,
                                                       lidar_to_image_time=odometry is not None
                                                       and to_image_time is not False, odom_frame=odom_frame,
                                                       base_frame=base_frame, camera_matrix=camera_matrix),
                             types, lookup, odometry)
    cloud_stamps = sorted(stamp_to_ns(m.msg.header.stamp) for m in read_messages(bag, [lidar_topic])) \
        if lidar_topic else []
    n_images = topics[image_topic].count
    picks = set(np.linspace(0, n_images - 1, min(samples, n_images)).round().astype(int).tolist())
    # Said only where it happened: timed clouds, the odometry, and the LiDAR placed on the base.
    result = ReplayResult(deskewed=odometry is not None and deskew is not False and mounted and timed)
    writer = BagWriter(output_bag) if output_bag else None
    infos = CameraInfoBuffer(camera_matrix=camera_matrix)
    clouds: dict[int, object] = {}
    pending: deque = deque()
    bar = tqdm(total=n_images, desc="replaying", unit="image", disable=None if progress else True)
    outputs = tuple(OUTPUT_TOPICS) if writer else ()
    tolerance = int(max_dt * 1e9)

    def needed_cloud(stamp: int) -> int | None:
        i = nearest_stamp(cloud_stamps, stamp, tolerance, ordered=True)
        return None if i is None else cloud_stamps[i]

    def evaluate(index: int, image, stamp: int, bag_ns: int, cloud_stamp: int | None) -> None:
        bar.update()
        match = infos.match(stamp, image)
        cloud = clouds.get(cloud_stamp) if cloud_stamp is not None else None
        if lidar_topic and cloud is None:
            result.skipped["no_lidar"] += 1
            return
        try:
            frame = pipeline.prepare(image, match.msg if match else None, cloud, fallback_stamp_ns=bag_ns)
            truth = inputs = held = None
            split_s = 0.0
            if lidar_topic:
                # A cloud with no point in front of the camera is scored too (with no point to
                # score): the frame is evaluated, in prediction mode.
                if frame.lidar_status not in (LidarStatus.USED, LidarStatus.NO_POINTS_IN_VIEW):
                    result.skipped[frame.lidar_reason] += 1
                    return
                t = time.perf_counter()
                truth, rings, winners = _lidar_truth(frame)
                rng = np.random.default_rng([seed, index])
                inputs, held = _split(truth, rings, fraction, beam_keep_every, rng)
                if accumulation is not None:
                    inputs = accumulation.inputs(frame, cloud, winners, inputs)
                split_s = time.perf_counter() - t
            done = pipeline.run(frame, sparse_depth=inputs, outputs=outputs)
            done.timings["lidar"] += split_s   # the LiDAR stage: into the camera, projected, split
        except ConversionError as exc:
            result.skipped[exc.reason] += 1
            return
        result.fallbacks.update(["stamp"] * frame.stamp_fallback + ["camera_info"] * bool(match and match.fallback))
        if frame.lidar_age is not None and abs(frame.lidar_age) > SAME_TIME_S:
            result.lidar_apart.append(frame.lidar_age)
            result.moved_to_image += frame.lidar_motion is not None
            result.not_moved.update([frame.lidar_unmoved] if frame.lidar_unmoved else [])
        for name, seconds in done.timings.items():
            result.timings.setdefault(name, []).append(seconds)
        result.modes[done.mode] += 1
        if writer:
            for name, msg in done.messages.items():
                writer.write(OUTPUT_TOPICS[name], msg, frame.stamp_ns)
        if not lidar_topic:
            return
        # The other rows: the same prepared frame, without LiDAR, with the classical completion,
        # and with less of the input (the sweep).
        alone = pipeline.run(dataclasses.replace(frame, points=None), outputs=())
        prediction = alone.depth
        rows = {"prediction": (prediction, truth, alone.confidence), "completion": (done.depth, held, done.confidence)}
        if classical is not None:
            rows["classical"] = (classical.predict(frame.rgb, frame.camera.K, inputs).depth, held, None)
        for row, (pred, gt, confidence) in rows.items():
            result.per_frame[row].append(compute_depth_metrics(pred, gt, max_depth=max_depth))
            _range_errors(result, row, pred, gt)
            if confidence is not None:
                result.sparsification.setdefault(row, Sparsification(max_depth=max_depth)).add(pred, gt, confidence)
        for f in sweep:
            sub = inputs if f >= fraction else np.where(rng.uniform(size=inputs.shape) < f / fraction, inputs, 0)
            depth = pipeline.run(frame, sparse_depth=sub.astype(np.float32), outputs=()).depth if f > 0 else \
                prediction
            result.sweep.setdefault(f, []).append(compute_depth_metrics(depth, held, max_depth=max_depth))
        if index in picks:
            result.samples.append({"index": index, "rgb": frame.rgb, "truth": truth, "held": held,
                                   "prediction": prediction, "completion": done.depth})

    stream = [image_topic, camera_info_topic] + ([lidar_topic] if lidar_topic else [])
    index, latest = 0, 0
    patience = int(max(0.5, 2 * max_dt) * 1e9)

    def ready(stamp: int, cloud_stamp: int | None) -> bool:
        """Its cloud and its camera_info have been read, or the bag has moved on without them."""
        have_cloud = cloud_stamp is None or cloud_stamp in clouds
        return (have_cloud and infos.has(stamp)) or latest > stamp + patience

    try:
        if writer:
            writer.__enter__()
        for m in read_messages(bag, stream):
            # An image stamped zero goes by its bag time (as the pipeline then stamps it).
            stamp = image_stamp(m.msg, m.stamp_ns)[0] if m.topic == image_topic else stamp_to_ns(m.msg.header.stamp)
            latest = max(latest, stamp)
            if m.topic == camera_info_topic:
                infos.add(m.msg)
            elif m.topic == lidar_topic:
                clouds[stamp] = m.msg
            else:
                pending.append((index, m.msg, stamp, m.stamp_ns, needed_cloud(stamp)))
                index += 1
            while pending and ready(pending[0][2], pending[0][4]):
                evaluate(*pending.popleft())
                for old in [s for s in clouds if s < latest - 2 * patience]:
                    del clouds[old]
        while pending:
            evaluate(*pending.popleft())
    finally:
        bar.close()
        if writer:
            writer.__exit__(None, None, None)
    result.images = index
    if result.lidar_apart and result.moved_to_image < len(result.lidar_apart):
        log.warning("%d of %d clouds were stamped apart from their images (median %.1f ms) and %s: at speed the "
                    "points land off their surfaces%s", len(result.lidar_apart) - result.moved_to_image,
                    len(result.lidar_apart), 1e3 * float(np.median(np.abs(result.lidar_apart))),
                    "were not moved to the image's stamp" if to_image_time is not False else
                    "stayed at their own (--no-lidar-to-image-time)",
                    "" if to_image_time is False else
                    f": the bag has no usable odometry ({odom_frame} -> {base_frame} on /tf, with /tf_static "
                    "placing the LiDAR on the base)" if odometry is None else
                    " (" + ", ".join(f"{n} {why}" for why, n in result.not_moved.items()) + ")")
    if accumulation is not None and accumulation.used:
        result.accumulation = {"previous": accumulate, "mean_past_sweeps_used": float(np.mean(accumulation.used)),
                               "image_alignment": accumulation.image_alignment, **accumulation.acc.counts}
    return result

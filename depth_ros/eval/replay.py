"""Replay a bag through the node's frame pipeline and score it against the bag's own LiDAR.

For every camera image: the LiDAR scan nearest in time (within ``max_dt``) is projected into the
image; a fraction of its points (or every k-th beam) is the completion input, the rest is held
out. Completion (and the classical baseline) are scored on the held-out points, prediction on
all points, exactly as ``depth-ros-eval`` documents. Every image is accounted for: evaluated, or
skipped with a reason.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_core.inference import DepthEstimator
from depth_core.metrics import DEPTH_METRIC_KEYS, compute_depth_metrics

from ..bag import BagError, BagWriter, bag_topics, read_messages
from ..conversions import ConversionError, rosbags_types, stamp_to_ns, tree_from_tf_messages
from ..pipeline import FramePipeline, PipelineConfig

__all__ = ["RANGE_BINS", "ReplayResult", "replay"]

RANGE_BINS = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)
OUTPUT_TOPICS = {"depth": "/depth/image", "camera_info": "/depth/camera_info", "confidence": "/depth/confidence",
                 "points": "/pseudo_lidar/points"}


@dataclass
class ReplayResult:
    images: int = 0
    skipped: Counter = field(default_factory=Counter)
    per_frame: dict = field(default_factory=lambda: {"prediction": [], "completion": [], "classical": []})
    sweep: dict = field(default_factory=dict)                 # fraction -> per-frame metrics
    range_errors: dict = field(default_factory=dict)          # row -> [bins, 2]: abs-rel sum, count
    timings: dict = field(default_factory=dict)               # stage -> list of seconds
    samples: list = field(default_factory=list)               # a few frames for pictures
    modes: Counter = field(default_factory=Counter)


def _split(sparse: np.ndarray, rings, fraction: float, beam_keep_every: int | None, rng) -> tuple:
    valid = sparse > 0
    if beam_keep_every:
        if rings is None:
            raise ConversionError("missing_field", "beam subsampling needs a 'ring' field in the cloud")
        chosen = valid & (rings >= 0) & (rings % beam_keep_every == 0)
    else:
        chosen = valid & (rng.uniform(size=sparse.shape) < fraction)
    return np.where(chosen, sparse, 0).astype(np.float32), np.where(valid & ~chosen, sparse, 0).astype(np.float32)


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


def check_topics(bag: str | Path, image_topic: str, camera_info_topic: str, lidar_topic: str | None) -> dict:
    """The bag's topics, or a BagError naming the argument whose topic the bag lacks."""
    topics = bag_topics(bag)
    for name, topic in (("--image-topic", image_topic), ("--camera-info-topic", camera_info_topic),
                        ("--lidar-topic", lidar_topic)):
        if topic and topic not in topics:
            raise BagError(f"{bag}: {name} {topic} is not in the bag (it has: {', '.join(sorted(topics))})")
    return topics


def replay(bag: str | Path, estimator: DepthEstimator, *, image_topic: str, camera_info_topic: str,
           lidar_topic: str | None, classical: DepthEstimator | None = None, fraction: float = 0.8,
           beam_keep_every: int | None = None, seed: int = 0, max_dt: float = 0.05, lidar_extrinsic=None,
           max_depth: float = 80.0, sweep: tuple[float, ...] = (), output_bag: Path | None = None,
           samples: int = 3, progress: bool = True) -> ReplayResult:
    bag = Path(bag)
    topics = check_topics(bag, image_topic, camera_info_topic, lidar_topic)
    lookup = None
    if "/tf_static" in topics:
        tree = tree_from_tf_messages(m.msg for m in read_messages(bag, ["/tf_static"]))
        lookup = lambda target, source, stamp: tree.lookup(target, source)  # noqa: E731
    elif lidar_topic and lidar_extrinsic is None:
        raise BagError(f"{bag}: no /tf_static to find the LiDAR extrinsic; pass --lidar-extrinsic")
    types = rosbags_types()
    pipeline = FramePipeline(estimator, PipelineConfig(use_lidar=lidar_topic is not None, lidar_max_age=max_dt,
                                                       lidar_extrinsic=lidar_extrinsic), types, lookup)
    cloud_stamps = sorted(stamp_to_ns(m.msg.header.stamp) for m in read_messages(bag, [lidar_topic])) \
        if lidar_topic else []
    n_images = topics[image_topic].count
    picks = set(np.linspace(0, n_images - 1, min(samples, n_images)).round().astype(int).tolist())
    result = ReplayResult()
    writer = BagWriter(output_bag) if output_bag else None
    infos: deque = deque(maxlen=50)
    clouds: dict[int, object] = {}
    pending: deque = deque()
    bar = tqdm(total=n_images, desc="replaying", unit="image", disable=None if progress else True)

    def needed_cloud(stamp: int) -> int | None:
        if not cloud_stamps:
            return None
        i = int(np.argmin(np.abs(np.asarray(cloud_stamps) - stamp)))
        return cloud_stamps[i] if abs(cloud_stamps[i] - stamp) <= max_dt * 1e9 else None

    def evaluate(index: int, image, cloud_stamp: int | None) -> None:
        bar.update()
        stamp = stamp_to_ns(image.header.stamp)
        info = next((i for i in reversed(infos) if stamp_to_ns(i.header.stamp) == stamp), infos[-1] if infos else None)
        cloud = clouds.get(cloud_stamp) if cloud_stamp is not None else None
        if lidar_topic and cloud is None and stamp != 0:  # (a zero stamp is reported as such below)
            result.skipped["no_lidar"] += 1
            return
        rng = np.random.default_rng([seed, index])
        split = {}

        def keep(sparse, rings):
            split["input"], split["held"] = _split(sparse, rings, fraction, beam_keep_every, rng)
            split["truth"] = sparse
            return split["input"]

        try:
            frame = pipeline.process(image, info, cloud, keep_points=keep, keep_arrays=True,
                                     outputs=tuple(OUTPUT_TOPICS) if writer else ())
        except ConversionError as exc:
            result.skipped[exc.reason] += 1
            return
        if lidar_topic and frame.lidar_status != "used" and "truth" not in split:
            result.skipped[frame.lidar_status] += 1
            return
        for name, seconds in frame.timings.items():
            result.timings.setdefault(name, []).append(seconds)
        result.modes[frame.mode] += 1
        if writer:
            for name, msg in frame.messages.items():
                writer.write(OUTPUT_TOPICS[name], msg, frame.stamp_ns)
        if not lidar_topic:
            return
        truth, held, inputs = split["truth"], split["held"], split["input"]
        K = frame.camera.K
        prediction = estimator.predict(frame.rgb, K, None).depth
        rows = {"prediction": (prediction, truth), "completion": (frame.depth, held)}
        if classical is not None:
            rows["classical"] = (classical.predict(frame.rgb, K, inputs).depth, held)
        for row, (pred, gt) in rows.items():
            result.per_frame[row].append(compute_depth_metrics(pred, gt, max_depth=max_depth))
            _range_errors(result, row, pred, gt)
        for f in sweep:
            sub = inputs if f >= fraction else np.where(rng.uniform(size=inputs.shape) < f / fraction, inputs, 0)
            depth = estimator.predict(frame.rgb, K, sub.astype(np.float32) if f > 0 else None).depth
            result.sweep.setdefault(f, []).append(compute_depth_metrics(depth, held, max_depth=max_depth))
        if index in picks:
            result.samples.append({"index": index, "rgb": frame.rgb, "truth": truth, "held": held,
                                   "prediction": prediction, "completion": frame.depth})

    stream = [image_topic, camera_info_topic] + ([lidar_topic] if lidar_topic else [])
    index, latest = 0, 0
    patience = int(max(0.5, 2 * max_dt) * 1e9)

    def ready(stamp: int, cloud_stamp: int | None) -> bool:
        """Its cloud and its camera_info have been read, or the bag has moved on without them."""
        have_cloud = cloud_stamp is None or cloud_stamp in clouds
        have_info = any(stamp_to_ns(i.header.stamp) == stamp for i in infos)
        return stamp == 0 or (have_cloud and have_info) or latest > stamp + patience

    try:
        if writer:
            writer.__enter__()
        for m in read_messages(bag, stream):
            stamp = stamp_to_ns(m.msg.header.stamp)
            latest = max(latest, stamp)
            if m.topic == camera_info_topic:
                infos.append(m.msg)
            elif m.topic == lidar_topic:
                clouds[stamp] = m.msg
            else:
                pending.append((index, m.msg, stamp, needed_cloud(stamp)))
                index += 1
            while pending and ready(pending[0][2], pending[0][3]):
                i, image, _, cloud_stamp = pending.popleft()
                evaluate(i, image, cloud_stamp)
                for old in [s for s in clouds if s < latest - 2 * patience]:
                    del clouds[old]
        while pending:
            i, image, _, cloud_stamp = pending.popleft()
            evaluate(i, image, cloud_stamp)
    finally:
        bar.close()
        if writer:
            writer.__exit__(None, None, None)
    result.images = index
    return result


def summarise(result: ReplayResult) -> dict:
    """The ``metrics.json`` fields: per-row means over frames (KITTI style) and point totals."""
    def mean(rows):
        rows = [r for r in rows if r["points"] > 0]
        if not rows:
            return None
        out = {k: float(np.mean([r[k] for r in rows])) for k in DEPTH_METRIC_KEYS}
        out["points"] = int(sum(r["points"] for r in rows))
        out["frames"] = len(rows)
        return out

    results = {row: mean(v) for row, v in result.per_frame.items() if v}
    evaluated = len(result.per_frame["prediction"]) if result.per_frame["prediction"] else sum(result.modes.values())
    return {
        "frames": evaluated,
        "frames_skipped": int(sum(result.skipped.values())),
        "skipped_reasons": dict(result.skipped),
        "images": result.images,
        "results": {k: v for k, v in results.items() if v is not None},
        "timing": {k: float(np.median(v) * 1e3) for k, v in result.timings.items()},
        "sweep": [{"fraction": f, **(mean(v) or {})} for f, v in sorted(result.sweep.items())],
        "range": {row: [{"from": RANGE_BINS[i], "to": RANGE_BINS[i + 1],
                         "abs_rel": float(a[i, 0] / a[i, 1]) if a[i, 1] else None, "points": int(a[i, 1])}
                        for i in range(len(RANGE_BINS) - 1)] for row, a in result.range_errors.items()},
        "modes": dict(result.modes),
    }

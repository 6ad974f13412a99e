"""Video samples for self-supervised training: each frame with context frames chosen by the
camera's baseline, not by index, and the relative poses from the recording's odometry.

A data set that knows its camera poses has ``camera_poses()``: per sample, ``(stamp_s, T_world_cam)``
(either may be None). :class:`VideoView` picks, for every posed frame, the nearest frame before and
after it in its sequence whose camera moved at least ``min_baseline`` metres (and at most
``max_gap_s`` seconds away), so that a slow robot still gives parallax and a fast one still gives
overlap. Frames without a pose, and frames around which the robot stood still, are skipped and
counted; an odometry jump (faster than ``max_speed``) is warned about, naming the frames, and no
context is taken across it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..geometry import invert_transform
from .io import DataFileError

__all__ = ["VideoConfig", "VideoView", "choose_contexts"]

log = logging.getLogger("depth_core.data")

ASSUMED_RATE_HZ = 10.0


@dataclass
class VideoConfig:
    min_baseline: float = 0.05       # metres the camera must have moved between a frame and its context
    max_gap_s: float = 1.0           # a context frame at most this long before / after its frame
    max_speed: float = 40.0          # m/s between consecutive poses: faster is an odometry jump
    min_frames: int = 8              # fewer usable frames than this is an error before training


def choose_contexts(positions: np.ndarray, stamps: np.ndarray, cfg: VideoConfig,
                    breaks: set[int] = frozenset()) -> list[tuple[int | None, int | None]]:
    """For frames with camera ``positions`` [N,3] at ``stamps`` [N] s (time order), the index of
    the nearest earlier and later frame at least ``cfg.min_baseline`` away and at most
    ``cfg.max_gap_s`` apart in time (None where there is none). ``breaks``: indices ``i`` where an
    odometry jump lies between frames ``i - 1`` and ``i``; no context is taken across one."""
    n = len(positions)
    out = []
    for i in range(n):
        found = []
        for step in (-1, 1):
            j, pick = i + step, None
            while 0 <= j < n and abs(stamps[j] - stamps[i]) <= cfg.max_gap_s:
                if (j + (1 if step < 0 else 0)) in breaks:   # the jump between j and its neighbour towards i
                    break
                if np.linalg.norm(positions[j] - positions[i]) >= cfg.min_baseline:
                    pick = j
                    break
                j += step
            found.append(pick)
        out.append((found[0], found[1]))
    return out


def odometry_jumps(positions: np.ndarray, stamps: np.ndarray, max_speed: float) -> list[int]:
    """Indices ``i`` where the camera moved faster than ``max_speed`` from frame ``i - 1``."""
    if len(positions) < 2:
        return []
    step = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    dt = np.diff(stamps)
    fast = step > max_speed * np.maximum(dt, 1e-3)
    return [int(i) + 1 for i in np.nonzero(fast)[0]]


class VideoView:
    """Samples of ``dataset`` that have context frames, each with ``context`` (a list of two RGB
    images, the earlier then the later context; one side repeated where only one exists) and
    ``T_ctx_cam`` (per context, the target camera's points in the context camera, 4x4).
    ``counts``: frames ``used``, ``no_pose`` and ``stationary`` (no context either side), and the
    ``jumps`` warned about."""

    def __init__(self, dataset, cfg: VideoConfig, *, name: str = "", min_frames: int | None = None) -> None:
        name = name or str(getattr(dataset, "root", "") or "data set")
        if not hasattr(dataset, "camera_poses"):
            raise DataFileError(f"{name}: this data set has no camera poses, so it cannot train from video "
                                "(frame sets written by depth-ros-dataset from a bag with /tf odometry, 7-Scenes)")
        self.dataset, self.cfg = dataset, cfg
        self.root = getattr(dataset, "root", None)
        self.ground_truth = getattr(dataset, "ground_truth", None)
        poses = dataset.camera_poses()
        names = dataset.sequence_names() if hasattr(dataset, "sequence_names") else [""] * len(dataset)
        groups: dict[str, list[int]] = {}
        for i, sequence in enumerate(names):
            groups.setdefault(sequence, []).append(i)
        self.items: list[tuple[int, int, int]] = []     # (frame, earlier context, later context)
        self.T_world_cam: dict[int, np.ndarray] = {}
        # stationary: no frame at least min_baseline away within max_gap_s (or beyond a jump) on either side
        self.counts = {"frames": len(poses), "used": 0, "no_pose": 0, "stationary": 0, "jumps": 0}
        for group in groups.values():
            posed = [i for i in group if poses[i][1] is not None]
            self.counts["no_pose"] += len(group) - len(posed)
            if not posed:
                continue
            T = [np.asarray(poses[i][1], dtype=np.float64) for i in posed]
            positions = np.array([t[:3, 3] for t in T])
            if all(poses[i][0] is not None for i in posed):
                stamps = np.array([poses[i][0] for i in posed], float)
            else:   # a frame without a stamp: the sequence's clock is its frame index at an assumed 10 Hz
                log.warning("%s: frames without a stamp: context frames are chosen as if it ran at %g Hz",
                            name, ASSUMED_RATE_HZ)
                stamps = np.array(posed, float) / ASSUMED_RATE_HZ
            jumps = odometry_jumps(positions, stamps, cfg.max_speed)
            if jumps:
                self.counts["jumps"] += len(jumps)
                shown = ", ".join(f"{poses[posed[j - 1]][2]} -> {poses[posed[j]][2]}" for j in jumps[:5])
                log.warning("%s: the odometry jumps (faster than %g m/s) between frames %s%s; no context frame is "
                            "taken across a jump", name, cfg.max_speed, shown,
                            f" and {len(jumps) - 5} more" if len(jumps) > 5 else "")
            for k, (before, after) in enumerate(choose_contexts(positions, stamps, cfg, set(jumps))):
                if before is None and after is None:
                    self.counts["stationary"] += 1
                    continue
                before = after if before is None else before
                after = before if after is None else after
                self.items.append((posed[k], posed[before], posed[after]))
                for j in (k, before, after):
                    self.T_world_cam[posed[j]] = T[j]
        self.counts["used"] = len(self.items)
        if self.counts["no_pose"] == len(poses):
            raise DataFileError(f"{name}: none of its {len(poses)} frames has a camera pose: record /tf odometry "
                                "(odom -> base frame) with the camera, and /tf_static from the base to the camera")
        if not self.items:
            raise DataFileError(f"{name}: the camera never moves {cfg.min_baseline:g} m within {cfg.max_gap_s:g} s "
                                f"in any of its {len(poses)} frames: a robot standing still gives no parallax to "
                                "learn depth from (record it driving, or lower video.min_baseline); frames kept too "
                                "far apart in time (depth-ros-dataset --every) need a larger video.max_gap_s")
        min_frames = cfg.min_frames if min_frames is None else min_frames
        if len(self.items) < min_frames:
            raise DataFileError(f"{name}: only {len(self.items)} frames with a moving camera (of {len(poses)}; "
                                f"{self.counts['stationary']} standing still, {self.counts['no_pose']} without a "
                                f"pose): self-supervised training needs at least {min_frames}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        frame, before, after = self.items[i]
        sample = dict(self.dataset[frame])
        sample["context"] = [self.dataset[j]["rgb"] for j in (before, after)]
        # A target camera point p maps into context j as T_cam_world(j) @ T_world_cam(target) @ p.
        sample["T_ctx_cam"] = [invert_transform(self.T_world_cam[j]) @ self.T_world_cam[frame] for j in (before, after)]
        for ctx in sample["context"]:
            if ctx.shape != sample["rgb"].shape:
                raise DataFileError(f"{sample.get('id', frame)}: its context frames are {ctx.shape[1]}x{ctx.shape[0]}, "
                                    f"the frame {sample['rgb'].shape[1]}x{sample['rgb'].shape[0]}")
        return sample

    def sequence_names(self) -> list[str]:
        names = self.dataset.sequence_names() if hasattr(self.dataset, "sequence_names") else [""] * len(self.dataset)
        return [names[frame] for frame, _, _ in self.items]

    def summary(self) -> str:
        c = self.counts
        return (f"{c['used']} of {c['frames']} frames have context frames at least {self.cfg.min_baseline:g} m away "
                f"within {self.cfg.max_gap_s:g} s (skipped: {c['stationary']} with none, standing still; "
                f"{c['no_pose']} without a pose; {c['jumps']} odometry jumps)")


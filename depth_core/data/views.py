"""Views over a data set without copying it: a range of frames of each sequence, the time split
that holds the last frames of each sequence out for validation, LiDAR-only ground truth, and
several sets read as one.

Time order is frame order within a sequence: every writer (``depth-core simulate``,
``depth-ros-dataset``) and the 7-Scenes and KITTI layouts number frames in recording order. A data
set tells which sequence each sample belongs to with ``sequence_names()``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

# Ground truths that are LiDAR points (one scan, or several accumulated): completion against them
# is scored at points held out of its input.
LIDAR_TRUTHS = ("lidar", "lidar_accumulated")

__all__ = ["HOLDOUT_GAP", "LIDAR_TRUTHS", "ConcatView", "FrameView", "frame_range", "sequence_groups", "time_split"]


def sequence_groups(dataset) -> dict[str, list[int]]:
    """Sample indices of each sequence, in time order. Data sets without sequences (NYU folders,
    plain image folders) are one sequence in index order."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(_names(dataset)):
        groups.setdefault(name, []).append(i)
    return groups


def _names(dataset) -> list[str]:
    return dataset.sequence_names() if hasattr(dataset, "sequence_names") else [""] * len(dataset)


def frame_range(dataset, start: int | None, stop: int | None) -> list[int]:
    """The indices of frames ``start:stop`` (Python slice semantics, negative from the end) of each
    sequence."""
    return [i for group in sequence_groups(dataset).values() for i in group[slice(start, stop)]]


HOLDOUT_GAP = 0.05   # share of a sequence left out between its training and held-out frames


def time_split(indices_by_sequence: dict[str, list[int]], holdout: float,
               gap: float = HOLDOUT_GAP) -> tuple[list[int], list[int]]:
    """(train, held-out): the last ``holdout`` share of each sequence's frames (at least one, and
    at least one left to train on) is held out; a one-frame sequence is trained on. Between the
    two, ``gap`` of the sequence (rounded up, while a training frame is left) is used by neither:
    the frames just before the held-out ones are nearly the same images, and training on them would
    flatter the held-out score. Disjoint by construction, and later in time than every training
    frame of its sequence."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout: expected a share between 0 and 1, got {holdout}")
    train, held = [], []
    for group in indices_by_sequence.values():
        if len(group) < 2:   # nothing to hold out of a single frame: it trains
            train += group
            continue
        n_held = min(max(1, round(len(group) * holdout)), len(group) - 1)
        n_gap = min(math.ceil(len(group) * gap), len(group) - n_held - 1)
        train += group[:len(group) - n_held - n_gap]
        held += group[-n_held:]
    return train, held


class FrameView:
    """Samples ``indices`` of ``dataset`` (all when None). ``lidar_truth``: the ground truth is the
    sample's sparse LiDAR depth itself, as on a robot with no depth camera. ``root`` and
    ``sequence_names`` pass through, so views can be viewed again."""

    def __init__(self, dataset, indices: Sequence[int] | None = None, *, lidar_truth: bool = False) -> None:
        self.dataset = dataset
        self.indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
        self.lidar_truth = lidar_truth
        self.root = getattr(dataset, "root", None)
        self.ground_truth = "lidar" if lidar_truth else getattr(dataset, "ground_truth", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        sample = self.dataset[self.indices[i]]
        if self.lidar_truth:
            sample = {**sample, "depth": np.asarray(sample["sparse_depth"], np.float32).copy()}
        return sample

    def sequence_names(self) -> list[str]:
        names = _names(self.dataset)
        return [names[i] for i in self.indices]

    def camera_poses(self) -> list:
        poses = self.dataset.camera_poses()   # AttributeError for a data set without poses, as for it
        return [poses[i] for i in self.indices]


class ConcatView:
    """Several data sets read as one (index ``i`` runs through them in order)."""

    def __init__(self, datasets: Sequence) -> None:
        self.datasets = list(datasets)
        self.ends = list(np.cumsum([len(d) for d in self.datasets]))
        self.root = getattr(self.datasets[0], "root", None) if self.datasets else None
        kinds = {getattr(d, "ground_truth", None) for d in self.datasets}
        if len(kinds) == 1:
            self.ground_truth = kinds.pop()
        elif kinds and kinds <= set(LIDAR_TRUTHS):
            # One scan here, accumulated scans there: LiDAR truth all the same, so the completion
            # is still scored at points it was not given.
            self.ground_truth = "lidar"
        else:
            self.ground_truth = None

    def __len__(self) -> int:
        return int(self.ends[-1]) if self.ends else 0

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        d = bisect.bisect_right(self.ends, i)
        return self.datasets[d][i - (int(self.ends[d - 1]) if d else 0)]

    def sequence_names(self) -> list[str]:
        return [f"{d}:{name}" for d, data in enumerate(self.datasets) for name in _names(data)]

    def camera_poses(self) -> list:
        return [pose for data in self.datasets for pose in data.camera_poses()]

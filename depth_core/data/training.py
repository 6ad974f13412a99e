"""The training view over one or more datasets: weighted mixing (sampling of data set ``i`` in
proportion to ``K / k_i``, Chen et al., ECCV 2020), augmentation, sparse-input policies, tensors, and corrupt
samples skipped and counted instead of stopping a long run."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .augment import AugmentConfig, SparseConfig, augment_sample, camera_scan, precise_scan, sample_sparse
from .io import DataFileError

__all__ = ["MixedSampler", "TrainingSet", "collate", "mixing_weights"]

log = logging.getLogger("depth_core.data")


def mixing_weights(sizes: Sequence[int], weights: Sequence[float | None] | None = None) -> np.ndarray:
    """Per-dataset sampling probabilities. Unset weights default to ``K / k_i`` (``K`` the total
    size, ``k_i`` the dataset's), so each dataset is drawn equally often whatever its size."""
    sizes = np.asarray(sizes, dtype=np.float64)
    total = sizes.sum()
    w = np.array([total / k if (weights is None or weights[i] is None) else float(weights[i])
                  for i, k in enumerate(sizes)])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"dataset weights must be >= 0 and not all 0, got {w.tolist()}")
    return w / w.sum()


class MixedSampler(Sampler):
    """An endless stream of ``(dataset, index, seed)`` triples: a dataset drawn by ``probs``, then
    a sample uniformly. ``rank`` / ``world_size`` give each data-parallel process its own stream."""

    def __init__(self, sizes: Sequence[int], probs: np.ndarray, seed: int = 0, rank: int = 0, world_size: int = 1,
                 start: int = 0, starts: Sequence[int] | None = None) -> None:
        self.sizes, self.probs = list(sizes), np.asarray(probs, dtype=np.float64)
        self.seed, self.rank, self.world_size, self.start = seed, rank, world_size, start
        # Incremental mixing: data set d is only drawn once this many samples have been drawn.
        self.starts = np.asarray(starts if starts is not None else [0] * len(self.sizes))
        if (self.starts > 0).all():
            raise ValueError("at least one data set must start at step 0")

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        n = self.start
        while True:
            rng = np.random.default_rng([self.seed, self.rank, n])
            p = np.where(self.starts <= n, self.probs, 0.0)
            d = int(rng.choice(len(self.sizes), p=p / p.sum()))
            yield d, int(rng.integers(self.sizes[d])), int(rng.integers(2**31))
            n += 1

    def __len__(self) -> int:  # endless; DataLoader only needs it for progress estimates
        return 2**31


class TrainingSet(Dataset):
    """``set[(d, i, seed)]`` -> a dict of tensors from sample ``i`` of dataset ``d``, augmented with
    ``seed``; None when the sample's files are corrupt (``collate`` drops and counts it)."""

    def __init__(self, datasets: Sequence, augment: AugmentConfig, sparse: SparseConfig, max_depth: float) -> None:
        self.datasets, self.augment, self.sparse, self.max_depth = list(datasets), augment, sparse, max_depth

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: tuple[int, int, int]) -> dict | None:
        d, i, seed = key
        try:
            sample = self.datasets[d][i]
        except DataFileError as exc:
            log.warning("skipping a corrupt sample: %s", exc)
            return None
        rng = np.random.default_rng(seed)
        sample = augment_sample(sample, self.augment, rng)
        sample = camera_scan(sample, self.sparse, rng)
        sample = precise_scan(sample, self.sparse, rng)
        sparse, mode = sample_sparse(sample, self.sparse, rng)
        depth = _finite_below(sample["depth"], self.max_depth)
        item = {
            "image": torch.from_numpy(sample["rgb"].transpose(2, 0, 1).astype(np.float32) / 255.0),
            "depth": torch.from_numpy(depth)[None],
            "sparse_depth": torch.from_numpy(sparse)[None],
            # The whole scan: its points not given as input are the held-out points the
            # completion is scored (and supervised) at.
            "lidar": torch.from_numpy(_finite_below(sample["sparse_depth"], self.max_depth))[None],
            "K": torch.from_numpy(sample["K"].astype(np.float32)),
            "sparse_mode": mode,
        }
        if sample.get("context") is not None:   # video: the frame as recorded, its context frames and poses
            item["image_clean"] = _image(sample["rgb_clean"])
            item["context"] = torch.stack([_image(c) for c in sample["context"]])
            item["T_ctx"] = torch.from_numpy(np.stack(sample["T_ctx_cam"]).astype(np.float32))
        return item


def _image(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)


def _finite_below(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Depth with everything not finite and below ``max_depth`` set to 0 (missing)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(depth) & (depth < max_depth), depth, 0).astype(np.float32)


def collate(items: list[dict | None]) -> dict:
    """Stack the good samples; ``skipped`` counts the corrupt ones."""
    good = [x for x in items if x is not None]
    batch = {"skipped": len(items) - len(good)}
    if not good:
        return batch
    for key in ("image", "depth", "sparse_depth", "lidar", "K"):
        batch[key] = torch.stack([x[key] for x in good])
    for key in ("image_clean", "context", "T_ctx"):
        if all(key in x for x in good):
            batch[key] = torch.stack([x[key] for x in good])
    batch["sparse_mode"] = [x["sparse_mode"] for x in good]
    return batch

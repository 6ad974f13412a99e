"""Data sets named in a training configuration."""

from __future__ import annotations

from ..data import FolderDataset, FrameDataset, KittiDepthDataset, NyuFolderDataset, NyuMatDataset
from ..data.io import DataFileError
from ..data.sevenscenes import SevenScenesDataset
from ..data.simulated import ensure_simulated_dataset
from .config import DatasetConfig

__all__ = ["DATASET_TYPES", "build_dataset"]

DATASET_TYPES = ("frames", "simulated", "kitti", "nyu_mat", "nyu_folder", "folder", "sevenscenes")
# The keys of a simulated data set's ``simulate:`` (see depth_core.data.simulated).
SIMULATE_KEYS = {"scenes", "frames", "seed", "sequence_length", "width", "height", "rigs", "appearance", "workers"}


def build_dataset(cfg: DatasetConfig, *, miniature: bool = False):
    """The data set ``cfg`` names. Simulated sets are generated first when missing; for a
    ``miniature`` run (``--max-steps``) only their first sequence of each world type."""
    if not cfg.root:
        raise DataFileError(f"data set of type '{cfg.type}': no root given")
    if cfg.type == "simulated":
        sim = dict(cfg.simulate)
        unknown = sorted(set(sim) - SIMULATE_KEYS)
        if unknown:
            raise DataFileError(f"{cfg.root}: simulate: unknown keys {unknown} "
                                f"(known: {', '.join(sorted(SIMULATE_KEYS))})")
        return ensure_simulated_dataset(cfg.root, sim.pop("scenes", ["street", "indoor", "yard"]),
                                        sim.pop("frames", 200), labels=cfg.labels,
                                        max_sequences=1 if miniature else None, **sim)
    if cfg.type == "frames":
        return FrameDataset(cfg.root, cfg.labels)
    if cfg.type == "kitti":
        if not cfg.depth_root:
            raise DataFileError(f"{cfg.root}: KITTI needs depth_root (the data_depth_annotated folder)")
        return KittiDepthDataset(cfg.root, cfg.depth_root, cfg.split)
    if cfg.type == "nyu_mat":
        return NyuMatDataset(cfg.root, cfg.split, cfg.splits)
    if cfg.type == "nyu_folder":
        return NyuFolderDataset(cfg.root)
    if cfg.type == "folder":
        return FolderDataset(cfg.root, cfg.depth_scale)
    if cfg.type == "sevenscenes":
        return SevenScenesDataset(cfg.root, cfg.sparse_pattern, depth_to_color=cfg.depth_to_color)
    raise DataFileError(f"data set type '{cfg.type}' is unknown (known: {', '.join(DATASET_TYPES)})")

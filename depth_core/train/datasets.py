"""Data sets named in a training configuration."""

from __future__ import annotations

from ..data import FolderDataset, FrameDataset, KittiDepthDataset, NyuFolderDataset, NyuMatDataset
from ..data.io import DataFileError
from ..data.simulated import ensure_simulated_dataset
from .config import DatasetConfig

__all__ = ["DATASET_TYPES", "build_dataset"]

DATASET_TYPES = ("frames", "simulated", "kitti", "nyu_mat", "nyu_folder", "folder")


def build_dataset(cfg: DatasetConfig):
    if not cfg.root:
        raise DataFileError(f"data set of type '{cfg.type}': no root given")
    if cfg.type == "simulated":
        sim = dict(cfg.simulate)
        ensure_simulated_dataset(cfg.root, sim.pop("scenes", ["street", "indoor", "yard"]), sim.pop("frames", 200),
                                 **sim)
        return FrameDataset(cfg.root, cfg.labels)
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
    raise DataFileError(f"data set type '{cfg.type}' is unknown (known: {', '.join(DATASET_TYPES)})")

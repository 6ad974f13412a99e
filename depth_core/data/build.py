"""Opening the data set a :class:`~depth_core.data.DatasetConfig` names (training, evaluation and the
benchmarks all build theirs here)."""

from __future__ import annotations

from .config import DatasetConfig
from .folder import FolderDataset
from .frames import FrameDataset
from .io import DataFileError
from .kitti import KittiDepthDataset
from .nyu import NyuFolderDataset, NyuMatDataset
from .sevenscenes import SevenScenesDataset
from .simulated import ensure_simulated_dataset
from .views import FrameView, frame_range

__all__ = ["DATASET_TYPES", "GROUND_TRUTHS", "build_dataset"]

GROUND_TRUTHS = ("depth", "lidar")
DATASET_TYPES = ("frames", "simulated", "kitti", "nyu_mat", "nyu_folder", "folder", "sevenscenes")
# The keys of a simulated data set's ``simulate:`` (see depth_core.data.simulated).
SIMULATE_KEYS = {"scenes", "frames", "seed", "sequence_length", "width", "height", "rigs", "appearance", "workers"}


def build_dataset(cfg: DatasetConfig, *, miniature: bool = False):
    """The data set ``cfg`` names, with its ``frames`` range and ``ground_truth`` applied. Simulated
    sets are generated first when missing; for a ``miniature`` run (``--max-steps``) only their
    first sequence of each world type."""
    if not cfg.root:
        raise DataFileError(f"data set of type '{cfg.type}': no root given")
    if cfg.ground_truth not in GROUND_TRUTHS:
        raise DataFileError(f"{cfg.root}: ground_truth: expected one of {', '.join(GROUND_TRUTHS)}, "
                            f"got '{cfg.ground_truth}'")
    if cfg.frames is not None and (len(cfg.frames) != 2 or not all(v is None or isinstance(v, int)
                                                                    for v in cfg.frames)):
        raise DataFileError(f"{cfg.root}: frames: expected [start, stop] (integers or null), got {cfg.frames}")
    dataset = _open(cfg, miniature)
    if cfg.frames is None and cfg.ground_truth == "depth":
        return dataset
    indices = None if cfg.frames is None else frame_range(dataset, *cfg.frames)
    if indices is not None and not indices:
        raise DataFileError(f"{cfg.root}: frames {cfg.frames} selects no frame (its sequences have "
                            f"{len(dataset)} frames in all)")
    return FrameView(dataset, indices, lidar_truth=cfg.ground_truth == "lidar")


def _open(cfg: DatasetConfig, miniature: bool):
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
        return KittiDepthDataset(cfg.root, cfg.depth_root, cfg.split, velodyne_root=cfg.velodyne_root)
    if cfg.type == "nyu_mat":
        return NyuMatDataset(cfg.root, cfg.split, cfg.splits)
    if cfg.type == "nyu_folder":
        return NyuFolderDataset(cfg.root)
    if cfg.type == "folder":
        return FolderDataset(cfg.root, cfg.depth_scale)
    if cfg.type == "sevenscenes":
        return SevenScenesDataset(cfg.root, cfg.sparse_pattern, depth_to_color=cfg.depth_to_color)
    raise DataFileError(f"data set type '{cfg.type}' is unknown (known: {', '.join(DATASET_TYPES)})")

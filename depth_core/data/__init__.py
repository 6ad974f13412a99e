"""Data sets on disk, their file formats, the configuration that names one and its builder,
augmentation and the training view."""

from __future__ import annotations

from .augment import AugmentConfig, SparseConfig, augment_sample, sample_sparse
from .build import DATASET_TYPES, GROUND_TRUTHS, build_dataset
from .config import DatasetConfig
from .folder import FolderDataset
from .frames import FrameDataset, FrameSetWriter, project_with_rings
from .io import DEPTH_PNG_MAX, DataFileError, read_depth_png, read_rgb, write_depth_png, write_rgb_png
from .kitti import KittiDepthDataset, parse_split_file, read_kitti_calibration
from .nyu import NYU_K, NyuFolderDataset, NyuMatDataset
from .sevenscenes import SevenScenesDataset
from .simulated import ensure_simulated_dataset, write_simulated_dataset
from .sparse_patterns import lidar_pattern_sparse, random_points_sparse

__all__ = [
    "DATASET_TYPES",
    "DEPTH_PNG_MAX",
    "GROUND_TRUTHS",
    "NYU_K",
    "AugmentConfig",
    "DataFileError",
    "DatasetConfig",
    "FolderDataset",
    "FrameDataset",
    "FrameSetWriter",
    "KittiDepthDataset",
    "NyuFolderDataset",
    "NyuMatDataset",
    "SevenScenesDataset",
    "SparseConfig",
    "augment_sample",
    "build_dataset",
    "ensure_simulated_dataset",
    "lidar_pattern_sparse",
    "parse_split_file",
    "project_with_rings",
    "random_points_sparse",
    "read_depth_png",
    "read_kitti_calibration",
    "read_rgb",
    "sample_sparse",
    "write_depth_png",
    "write_rgb_png",
    "write_simulated_dataset",
]

"""Every depth metric used in the papers behind the models (listed in :mod:`depth_core`), for numpy
arrays and torch tensors alike.

- :func:`compute_depth_metrics`: AbsRel, SqRel, RMSE, RMSE-log, log10, SILog, delta1..3, MAE,
  iRMSE, iMAE (1/km), with KITTI Garg / Eigen and NYU Eigen crops and optional median scaling;
  :func:`average_metrics`: their mean over images (the KITTI convention).
- :class:`Sparsification`: the AbsRel of the most confident shares of the scored points (for
  models with a confidence).
- :func:`kendall_tau`, :func:`whdr`: ordinal metrics (Jun et al., ECCV 2022).
- :func:`edge_f1`, :func:`ssim`, :func:`normal_error`: structure measures (DenseDepth, Alhashim & Wonka 2018).
"""

from __future__ import annotations

from .depth import (
    DEPTH_METRIC_KEYS,
    as_numpy,
    average_metrics,
    compute_depth_metrics,
    crop_mask,
    kitti_eigen_crop,
    kitti_garg_crop,
    nyu_eigen_crop,
)
from .ordinal import kendall_tau, whdr
from .sparsification import SPARSIFICATION_KEPT, Sparsification, sparsification_table
from .structure import depth_to_normals, edge_f1, normal_error, ssim

__all__ = [
    "DEPTH_METRIC_KEYS",
    "SPARSIFICATION_KEPT",
    "Sparsification",
    "as_numpy",
    "average_metrics",
    "compute_depth_metrics",
    "crop_mask",
    "depth_to_normals",
    "edge_f1",
    "kendall_tau",
    "kitti_eigen_crop",
    "kitti_garg_crop",
    "normal_error",
    "nyu_eigen_crop",
    "sparsification_table",
    "ssim",
    "whdr",
]

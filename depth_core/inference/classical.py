"""Non-learned depth completion from LiDAR alone, in the spirit of IP-Basic (Ku et al., "In
Defense of Classical Image Processing: Fast Depth Completion on the CPU", CRV 2018): whole-image
OpenCV operations, a few milliseconds on a CPU. It is the fallback when no network can run and
the baseline row of every evaluation.

One deliberate change from the paper: IP-Basic starts with a 5x5 diamond dilation and a closing
in inverted depth (``max_depth - d``), which makes the nearer surface win everywhere it is within
two pixels, measured background points included. At the point densities of our rigs that smears
foreground over measured background and loses to plain nearest-neighbour interpolation on
held-out LiDAR points (measured on simulated street, indoor and yard scenes, see
``docs/benchmarks.md``). So the empty pixels are filled with their nearest measured point
(a distance transform), and IP-Basic's smoothing follows as published: a 5x5 median, then a
bilateral filter (sigma 1.5 m in depth, 2 px in space) on inverted depth. This beats
nearest-neighbour on MAE, RMSE and AbsRel in all three scene families.

:class:`ClassicalBackend` is this completion as the ``classical`` backend.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ClassicalBackend", "ip_basic_complete", "nearest_fill"]


def nearest_fill(sparse: np.ndarray) -> np.ndarray:
    """Every pixel takes the depth of its nearest valid pixel (Euclidean, OpenCV's 5x5 mask).
    All NaN when there is no valid pixel."""
    sparse = np.asarray(sparse, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(sparse) & (sparse > 0)
    if not valid.any():
        return np.full(sparse.shape, np.nan, np.float32)
    _, labels = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    values = np.zeros(int(labels.max()) + 1, np.float32)
    values[labels[valid]] = sparse[valid]   # each valid pixel is its own label
    return values[labels]


def ip_basic_complete(sparse: np.ndarray, max_depth: float = 100.0) -> np.ndarray:
    """Dense depth [H,W] float32 metres from a sparse map [H,W] (0/NaN/<=0 = missing); all NaN
    when there is no point at all."""
    filled = nearest_fill(sparse)
    if np.isnan(filled).all():
        return filled
    inverted = max_depth - np.minimum(filled, max_depth - 0.1)
    inverted = cv2.medianBlur(inverted.astype(np.float32), 5)
    inverted = cv2.bilateralFilter(inverted, 5, 1.5, 2.0)
    return (max_depth - inverted).astype(np.float32)


class ClassicalBackend:
    """IP-Basic completion from the sparse input alone: the image is not used, so without points
    there is no depth."""

    name = "classical"
    detail = ""
    inputs = frozenset({"sparse_depth"})

    def __init__(self, max_depth: float = 100.0) -> None:
        self.max_depth = max_depth

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        return {"depth": ip_basic_complete(sparse[0, 0], self.max_depth)[None, None]}

    def close(self) -> None:
        """Nothing to free."""

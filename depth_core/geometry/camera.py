"""Pinhole camera intrinsics and how they change when an image is resized or cropped.

Pixel convention (OpenCV / ROS): integer pixel coordinates are pixel *centres*, so pixel ``u``
covers ``[u - 0.5, u + 0.5)``. Resizing by a factor ``s`` therefore maps a coordinate ``u`` to
``(u + 0.5) * s - 0.5``, which is what :meth:`CameraIntrinsics.resized` applies to the principal
point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CameraIntrinsics", "validate_intrinsic_matrix"]


def validate_intrinsic_matrix(K, name: str = "K") -> np.ndarray:
    """Check that ``K`` is a usable 3x3 pinhole matrix and return it as float64.

    Raises ``ValueError`` naming ``name`` when the shape is wrong, an entry is not finite, the
    focal lengths are not positive, or the last row is not ``[0, 0, 1]``.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"{name}: expected a 3x3 intrinsic matrix, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name}: intrinsic matrix has non-finite entries: {K.tolist()}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(
            f"{name}: focal lengths must be positive, got fx={K[0, 0]:g} fy={K[1, 1]:g}"
        )
    # np.allclose's test (|a - b| <= 1e-8 + 1e-5 |b|) on three Python floats: np.allclose itself
    # took 40 us, and every frame checks a matrix about five times.
    k20, k21, k22 = K[2].tolist()
    if not (abs(k20) <= 1e-8 and abs(k21) <= 1e-8 and abs(k22 - 1.0) <= 1e-8 + 1e-5) or K[1, 0] != 0.0:
        raise ValueError(f"{name}: expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}")
    return K


@dataclass(frozen=True)
class CameraIntrinsics:
    """A pinhole camera: focal lengths and principal point in pixels, image size in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        validate_intrinsic_matrix(self.K)

    @classmethod
    def from_matrix(cls, K, width: int, height: int) -> CameraIntrinsics:
        K = validate_intrinsic_matrix(K)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]),
                   int(width), int(height))

    @property
    def K(self) -> np.ndarray:
        """The 3x3 intrinsic matrix (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resized(self, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the same camera after resizing the whole image to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return CameraIntrinsics(
            self.fx * sx, self.fy * sy,
            (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
            int(width), int(height),
        )

    def cropped(self, x0: int, y0: int, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics after cropping the window with top-left pixel ``(x0, y0)`` and given size."""
        if x0 < 0 or y0 < 0 or x0 + width > self.width or y0 + height > self.height:
            raise ValueError(
                f"crop ({x0}, {y0}, {width}x{height}) exceeds the {self.width}x{self.height} image"
            )
        return CameraIntrinsics(self.fx, self.fy, self.cx - x0, self.cy - y0, int(width), int(height))

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
                "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> CameraIntrinsics:
        return cls(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]),
                   int(d["width"]), int(d["height"]))

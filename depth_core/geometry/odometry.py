"""A robot's pose over time, from its odometry (``/tf``: odom -> base frame), queried at any stamp:
interpolated between the two samples around it (linear in translation, spherical in rotation,
SciPy's ``Slerp``), never extrapolated beyond ``tolerance`` of the nearest sample."""

from __future__ import annotations

import bisect

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

__all__ = ["PoseHistory"]


class PoseHistory:
    """``add(stamp_ns, T_odom_base)`` in any order; ``at(stamp_ns, tolerance_ns)`` the pose at that
    time: interpolated when samples lie on both sides within ``max_gap_ns`` of each other, else
    the nearest sample when it is within ``tolerance_ns``, else None."""

    def __init__(self, max_gap_ns: int = 500_000_000) -> None:
        self.max_gap_ns = int(max_gap_ns)
        self._stamps: list[int] = []
        self._poses: list[np.ndarray] = []

    def add(self, stamp_ns: int, T: np.ndarray) -> None:
        i = bisect.bisect_right(self._stamps, int(stamp_ns))
        self._stamps.insert(i, int(stamp_ns))
        self._poses.insert(i, np.asarray(T, dtype=np.float64))

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def stamps(self) -> list[int]:
        return self._stamps

    def at(self, stamp_ns: int, tolerance_ns: int) -> np.ndarray | None:
        if not self._stamps:
            return None
        i = bisect.bisect_left(self._stamps, stamp_ns)
        if i < len(self._stamps) and self._stamps[i] == stamp_ns:
            return self._poses[i].copy()
        if 0 < i < len(self._stamps) and self._stamps[i] - self._stamps[i - 1] <= self.max_gap_ns:
            t0, t1 = self._stamps[i - 1], self._stamps[i]
            a, b = self._poses[i - 1], self._poses[i]
            f = (stamp_ns - t0) / (t1 - t0)
            out = np.eye(4)
            out[:3, :3] = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([a[:3, :3], b[:3, :3]])))(f).as_matrix()
            out[:3, 3] = (1 - f) * a[:3, 3] + f * b[:3, 3]
            return out
        near = min((j for j in (i - 1, i) if 0 <= j < len(self._stamps)), key=lambda j: abs(self._stamps[j] - stamp_ns))
        return self._poses[near].copy() if abs(self._stamps[near] - stamp_ns) <= tolerance_ns else None

"""A robot's pose over time, from its odometry (``/tf``: odom -> base frame), queried at any stamp:
interpolated between the two samples around it (linear in translation, spherical in rotation,
SciPy's ``Slerp``), never extrapolated beyond ``tolerance`` of the nearest sample; ``exactly_at``
also carries the last velocity a little past the newest sample, for odometry that lags."""

from __future__ import annotations

import bisect
import threading

import numpy as np
from scipy.linalg import expm, logm
from scipy.spatial.transform import Rotation, Slerp

__all__ = ["PoseHistory"]


class PoseHistory:
    """``add(stamp_ns, T_odom_base)`` in any order; ``at(stamp_ns, tolerance_ns)`` the pose at that
    time: interpolated when samples lie on both sides within ``max_gap_ns`` of each other, else
    the nearest sample when it is within ``tolerance_ns``, else None.

    ``span_ns`` bounds what a long-running node keeps: samples older than the newest by more than
    that are let go, and a sample that much older than the newest (a looping bag, an odometry
    restart) starts the history again. None (bag tools, which read a recording once) keeps all.
    ``add`` and ``at`` may be called from different threads."""

    def __init__(self, max_gap_ns: int = 500_000_000, span_ns: int | None = None) -> None:
        self.max_gap_ns = int(max_gap_ns)
        self.span_ns = None if span_ns is None else int(span_ns)
        self._stamps: list[int] = []
        self._poses: list[np.ndarray] = []
        self._lock = threading.Lock()

    def add(self, stamp_ns: int, T: np.ndarray) -> None:
        """A sample; one with a stamp already held replaces it (a looping bag repeats its stamps).
        A bounded history ignores a zero stamp (a driver without a clock)."""
        stamp_ns = int(stamp_ns)
        if self.span_ns is not None and stamp_ns <= 0:
            return
        with self._lock:
            if self.span_ns is not None and self._stamps and stamp_ns < self._stamps[-1] - self.span_ns:
                self._stamps, self._poses = [], []      # time went back beyond the span: start again
            i = bisect.bisect_right(self._stamps, stamp_ns)
            if i and self._stamps[i - 1] == stamp_ns:
                self._poses[i - 1] = np.asarray(T, dtype=np.float64)
                return
            self._stamps.insert(i, stamp_ns)
            self._poses.insert(i, np.asarray(T, dtype=np.float64))
            if self.span_ns is not None:
                old = bisect.bisect_left(self._stamps, self._stamps[-1] - self.span_ns)
                if old:
                    del self._stamps[:old], self._poses[:old]

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def stamps(self) -> list[int]:
        with self._lock:
            return list(self._stamps)

    def at(self, stamp_ns: int, tolerance_ns: int) -> np.ndarray | None:
        with self._lock:
            return self._at(stamp_ns, tolerance_ns)

    def _at(self, stamp_ns: int, tolerance_ns: int) -> np.ndarray | None:
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

    def exactly_at(self, stamp_ns: int, ahead_ns: int = 0, tolerance_ns: int = 2_000_000,
                   min_step_ns: int = 10_000_000) -> np.ndarray | None:
        """The pose at ``stamp_ns`` where the odometry tells it: interpolated between samples around
        it, a sample within ``tolerance_ns``, or (up to ``ahead_ns`` past the newest sample)
        carried on at the last velocity, as odometry that lags its sensors needs: the twist of the
        last step of at least ``min_step_ns`` (a robot driving on an arc stays on it). None
        otherwise: never the nearest pose of another time."""
        stamp_ns = int(stamp_ns)
        with self._lock:
            if not self._stamps:
                return None
            newest = self._stamps[-1]
            if stamp_ns > newest and ahead_ns > 0:
                if stamp_ns - newest > ahead_ns:
                    return None
                k = bisect.bisect_right(self._stamps, newest - min_step_ns) - 1
                if k < 0 or newest - self._stamps[k] > self.max_gap_ns:
                    return self._poses[-1].copy() if stamp_ns - newest <= tolerance_ns else None
                a, b = self._poses[k], self._poses[-1]
                f = (stamp_ns - newest) / (newest - self._stamps[k])
                return b @ np.real(expm(f * logm(np.linalg.inv(a) @ b)))
            i = bisect.bisect_left(self._stamps, stamp_ns)
            bracketed = 0 < i < len(self._stamps) and self._stamps[i] - self._stamps[i - 1] <= self.max_gap_ns
            near = any(0 <= j < len(self._stamps) and abs(self._stamps[j] - stamp_ns) <= tolerance_ns
                       for j in (i - 1, i))
            return self._at(stamp_ns, tolerance_ns) if bracketed or near else None

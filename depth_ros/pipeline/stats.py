"""Running statistics for diagnostics: rate, latency percentiles, counters by reason (frames
skipped, and frames saved by a metadata fallback)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np

__all__ = ["FrameStats"]


class FrameStats:
    """Thread-safe counters and a window of recent latencies (seconds) and stage timings."""

    def __init__(self, window: int = 200) -> None:
        self._lock = threading.Lock()
        self.latencies: deque[float] = deque(maxlen=window)
        self.stamps: deque[float] = deque(maxlen=window)
        self.stages: dict[str, deque] = {}
        self.skipped: Counter = Counter()
        self.fallbacks: Counter = Counter()
        self.lidar_statuses: Counter = Counter()
        self.processed = 0
        self.dropped = 0

    def frame_done(self, latency: float, timings: dict[str, float]) -> None:
        with self._lock:
            self.processed += 1
            self.latencies.append(latency)
            self.stamps.append(time.monotonic())
            for name, value in timings.items():
                self.stages.setdefault(name, deque(maxlen=self.latencies.maxlen)).append(value)

    def skip(self, reason: str) -> None:
        with self._lock:
            self.skipped[reason] += 1

    def fallback(self, kind: str) -> None:
        with self._lock:
            self.fallbacks[kind] += 1

    def lidar(self, status: str) -> None:
        """A processed frame's LiDAR status (used, held, none, stale...)."""
        with self._lock:
            self.lidar_statuses[status] += 1

    def drop(self) -> None:
        with self._lock:
            self.dropped += 1

    def summary(self) -> dict:
        with self._lock:
            lat = np.array(self.latencies) if self.latencies else np.array([np.nan])
            now = time.monotonic()
            recent = [t for t in self.stamps if now - t < 5.0]
            rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
            return {
                "processed": self.processed, "dropped": self.dropped, "skipped": dict(self.skipped),
                "fallbacks": dict(self.fallbacks), "lidar": dict(self.lidar_statuses),
                "rate_hz": rate, "latency_p50_ms": float(np.percentile(lat, 50) * 1e3),
                "latency_p95_ms": float(np.percentile(lat, 95) * 1e3),
                "stages_ms": {k: float(np.median(v) * 1e3) for k, v in self.stages.items() if v},
            }

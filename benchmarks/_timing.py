"""Timing helper shared by the benchmarks (run as scripts: ``benchmarks/`` is on sys.path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def interleaved_median_ms(fns: dict, runs: int, warmup: int = 1) -> dict:
    """Median wall time in milliseconds of each ``fns[key]()``, timed in turn: every round calls
    each function once, so a machine whose speed drifts during the run (a shared VM) slows all of
    them alike and their ratios hold. Each is warmed up ``warmup`` times first."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {key: [] for key in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {key: statistics.median(t) * 1e3 for key, t in times.items()}

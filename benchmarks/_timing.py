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


def interleaved_median_ms(fns: dict, runs: int, warmup: int = 1, block: int = 5) -> dict:
    """Median wall time in milliseconds of each ``fns[key]()`` over ``runs`` calls, timed in turn:
    every round gives each function one untimed call (its caches warm again after the others ran)
    and then ``block`` timed ones. A machine whose speed drifts during the run (a shared VM) then
    slows all of them alike, and their ratios hold. Each is warmed up ``warmup`` times first."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {key: [] for key in fns}
    for _ in range(-(-runs // block)):
        for key, fn in fns.items():
            fn()
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
    return {key: statistics.median(t[:runs]) * 1e3 for key, t in times.items()}

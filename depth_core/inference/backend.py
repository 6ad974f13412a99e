"""What a backend is. A backend runs a prepared batch: ``run(image [1,3,h,w] float32 in [0,1],
sparse [1,1,h,w] float32 metres) -> {'depth': [1,1,h,w], 'confidence'?: [1,1,h,w]}`` as numpy.
Pre- and post-processing stay in the estimator, identical for all of them."""

from __future__ import annotations

from collections.abc import Set
from typing import Protocol

import numpy as np

__all__ = ["Backend", "BackendError"]


class BackendError(RuntimeError):
    """A backend cannot run here or cannot run this model."""


class Backend(Protocol):
    """``name``: what the estimator's description calls it; ``detail``: more of it there
    (providers, precision and GPU), or ""; ``inputs``: the inputs it consumes, of "image" and
    "sparse_depth" (one without "image" cannot predict without points); ``close``: free what it
    holds (it may not run after)."""

    name: str
    detail: str
    inputs: Set[str]

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...

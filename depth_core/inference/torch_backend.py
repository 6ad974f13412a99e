"""The ``torch`` backend: a network object, eager."""

from __future__ import annotations

import numpy as np
import torch

from ..models import DepthModel

__all__ = ["TorchBackend"]


class TorchBackend:
    name = "torch"
    detail = ""

    def __init__(self, model: DepthModel, device: str | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.inputs = model.input_names

    def run(self, image: np.ndarray, sparse: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            x = torch.from_numpy(image).to(self.device)
            # Without any point the sparse branch cannot change the output (SAN's gate is 0), so
            # skip it: same result, about half the work.
            use_sparse = self.model.uses_sparse_depth and bool(np.any(sparse > 0))
            s = torch.from_numpy(sparse).to(self.device) if use_sparse else None
            out = self.model(x, s)
        return {k: out[k].float().cpu().numpy() for k in ("depth", "confidence") if k in out}

    def close(self) -> None:
        """Nothing of its own to free: the network is the caller's."""

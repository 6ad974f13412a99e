"""A dense depth prior from sparse depth, inside the network graph: push-pull interpolation
(Gortler et al., "The Lumigraph", SIGGRAPH 1996), written with average pooling and upsampling only
so that it exports to ONNX and TensorRT and costs well under a millisecond.

Push: the sparse map and its weights are summed over 2x2 blocks level by level (weights capped at
1, the value rescaled with them), down to 1/32, and finally over the whole image. Pull: from the
coarsest level back up, each level keeps its own value where its weight is 1 and takes the
coarser level's for the rest: ``p += (1 - w) * decay * up(p_coarse)``, same for ``w``. So:

- a measured pixel keeps its measurement exactly (weight 1): on a dense input the prior *is*
  the input;
- a hole is filled from the finest level that saw a point near it, and its confidence is
  ``decay`` per level it had to climb (1/2 per level by default): near points, high confidence;
  far from any point, low;
- with no point at all, every weight stays 0: confidence 0 everywhere, and the model that uses
  the prior falls back exactly to its image-only output.

The classical backend's IP-Basic-style completion (nearest fill, median, bilateral) needs
OpenCV operations with no ONNX form; this is its in-graph counterpart. The network learns where
to trust it (see ``SANEfficientNet``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PushPullPrior"]


class PushPullPrior(nn.Module):
    """``(values [B,1,H,W], mask [B,1,H,W]) -> (dense values, confidence in [0, 1])``.

    ``values`` are zero where ``mask`` is 0. H and W must be multiples of ``2**levels``."""

    def __init__(self, levels: int = 5, decay: float = 0.5) -> None:
        super().__init__()
        if levels < 1 or not 0 < decay <= 1:
            raise ValueError(f"push-pull: need levels >= 1 and 0 < decay <= 1, got {levels}, {decay}")
        self.levels, self.decay = levels, decay

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p, w = values * mask, mask
        pyramid = [(p, w)]
        for _ in range(self.levels):
            p, w = F.avg_pool2d(p, 2) * 4, F.avg_pool2d(w, 2) * 4
            p, w = _cap(p, w)
            pyramid.append((p, w))
        # The last level: the weighted mean of the whole image (weight 1 when any point exists).
        p, w = _cap(p.sum(dim=(2, 3), keepdim=True), w.sum(dim=(2, 3), keepdim=True))
        up_p, up_w = p, w   # [B,1,1,1]: broadcast over the coarsest level
        for i, (fine_p, fine_w) in enumerate(reversed(pyramid)):
            if i:
                up_p, up_w = _up(p), _up(w)
            gap = (1 - fine_w) * self.decay
            p, w = fine_p + gap * up_p, fine_w + gap * up_w
        dense = p / torch.clamp(w, min=1e-12)
        return dense * (w > 0).to(dense.dtype), w


def _cap(p: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights above 1 become 1, the (premultiplied) value scaled with them."""
    capped = torch.clamp(w, max=1.0)
    return p * (capped / torch.clamp(w, min=1e-12)), capped


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)

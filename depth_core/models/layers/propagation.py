"""Image-guided spatial propagation of depth, and a learned per-pixel confidence.

:class:`AffinityPropagation` follows the non-local/convolutional spatial propagation networks
(CSPN, Cheng et al., ECCV 2018; CSPN++, Cheng et al., AAAI 2020; NLSPN, Park et al., ECCV 2020):
a small head predicts, for every pixel, affinities to its eight neighbours at a few dilations;
the estimate is then updated a fixed number of times as ``x <- (1 - sum_k a_k) x + sum_k a_k x_k``
and, after every update, measured pixels are put back to their measurement (CSPN's
replacement). Affinities are the ``sigmoid`` of the head's output, divided by their sum where
that exceeds 1, so every update is a convex combination: a pixel averages with its neighbours
on the same surface and ignores those across an edge the image and the LiDAR show, and the
result always stays within the range of the estimate and the measurements. (NLSPN's affinities
may be negative, with their absolute sum normalised; that update can amplify, by up to 3x per
step in the worst case, which we measured on random heads: we keep the stable, convex form.)
Coarse dilations run first (reach), the finest last (sharp edges), as CSPN++ mixes kernel sizes.

Only padding, slicing, elementwise operations and convolutions: it exports to one ONNX graph.

:class:`ConfidenceHead` predicts the scale ``b`` of a Laplacian on the log-depth error (an
aleatoric head, Kendall & Gal, NeurIPS 2017), trained by its negative log-likelihood
``|e| / b + log b``. It is published as the probability, under that Laplacian, that the depth is
within ``tolerance`` (10 %) of the truth: ``1 - exp(-log(1 + tolerance) / b)``, a number in [0, 1]
that can be checked against held-out data (docs/models.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AffinityPropagation", "ConfidenceHead", "at_half_resolution", "laplace_confidence", "neighbours"]

#: The eight neighbour offsets (dy, dx) of a 3x3 window, in a fixed order.
OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def neighbours(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """``x`` [B,1,H,W] -> its eight neighbours at ``dilation`` [B,8,H,W], borders replicated."""
    d = dilation
    h, w = x.shape[-2:]
    padded = F.pad(x, [d, d, d, d], mode="replicate")
    return torch.cat([padded[..., d + dy * d: d + dy * d + h, d + dx * d: d + dx * d + w] for dy, dx in OFFSETS], 1)


class AffinityPropagation(nn.Module):
    """``(x0, guide, anchor, mask) -> x``: ``x0`` [B,1,H,W] the estimate to refine, ``guide``
    [B,C,H,W] the features the affinities come from, ``anchor`` the measured values where
    ``mask`` is 1 (kept exactly)."""

    def __init__(self, in_channels: int, hidden: int = 16, dilations: tuple[int, ...] = (4, 2, 1),
                 iterations: int = 3) -> None:
        super().__init__()
        if not dilations or min(dilations) < 1 or iterations < 1:
            raise ValueError(f"propagation: need dilations >= 1 and iterations >= 1, got {dilations}, {iterations}")
        self.dilations, self.iterations = tuple(int(d) for d in dilations), int(iterations)
        self.head = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, 8 * len(self.dilations), 3, 1, 1))
        # Near-zero affinities at the start (sigmoid(-6) = 0.0025 each): the propagation begins
        # close to the identity, so training starts from the estimate it refines.
        nn.init.zeros_(self.head[-1].weight)
        nn.init.constant_(self.head[-1].bias, -6.0)

    def affinities(self, guide: torch.Tensor) -> list[torch.Tensor]:
        """Per dilation, the normalised affinities [B,8,H,W]: each >= 0, their sum <= 1."""
        raw = torch.sigmoid(self.head(guide))
        out = []
        for i in range(len(self.dilations)):
            a = raw[:, 8 * i: 8 * (i + 1)]
            out.append(a / torch.clamp(a.sum(1, keepdim=True), min=1.0))
        return out

    def forward(self, x0: torch.Tensor, guide: torch.Tensor, anchor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.propagate(x0, self.affinities(guide), anchor, mask)

    def propagate(self, x: torch.Tensor, affinities: list[torch.Tensor], anchor: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
        keep = 1 - mask
        measured = anchor * mask
        x = measured + keep * x
        for d, a in zip(self.dilations, affinities):
            centre = 1 - a.sum(1, keepdim=True)
            for _ in range(self.iterations):
                x = centre * x + (a * neighbours(x, d)).sum(1, keepdim=True)
                x = measured + keep * x
        return x


def laplace_confidence(scale: torch.Tensor, tolerance: float = 0.1) -> torch.Tensor:
    """The probability that ``|log(pred / true)| < log(1 + tolerance)`` under a Laplacian of scale
    ``scale`` on the log error: in [0, 1], 1 where the scale is 0."""
    return 1 - torch.exp(-math.log1p(tolerance) / scale)


def at_half_resolution(net, x: torch.Tensor) -> torch.Tensor:
    """``net`` (a module or a function of a tensor) on ``x`` averaged over 2x2 pixels, its output
    resized back bilinearly: a small head at a quarter of the cost (H and W even)."""
    return F.interpolate(net(F.avg_pool2d(x, 2)), scale_factor=2.0, mode="bilinear", align_corners=False)


class ConfidenceHead(nn.Module):
    """Features [B,C,H,W] -> the Laplacian scale ``b`` [B,1,H,W] of the log-depth error, in
    ``[min_scale, inf)``."""

    def __init__(self, in_channels: int, hidden: int = 16, min_scale: float = 0.005, stride: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"confidence head: stride must be 1 or 2, got {stride}")
        # With stride 2 the head reads its input averaged over 2x2 pixels and its output is resized
        # back bilinearly: a quarter of the cost (its two 3x3 layers at full resolution took 2.5 ms
        # of the default's graph at 512x160 on ONNX Runtime).
        self.stride = stride
        self.min_scale = float(min_scale)
        self.net = nn.Sequential(nn.Conv2d(in_channels, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, 1, 3, 1, 1))
        # Start near b = 0.2 (a prediction-like error) everywhere.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.constant_(self.net[-1].bias, math.log(math.expm1(0.2)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        raw = self.net(features) if self.stride == 1 else at_half_resolution(self.net, features)
        return F.softplus(raw) + self.min_scale

"""Sparse convolutions written as masked dense operations, so SAN exports to ONNX and TensorRT.

SAN (Guizilini et al., CVPR 2021) encodes LiDAR depth with Minkowski sparse convolutions, which cannot be exported.
A sparse tensor here is a pair ``(x [B,C,H,W], mask [B,1,H,W])`` with ``x == 0`` wherever
``mask == 0``. Each operation keeps that invariant and equals its sparse counterpart exactly on
the active sites (``tests/core/test_sparse.py`` checks this against an explicit gather/scatter
implementation):

- submanifold convolution (stride 1, output sites = input sites): a dense convolution of the
  zero-filled map, then the mask. Inactive neighbours contribute zero, as in a sparse conv.
- batch normalisation: statistics over active sites only (training); running statistics as
  usual (inference); then the mask.
- strided max-pooling (kernel 3, stride 2, as MinkowskiMaxPooling): the output site ``k`` is
  active when an input site ``2k`` or ``2k+1`` (per axis) is, i.e. when some active coordinate
  floors onto it; its value is the max over active inputs in the 3x3 window around ``2k``. The
  zero fill never wins the max because every feature pooled here is >= 0 (depth values and
  post-ReLU features).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SparseAuxiliaryNetwork", "SparseBatchNorm2d", "SparseConv2d", "SparseResidualBlock", "sparse_max_pool"]


class SparseConv2d(nn.Conv2d):
    """Submanifold 2D convolution (no bias, like MinkowskiConvolution's default)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int) -> None:
        super().__init__(in_ch, out_ch, kernel_size, 1, kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x) * mask


class SparseBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose batch statistics come from active sites only."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.training:
            return super().forward(x) * mask
        n = mask.sum()
        if n < 1:  # nothing active in this batch: nothing to normalise or learn from
            return x * mask
        mean = (x * mask).sum(dim=(0, 2, 3)) / n
        centred = (x - mean.view(1, -1, 1, 1)) * mask
        var = (centred * centred).sum(dim=(0, 2, 3)) / n
        if self.track_running_stats:
            with torch.no_grad():
                unbiased = var * n / (n - 1) if n > 1 else var
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * unbiased)
                self.num_batches_tracked += 1
        y = centred / torch.sqrt(var + self.eps).view(1, -1, 1, 1)
        return (y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)) * mask


def sparse_max_pool(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Strided sparse max-pool (kernel 3, stride 2) of non-negative features; see module doc."""
    mask_out = F.max_pool2d(mask, 2, 2, ceil_mode=True)
    return F.max_pool2d(x, 3, 2, 1) * mask_out, mask_out


class _Branch(nn.Module):
    """``n`` sparse convs; all but the last followed by sparse BN and ReLU."""

    def __init__(self, in_ch: int, out_ch: int, n: int, kernel_size: int, hidden: int) -> None:
        super().__init__()
        widths = [in_ch] + [hidden] * (n - 1) + [out_ch]
        self.convs = nn.ModuleList(SparseConv2d(a, b, kernel_size) for a, b in pairwise(widths))
        self.norms = nn.ModuleList(SparseBatchNorm2d(w) for w in widths[1:-1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):      # every conv but the last
            if norm.training or not norm.track_running_stats:
                x = F.relu(norm(conv(x, mask), mask))
            else:
                x = F.relu(_folded(conv, norm, x)) * mask
        return self.convs[-1](x, mask)


def _folded(conv: nn.Conv2d, norm: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``norm(conv(x))`` with running statistics, as one convolution with a bias: the normalisation's
    scale folded into the weights. The masks in between change nothing (they are 0 or 1, and the
    caller masks the result), so this is the eval-mode sparse conv, norm and mask in one pass
    (ONNX Runtime cannot fold a normalisation across the mask's multiplication)."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return F.conv2d(x, conv.weight * scale.view(-1, 1, 1, 1), norm.bias - norm.running_mean * scale,
                    padding=conv.padding)


class SparseResidualBlock(nn.Module):
    """SAN's sparse residual block (Guizilini et al., Fig. 2b): sparse max-pool (stride 2), then three
    parallel branches of 1, 2 and 3 sparse convolutions, summed, then sparse BN and ReLU.

    The paper leaves the branches' inner width open; ``hidden_ratio`` sets it as a multiple of
    ``out_ch`` (the authors' code uses 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, hidden_ratio: int = 1) -> None:
        super().__init__()
        hidden = hidden_ratio * out_ch
        self.branches = nn.ModuleList(_Branch(in_ch, out_ch, n, kernel_size, hidden) for n in (1, 2, 3))
        self.norm = SparseBatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = sparse_max_pool(x, mask)
        x = sum(branch(x, mask) for branch in self.branches)
        return F.relu(self.norm(x, mask)), mask


class SparseAuxiliaryNetwork(nn.Module):
    """Encodes a sparse depth map at the RGB encoder's five skip resolutions (1/2 .. 1/32) and
    injects it into the skips as ``K~_i = w_i * K_i + b_i + P_i`` (Guizilini et al., eq. 8).

    ``P_i`` is the densified (zero-filled) output of stage ``i``, passed through a 1x1 conv when
    the RGB skip has a different width. A sample without any valid depth keeps its skips
    unchanged: injection is gated per sample, so an all-zero sparse input reproduces the
    prediction-mode output exactly, inside one exportable graph.
    """

    def __init__(self, skip_channels: list[int], channels=(32, 64, 128, 256, 512), kernels=(5, 5, 3, 3, 3),
                 min_depth: float = 0.1, max_input_depth: float = 1000.0, hidden_ratio: int = 1) -> None:
        super().__init__()
        if len(skip_channels) != len(channels):
            raise ValueError(f"SAN has {len(channels)} stages but the RGB net gives {len(skip_channels)} skips")
        widths = [1, *channels]
        self.blocks = nn.ModuleList(SparseResidualBlock(a, b, k, hidden_ratio)
                                    for a, b, k in zip(widths[:-1], widths[1:], kernels))
        self.project = nn.ModuleList(nn.Identity() if c == s else nn.Conv2d(c, s, 1, bias=False)
                                     for c, s in zip(channels, skip_channels))
        self.weight = nn.Parameter(torch.ones(len(channels)))
        self.bias = nn.Parameter(torch.zeros(len(channels)))
        self.min_depth = min_depth
        self.max_input_depth = max_input_depth

    def sparsify(self, sparse_depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input features and mask from depth in metres: NaN, inf, <= 0 and absurdly far values
        are missing. Valid depths become ``min_depth / depth`` in (0, 1]."""
        valid = (sparse_depth > 0) & (sparse_depth < self.max_input_depth)   # NaN fails both
        mask = valid.to(sparse_depth.dtype)
        safe = torch.where(valid, sparse_depth, torch.ones_like(sparse_depth))
        return torch.clamp(self.min_depth / safe, max=1.0) * mask, mask

    def encode(self, sparse_depth: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Dense feature maps ``P_i`` (zero off the active sites) and the per-sample gate [B,1,1,1]."""
        x, mask = self.sparsify(sparse_depth)
        gate = (mask.flatten(1).amax(dim=1) > 0).to(x.dtype).view(-1, 1, 1, 1)
        features = []
        for block, project in zip(self.blocks, self.project):
            x, mask = block(x, mask)
            features.append(project(x))
        return features, gate

    def inject(self, skips: list[torch.Tensor], sparse_depth: torch.Tensor) -> list[torch.Tensor]:
        features, gate = self.encode(sparse_depth)
        out = []
        for i, (k, p) in enumerate(zip(skips, features)):
            if p.shape[-2:] != k.shape[-2:]:
                raise ValueError(f"SAN stage {i} is {tuple(p.shape[-2:])} but the skip is {tuple(k.shape[-2:])}")
            out.append(k + gate * ((self.weight[i] - 1) * k + self.bias[i] + p))
        return out

"""Normalized convolution (Eldesokey et al., BMVC 2018 / TPAMI 2019), the confidence-propagating
convolution of FuSaNet's Fusion-Net: with non-negative weights ``G = softplus(W)``,

    Z = (G * (x . c)) / (G * c + eps) + b,      C_out = (G * c) / sum(G)

so the output is a confidence-weighted average of the input and the output confidence a
weighted average of the input confidences (it stays in [0, 1])."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NConv2d"]


class NConv2d(nn.Module):
    FLOAT32 = True   # runs in float32 whatever the precision: kept so in FP16 / INT8 engines too (export)

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, eps: float = 1e-20,
                 bias: bool = True) -> None:
        """``bias=False`` where only the confidence output is used (a bias there would never learn)."""
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_ch,), 0.01)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.padding, self.dilation, self.eps = dilation * (kernel_size // 2), dilation, eps

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # A ratio of two convolutions over confidences that may be ~0: in bfloat16 / float16 the
        # denominator loses every digit and the ratio blows up, so it always runs in float32.
        with torch.autocast(x.device.type, enabled=False):
            return self._forward(x.float(), c.float())

    def _forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = F.softplus(self.weight, beta=10)
        num = F.conv2d(x * c, g, padding=self.padding, dilation=self.dilation)
        den = F.conv2d(c, g, padding=self.padding, dilation=self.dilation)
        z = num / (den + self.eps)
        if self.bias is not None:
            z = z + self.bias.view(1, -1, 1, 1)
        c_out = den / g.sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
        return z, c_out

"""PackNet01 building blocks (Guizilini et al., 3D Packing for Self-Supervised Monocular Depth
Estimation, CVPR 2020), the RGB network of PackNet-SAN (Guizilini et al., CVPR 2021).

Packing replaces striding: space-to-depth folds each 2x2 neighbourhood into channels, a 3D
convolution learns over the folded channels, and a 2D conv compresses them; unpacking mirrors it
with a 3D conv and depth-to-space. Every 2D conv is conv -> GroupNorm(16) -> ELU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Conv2D", "InvDepth", "PackLayerConv3d", "ResidualBlock", "ResidualConv", "UnpackLayerConv3d"]


class Conv2D(nn.Module):
    """Zero-padded conv (stride as given) -> GroupNorm(16 groups) -> ELU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.conv_base = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding=kernel_size // 2)
        self.normalize = nn.GroupNorm(16, out_ch)
        self.activ = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activ(self.normalize(self.conv_base(x)))


class ResidualConv(nn.Module):
    """Two Conv2D on the main path plus a 1x1 shortcut, then GroupNorm and ELU of the sum."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dropout: float | None = None) -> None:
        super().__init__()
        self.conv1 = Conv2D(in_ch, out_ch, 3, stride)
        self.conv2 = Conv2D(out_ch, out_ch, 3, 1)
        self.conv3 = nn.Conv2d(in_ch, out_ch, 1, stride)
        self.normalize = nn.GroupNorm(16, out_ch)
        self.activ = nn.ELU(inplace=True)
        self.dropout = nn.Dropout2d(dropout) if dropout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        if self.dropout is not None:
            out = self.dropout(out)
        return self.activ(self.normalize(out + self.conv3(x)))


class ResidualBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, stride: int, dropout: float | None = None) -> None:
        super().__init__(ResidualConv(in_ch, out_ch, stride, dropout),
                         *[ResidualConv(out_ch, out_ch, 1, dropout) for _ in range(num_blocks - 1)])


class PackLayerConv3d(nn.Module):
    """[B,C,H,W] -> [B,C,H/2,W/2]: space-to-depth, 3D conv with ``d`` filters, 2D conv back to C."""

    def __init__(self, channels: int, kernel_size: int, r: int = 2, d: int = 8) -> None:
        super().__init__()
        self.r = r
        self.conv3d = nn.Conv3d(1, d, kernel_size=3, stride=1, padding=1)
        self.conv = Conv2D(channels * r * r * d, channels, kernel_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(x, self.r).unsqueeze(1)    # [B,1,C*r*r,H/r,W/r]
        x = self.conv3d(x)                                 # [B,d,C*r*r,H/r,W/r]
        return self.conv(x.flatten(1, 2))


class UnpackLayerConv3d(nn.Module):
    """[B,Cin,H,W] -> [B,Cout,2H,2W]: 2D conv, 3D conv with ``d`` filters, depth-to-space."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, r: int = 2, d: int = 8) -> None:
        super().__init__()
        self.r = r
        self.conv = Conv2D(in_ch, out_ch * r * r // d, kernel_size, 1)
        self.conv3d = nn.Conv3d(1, d, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(self.conv(x).unsqueeze(1))         # [B,d,Cout*r*r/d,H,W]
        return F.pixel_shuffle(x.flatten(1, 2), self.r)


class InvDepth(nn.Module):
    """Inverse-depth head: 3x3 conv -> sigmoid, divided by ``min_depth`` so depth >= min_depth."""

    def __init__(self, in_ch: int, out_ch: int = 1, min_depth: float = 0.5) -> None:
        super().__init__()
        self.min_depth = min_depth
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv1(x)) / self.min_depth

"""The multi-scale depth decoder used with ResNet encoders (Godard et al., monodepth2 layout):
per level, a 3x3 conv + ELU, 2x nearest upsampling, concatenation with the encoder skip, and a
second 3x3 conv + ELU; sigmoid inverse-depth heads at four scales."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvELU", "DepthDecoder"]


class ConvELU(nn.Sequential):
    """3x3 conv + ELU (monodepth2), or + ReLU, which ONNX Runtime and TensorRT fuse into the
    convolution (ELU costs a pass of its own: 8 % of a small model's CPU time)."""

    def __init__(self, in_ch: int, out_ch: int, activation: str = "elu") -> None:
        if activation not in ("elu", "relu"):
            raise ValueError(f"decoder activation: expected elu or relu, got '{activation}'")
        act = nn.ELU(inplace=True) if activation == "elu" else nn.ReLU(inplace=True)
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, 1, 1), act)


class DepthDecoder(nn.Module):
    """Skips ``[f0 @1/2, f1 @1/4, f2 @1/8, f3 @1/16, f4 @1/32]`` -> sigmoid maps
    ``[s0 @1/1, s1 @1/2, s2 @1/4, s3 @1/8]`` in (0, 1)."""

    def __init__(self, enc_channels: list[int], dec_channels=(16, 32, 64, 128, 256), activation: str = "elu") -> None:
        super().__init__()
        self.upconv0 = nn.ModuleList()
        self.upconv1 = nn.ModuleList()
        for i in range(5):
            in_ch = enc_channels[-1] if i == 4 else dec_channels[i + 1]
            self.upconv0.append(ConvELU(in_ch, dec_channels[i], activation))
            skip = enc_channels[i - 1] if i > 0 else 0
            self.upconv1.append(ConvELU(dec_channels[i] + skip, dec_channels[i], activation))
        self.heads = nn.ModuleList(nn.Conv2d(dec_channels[s], 1, 3, 1, 1) for s in range(4))

    def forward(self, skips: list[torch.Tensor], with_features: bool = False):
        """The four sigmoid maps; with ``with_features`` also the last full-resolution features."""
        x = skips[-1]
        outputs: list[torch.Tensor] = [None] * 4  # type: ignore[list-item]
        for i in range(4, -1, -1):
            x = F.interpolate(self.upconv0[i](x), scale_factor=2.0, mode="nearest")
            if i > 0:
                x = torch.cat([x, skips[i - 1]], dim=1)
            x = self.upconv1[i](x)
            if i < 4:
                outputs[i] = torch.sigmoid(self.heads[i](x))
        return (outputs, x) if with_features else outputs

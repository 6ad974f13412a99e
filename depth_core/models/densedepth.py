"""DenseDepth (Alhashim & Wonka 2018): a DenseNet-169 encoder and a plain decoder of
bilinear 2x upsampling, concatenation with the encoder skip and two 3x3 convolutions with
LeakyReLU(0.2), predicting ``y = m / depth`` at half the input resolution. Image only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DepthModel
from .config import ModelConfig
from .layers.densenet import DenseNetEncoder, load_densenet_weights

__all__ = ["DenseDepth"]


class _UpBlock(nn.Module):
    """Bilinear 2x (to the skip's size), concatenate the skip, then convA and convB, each 3x3 with
    LeakyReLU(0.2) (the authors' code puts the activation after both convolutions)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.convA = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.convB = nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        x = F.leaky_relu(self.convA(torch.cat([x, skip], 1)), 0.2)
        return F.leaky_relu(self.convB(x), 0.2)


class DenseDepth(DepthModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        self.encoder = DenseNetEncoder(arch.get("densenet_depth", 169))
        enc = self.encoder.channels
        width = int(enc[-1] * arch.get("decoder_width", 1.0))     # 1664 for DenseNet-169
        self.conv2 = nn.Conv2d(enc[-1], width, 1)
        self.up1 = _UpBlock(width + enc[3], width // 2)
        self.up2 = _UpBlock(width // 2 + enc[2], width // 4)
        self.up3 = _UpBlock(width // 4 + enc[1], width // 8)
        self.up4 = _UpBlock(width // 8 + enc[0], width // 16)
        self.conv3 = nn.Conv2d(width // 16, 1, 3, padding=1)
        for m in (self.conv2, self.conv3, *[c for b in (self.up1, self.up2, self.up3, self.up4) for c in b.children()]):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        if arch.get("imagenet_weights"):
            load_densenet_weights(self.encoder, arch["imagenet_weights"])

    @property
    def target_max(self) -> float:
        """``m`` of the target ``y = m / depth`` (the paper: the scene's maximum depth)."""
        return float(self.config.arch.get("target_max", self.config.max_depth))

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor | None = None) -> dict:
        self.check_inputs(image, sparse_depth)
        h, w = image.shape[-2:]
        padded = self.pad_to(image)
        s = self.encoder(self.normalize(padded))
        y = self.conv3(self.up4(self.up3(self.up2(self.up1(self.conv2(s[4]), s[3]), s[2]), s[1]), s[0]))
        m, c = self.target_max, self.config
        y_clamped = torch.clamp(y, min=m / c.max_depth, max=m / c.min_depth)
        depth = F.interpolate(m / y_clamped, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        out = {"depth": depth[..., :h, :w]}
        if self.training:
            half = y[..., : -(-h // 2), : -(-w // 2)]
            out["target"] = half                       # y = m / depth, half resolution
            out["inv_depths"] = [half / m]
        return out

    def components(self) -> dict[str, list[str]]:
        return {"rgb_encoder": ["encoder."], "decoder": ["conv2.", "up1.", "up2.", "up3.", "up4.", "conv3."]}

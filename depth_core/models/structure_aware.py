"""Structure-aware monocular depth (Chen et al., ECCV 2020): a ResNet-101 encoder with a global
context block in every residual block, a U-shaped decoder whose four upsampling blocks each hold a
spatial attention block (SAB), four multi-scale depth outputs, and a refinement module that fuses
them at full resolution. Image only.

Where the paper leaves the decoder open (channel widths, fusion operator, refinement layers),
this follows its description with documented choices: SAB ``D_i = conv([ReLU(W1 [up(D_{i+1}),
GCB_i]) * GCB_i, up(D_{i+1})])`` (concatenation as the outer fusion), widths 1536/768/384/192,
and a Hu et al.-style refinement (three 5x5 conv + BN + ReLU). That gives ~150M parameters with
GCB ratio 4, against the paper's ~167M (docs/models.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DepthModel
from .config import ModelConfig
from .layers.resnet import ResNetEncoder, load_imagenet_weights

__all__ = ["StructureAware"]


def _conv_bn_relu(in_ch: int, out_ch: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=False), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


class SpatialAttentionBlock(nn.Module):
    """Eq. 1: a one-channel spatial attention map from the decoder feature and the skip, ReLU
    (not sigmoid, as the paper states), weighting the skip; then fused with the decoder feature."""

    def __init__(self, dec_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.attention = nn.Conv2d(dec_ch + skip_ch, 1, 1)
        self.fuse = nn.Sequential(_conv_bn_relu(dec_ch + skip_ch, out_ch), _conv_bn_relu(out_ch, out_ch))

    def forward(self, decoder: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        decoder = F.interpolate(decoder, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        weights = F.relu(self.attention(torch.cat([decoder, skip], 1)))
        return self.fuse(torch.cat([weights * skip, decoder], 1))


class StructureAware(DepthModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        self.encoder = ResNetEncoder(arch.get("resnet_depth", 101), gcb_ratio=arch.get("gcb_ratio", 4))
        enc = self.encoder.channels                      # 64, 256, 512, 1024, 2048 for ResNet-101
        widths = arch.get("decoder_channels", (1536, 768, 384, 192))
        self.top = nn.Conv2d(enc[4], enc[4], 1)
        self.blocks = nn.ModuleList()
        dec = enc[4]
        for skip, width in zip((enc[3], enc[2], enc[1], enc[0]), widths):   # 1/16, 1/8, 1/4, 1/2
            self.blocks.append(SpatialAttentionBlock(dec, skip, width))
            dec = width
        self.heads = nn.ModuleList(nn.Conv2d(w, 1, 3, padding=1) for w in widths)
        refine = arch.get("refine_channels", 64)
        self.refine = nn.Sequential(_conv_bn_relu(len(widths) + 3, refine, 5), _conv_bn_relu(refine, refine, 5),
                                    _conv_bn_relu(refine, refine, 5), nn.Conv2d(refine, 1, 5, padding=2))
        if arch.get("imagenet_weights"):
            load_imagenet_weights(self.encoder, arch["imagenet_weights"])

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor | None = None) -> dict:
        self.check_inputs(image, sparse_depth)
        h, w = image.shape[-2:]
        x = self.pad_to(image)
        skips = self.encoder(self.normalize(x))
        d = self.top(skips[4])
        c = self.config
        scales = []
        for block, head, skip in zip(self.blocks, self.heads, (skips[3], skips[2], skips[1], skips[0])):
            d = block(d, skip)
            # Each scale predicts log-depth, upsampled to full resolution and fused by the refinement
            # (the paper supervises only the refined output).
            scales.append(F.interpolate(head(d), size=x.shape[-2:], mode="bilinear", align_corners=False))
        log_depth = self.refine(torch.cat([*scales, self.normalize(x)], 1))
        lo, hi = float(torch.log(torch.tensor(c.min_depth))), float(torch.log(torch.tensor(c.max_depth)))
        depth = torch.exp(torch.clamp(log_depth, lo, hi))[..., :h, :w]
        return {"depth": depth}

    def components(self) -> dict[str, list[str]]:
        return {"rgb_encoder": ["encoder."], "decoder": ["top.", "blocks.", "heads."], "refinement": ["refine."]}

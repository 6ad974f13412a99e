"""Depth-map decomposition (Jun et al., ECCV 2022): a shared encoder and three decoders. G-Net
predicts the gradients of the normalised depth, N-Net the z-score normalised depth, M-Net the
metric (inverse) depth; features flow G -> N -> M by addition after each of the first four
upsampling blocks. M-Net holds the MDR block, a mini-ViT that regresses the depth mean.

Documented substitutes (docs/models.md):
- encoder: ResNet-50 (2048 channels at 1/32, as the paper's EfficientNet-B5 head) instead of
  EfficientNet-B5;
- MDR queries: learned query tokens read by the transformer (DETR style) instead of the first
  image patches, so the number of output channels does not depend on the image size.
Image only. Depth is ``m = 1 / (depth + 1)`` inside (eq. 12)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DepthModel
from .config import ModelConfig
from .layers.resnet import ResNetEncoder, load_imagenet_weights

__all__ = ["Decomposition"]


class _SkipAttention(nn.Module):
    """Per-decoder 1x1 projection of an encoder skip with squeeze-and-excitation channel attention."""

    def __init__(self, in_ch: int, out_ch: int, ratio: int = 16) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_ch, out_ch, 1)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(out_ch, max(out_ch // ratio, 4), 1),
                                nn.ReLU(inplace=True), nn.Conv2d(max(out_ch // ratio, 4), out_ch, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        return x * self.se(x)


class _UpBlock(nn.Module):
    """Bilinear upsampling (to the skip's size; none for the first block), concatenation with the
    attended skip, two 3x3 conv + ReLU."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(in_ch + skip_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size) -> torch.Tensor:
        if x.shape[-2:] != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.convs(x if skip is None else torch.cat([x, skip], 1))


class _Decoder(nn.Module):
    """Five upsampling blocks from the 1/32 bottleneck to 1/2 (block 1 stays at 1/32) and a
    3x3 output head; ``forward`` returns each block's output so the next decoder can add them."""

    def __init__(self, enc: list[int], widths: tuple[int, ...], out_ch: int) -> None:
        super().__init__()
        skips = (enc[4], enc[3], enc[2], enc[1], enc[0])        # 1/32, 1/16, 1/8, 1/4, 1/2
        self.attend = nn.ModuleList(_SkipAttention(s, w // 2) for s, w in zip(skips, widths))
        ins = (enc[4], *widths[:-1])
        self.blocks = nn.ModuleList(_UpBlock(i, w // 2, w) for i, w in zip(ins, widths))
        self.head = nn.Conv2d(widths[-1], out_ch, 3, padding=1)


class _EncoderLayer(nn.Module):
    """A post-norm transformer encoder layer with ``nn.TransformerEncoderLayer``'s parameters and
    names (``self_attn.in_proj_weight``, ``linear1``, ``norm1``...), written out because
    ``nn.MultiheadAttention`` bakes the traced sequence length into its reshapes when exported to
    ONNX, so a graph exported at one image size fails at another. Here every reshape keeps the
    sequence length symbolic (-1)."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)   # holds the projections only
        self.linear1, self.linear2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, d = x.shape
        attn = self.self_attn
        q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, -1, d)
        x = self.norm1(x + attn.out_proj(y))
        return self.norm2(x + self.linear2(F.relu(self.linear1(x))))


class _Encoder(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_EncoderLayer(dim, heads, hidden) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MDRBlock(nn.Module):
    """Mean depth residual: patch embedding (8x8, stride 8) with learned positional encodings
    (interpolated to the grid), a transformer encoder (4 layers, 4 heads, width 128, FFN 1024),
    a regression token -> MLP -> the depth mean mu, and learned query tokens whose outputs, dotted
    with a 3x3 conv of the input, form the block's output channels (AdaBins' mini-ViT)."""

    def __init__(self, in_ch: int, queries: int = 64, dim: int = 128, layers: int = 4, heads: int = 4,
                 grid: tuple[int, int] = (12, 16)) -> None:
        super().__init__()
        self.embed = nn.Conv2d(in_ch, dim, 8, stride=8)
        self.position = nn.Parameter(torch.randn(1, dim, *grid) * 0.02)
        self.tokens = nn.Parameter(torch.randn(1, 1 + queries, dim) * 0.02)   # [regression, queries...]
        self.transformer = _Encoder(dim, heads, 1024, layers)
        self.regressor = nn.Sequential(nn.Linear(dim, 256), nn.LeakyReLU(), nn.Linear(256, 256), nn.LeakyReLU(),
                                       nn.Linear(256, 1))
        self.keys = nn.Conv2d(in_ch, dim, 3, padding=1)
        self.queries = queries

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patches = self.embed(x)                                                      # [B,D,h,w]
        pos = F.interpolate(self.position, size=patches.shape[-2:], mode="bilinear", align_corners=False)
        seq = (patches + pos).flatten(2).transpose(1, 2)                              # [B,hw,D]
        tokens = self.tokens.expand(x.shape[0], -1, -1)
        out = self.transformer(torch.cat([tokens, seq], 1))
        mu = self.regressor(out[:, 0]).view(-1, 1, 1, 1)
        queries = out[:, 1:1 + self.queries]                                          # [B,Q,D]
        keys = self.keys(x)                                                           # [B,D,H,W]
        maps = torch.einsum("bqd,bdhw->bqhw", queries, keys)
        return maps, mu


class Decomposition(DepthModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        self.encoder = ResNetEncoder(arch.get("resnet_depth", 50))
        enc = self.encoder.channels
        widths = tuple(arch.get("decoder_channels", (512, 256, 128, 64, 32)))
        self.g_net = _Decoder(enc, widths, 2)
        self.n_net = _Decoder(enc, widths, 1)
        self.m_net = _Decoder(enc, widths, 1)
        queries = arch.get("mdr_queries", 64)
        self.mdr = MDRBlock(widths[3], queries=queries)
        # Block 5 of M-Net takes the MDR output (queries channels) instead of block 4's features.
        self.m_net.blocks[4] = _UpBlock(queries, widths[4] // 2, widths[4])
        if arch.get("imagenet_weights"):
            load_imagenet_weights(self.encoder, arch["imagenet_weights"])

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor | None = None) -> dict:
        self.check_inputs(image, sparse_depth)
        h, w = image.shape[-2:]
        x = self.pad_to(image)
        skips = self.encoder(self.normalize(x))
        sizes = [s.shape[-2:] for s in (skips[4], skips[3], skips[2], skips[1], skips[0])]
        order = (skips[4], skips[3], skips[2], skips[1], skips[0])
        g = n = m = skips[4]
        mu = None
        for i in range(5):
            g = self.g_net.blocks[i](g, self.g_net.attend[i](order[i]), sizes[i])
            n = self.n_net.blocks[i](n, self.n_net.attend[i](order[i]), sizes[i])
            if i == 4:
                m, mu = self.mdr(m)
            m = self.m_net.blocks[i](m, self.m_net.attend[i](order[i]), sizes[i])
            if i < 4:  # feature transfer, eq. 6 with omega_G = omega_N = 1
                n = n + g
                m = m + n

        def head(net, feat):
            return F.interpolate(net.head(feat), size=x.shape[-2:], mode="bilinear", align_corners=False)

        G, N = head(self.g_net, g), head(self.n_net, n)
        M = head(self.m_net, m) + mu                                                  # + mu_M U
        c = self.config
        M = torch.clamp(M, 1.0 / (c.max_depth + 1.0), 1.0 / (c.min_depth + 1.0))
        out = {"depth": (1.0 / M - 1.0)[..., :h, :w]}
        if self.training:
            crop = (..., slice(0, h), slice(0, w))
            out.update({"G": G[crop], "N": N[crop], "M": M[crop], "mu": mu})
        return out

    def components(self) -> dict[str, list[str]]:
        return {"rgb_encoder": ["encoder."], "g_net": ["g_net."], "n_net": ["n_net."],
                "m_net": ["m_net.", "mdr."]}

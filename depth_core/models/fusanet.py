"""FuSaNet: Fusion-Net, five fusion blocks of normalized convolutions with a confidence
predictor, run twice; between the passes, Saliency-Net (a multi-scale feature extractor of 3x3,
5x5 and atrous 3x3 convolutions with dilations 3, 5, 7, 9, 15, 16, 21) picks salient points of
the first depth estimate, which the second pass takes as its guiding points. Outputs depth and a
confidence map. At training time the first pass receives SIFT-keypoint guiding points (the
``sift`` sparse policy); at test time it sees the image alone.

The paper leaves most sizes open (docs/models.md): here every fusion block has 144 channels
(8.1M parameters in all, as in the paper) and blocks run at 1/16 .. 1/1, coarse to fine.
FKAConv, the paper's 3D point branch, needs k-nearest neighbour gathers that do not export to
ONNX/TensorRT; by default it is replaced by a sparse (masked dense) convolution over the point
pixels, the same substitute SAN uses for Minkowski convolutions. ``arch.point_conv: fkaconv``
uses the real one (:mod:`.layers.fkaconv`, torch only) to measure the difference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DepthModel
from .config import ModelConfig
from .layers.fkaconv import FKAConv
from .layers.nconv import NConv2d
from .layers.sparse import SparseConv2d

__all__ = ["SCALE_WEIGHTS", "FuSaNet"]

SCALE_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.125)   # fine to coarse
DILATIONS = (3, 5, 7, 9, 15, 16, 21)


class FusionBlock(nn.Module):
    """Encoder (2D conv at this and at half resolution, normalized conv, point conv; summed, then
    a conv and a residual), confidence predictor (normalized convs), and decoder/refinement:
    a normalized-conv branch for confidence and a conv branch for depth. ``point_conv``: the 3D
    branch, ``sparse`` (exportable, the default) or ``fkaconv`` (the paper's; torch only)."""

    def __init__(self, ch: int, point_conv: str = "sparse") -> None:
        super().__init__()
        self.conv_full = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv_half = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        self.nconv = NConv2d(ch, ch, 3)
        if point_conv not in ("sparse", "fkaconv"):
            raise ValueError(f"fusanet arch.point_conv: expected 'sparse' or 'fkaconv', got '{point_conv}'")
        self.points = SparseConv2d(ch, ch, 3) if point_conv == "sparse" else FKAConv(ch, ch)
        self.merge = nn.Conv2d(ch, ch, 1)
        self.confidence = nn.ModuleList([NConv2d(ch, ch, 3), NConv2d(ch, ch, 3)])
        self.conf_head = NConv2d(ch, 1, 3, bias=False)   # only its confidence output is used
        self.depth = nn.Sequential(nn.Conv2d(2 * ch, ch, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.Conv2d(ch, 1, 3, padding=1))

    def forward(self, x, attention, point_mask, point_depth):
        half = F.interpolate(F.relu(self.conv_half(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)
        nc, _ = self.nconv(x, attention)
        if isinstance(self.points, FKAConv):
            points = self.points(x, point_mask, point_depth)
        else:
            points = self.points(x * point_mask, point_mask)
        summed = F.relu(self.conv_full(x)) + half + nc + points
        x = x + F.relu(self.merge(summed))
        guided, a = x, attention
        for layer in self.confidence:       # a normalized-conv stack: data and confidence both propagate
            guided, a = layer(guided, a)
        _, conf = self.conf_head(guided, a)
        depth_logit = self.depth(torch.cat([x, guided], 1))
        return x, a, depth_logit, conf


class MFE(nn.Module):
    """Saliency-Net's multi-scale feature extractor: parallel 3x3, 5x5 and atrous 3x3 branches."""

    def __init__(self, in_ch: int, ch: int = 16) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(in_ch, ch, 3, padding=1), nn.Conv2d(in_ch, ch, 5, padding=2)]
                                      + [nn.Conv2d(in_ch, ch, 3, padding=d, dilation=d) for d in DILATIONS])
        self.out = nn.Conv2d(ch * len(self.branches), 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([F.relu(b(x)) for b in self.branches], 1))


class FuSaNet(DepthModel):
    uses_sparse_depth = False   # image only at inference; guiding points only while training

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        ch = arch.get("channels", 144)
        self.salient_points = arch.get("salient_points", 500)
        self.stem_sparse = nn.ModuleList([NConv2d(1, 16, 5), NConv2d(16, ch, 3)])
        self.stem_rgbd = nn.Sequential(nn.Conv2d(4, 32, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True))
        self.stem_merge = nn.Conv2d(ch + 32, ch, 3, padding=1)
        point_conv = arch.get("point_conv", "sparse")
        self.blocks = nn.ModuleList(FusionBlock(ch, point_conv) for _ in range(5))   # 1/16, 1/8, 1/4, 1/2, 1
        self.saliency_features = MFE(ch + 1)
        self.saliency_depth = MFE(2)

    def fusion(self, rgb: torch.Tensor, sparse: torch.Tensor, confidence: torch.Tensor):
        """One Fusion-Net pass: per-scale depth logits and confidences (coarse to fine) and the
        last block's features."""
        s, c = sparse, confidence
        for layer in self.stem_sparse:
            s, c = layer(s, c)
        x0 = F.relu(self.stem_merge(torch.cat([s, self.stem_rgbd(torch.cat([rgb, sparse], 1))], 1)))
        mask0 = (confidence > 0).to(rgb.dtype)
        x = None
        depths, confs = [], []
        for i, block in enumerate(self.blocks):
            factor = 2 ** (4 - i)
            xi = F.avg_pool2d(x0, factor) if factor > 1 else x0
            ai = F.avg_pool2d(c, factor) if factor > 1 else c
            mi = F.max_pool2d(mask0, factor) if factor > 1 else mask0
            zi = F.max_pool2d(sparse, factor) if factor > 1 else sparse
            if x is not None:
                xi = xi + F.interpolate(x, size=xi.shape[-2:], mode="bilinear", align_corners=False)
            x, _, depth_logit, conf = block(xi, ai, mi, zi)
            depths.append(depth_logit)
            confs.append(conf)
        return depths, confs, x

    def _to_depth(self, logit: torch.Tensor) -> torch.Tensor:
        c = self.config
        return torch.clamp(c.min_depth + F.softplus(logit), max=c.max_depth)

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor | None = None) -> dict:
        self.check_inputs(image, sparse_depth)
        h, w = image.shape[-2:]
        rgb = self.normalize(self.pad_to(image))
        if sparse_depth is None:
            sparse = torch.zeros_like(rgb[:, :1])
        else:
            sparse_depth = self.pad_to(sparse_depth, mode="constant")
            valid = (sparse_depth > 0) & (sparse_depth < 1e4)
            sparse = torch.where(valid, sparse_depth, torch.zeros_like(sparse_depth))
        guide_conf = (sparse > 0).to(rgb.dtype)
        d1, c1, f1 = self.fusion(rgb, sparse, guide_conf)
        first = self._to_depth(d1[-1])
        # Saliency-Net: where the first estimate is worth feeding back as points.
        s = torch.sigmoid(self.saliency_features(torch.cat([c1[-1], f1], 1))) * \
            torch.sigmoid(self.saliency_depth(torch.cat([c1[-1], first / self.config.max_depth], 1)))
        flat = s.flatten(1)
        k = min(self.salient_points, flat.shape[1])
        threshold = torch.topk(flat, k, dim=1).values[:, -1:].view(-1, 1, 1, 1)
        chosen = (s >= threshold).to(s.dtype)
        d2, c2, _ = self.fusion(rgb, first.detach() * chosen, s * chosen)
        depth = self._to_depth(d2[-1])[..., :h, :w]
        out = {"depth": depth, "confidence": c2[-1][..., :h, :w]}
        if self.training:
            out["scales"] = [self._to_depth(d) for d in reversed(d2)]           # fine to coarse
            out["confidences"] = list(reversed(c2))
            out["first_scales"] = [self._to_depth(d) for d in reversed(d1)]
            out["first_confidences"] = list(reversed(c1))
            out["guide_mask"] = guide_conf
        return out

    def components(self) -> dict[str, list[str]]:
        return {"fusion_net": ["stem_sparse.", "stem_rgbd.", "stem_merge.", "blocks."],
                "saliency_net": ["saliency_features.", "saliency_depth."]}

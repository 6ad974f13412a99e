"""Completion by learned choice among depths the LiDAR measured.

At a held-out LiDAR point the classical interpolation is hard to beat on a smooth surface (the
nearest measurement is almost right), and its error is concentrated at depth edges: on the
generalisation suite, 3 % of the points (those more than 30 % off) carry 69 % of its AbsRel,
where the nearest measurements lie on the wrong side of an edge. A network whose depth is a few
per cent off everywhere cannot win there by predicting a value; it can by *choosing*: which of the
measurements near a pixel belong to its surface is a question the image answers.

:class:`WindowFills` gives, for a few reaches ``r`` (pixels at the network's resolution), the
nearest surface measured within ``r`` (the largest inverse depth in the ``(2r+1)²`` window: the
foreground) and the farthest (the smallest: the background), with where each exists. Max pooling
is separable, so each reach costs a row and a column pooling on the previous one.

:class:`CandidateSelection` predicts from image features, the image and the candidates (relative
to the network's estimate) a softmax over the candidates, per pixel, and returns the weighted
mean in log inverse depth. Within reach of points the output is then a convex combination of
values the LiDAR measured, the push-pull prior and the network's fused estimate; the head decides
how much of each, and its candidates bound what it can do on images unlike its training ones.

Pooling, logs, a softmax and convolutions only: it exports to one ONNX graph.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .propagation import at_half_resolution

__all__ = ["CandidateSelection", "GrowFill", "PyramidMean", "ScanNoise", "WindowFills"]


class WindowFills(nn.Module):
    """``(scaled [B,1,H,W], mask) -> (fills [B,2R,H,W], valid [B,2R,H,W])``: ``scaled`` is inverse
    depth times a positive constant in (0, 1], 0 where ``mask`` is 0. Per reach, in order, the
    foreground (largest ``scaled`` within the window) and background (smallest) fill, each with
    where it exists (1 when the window holds a measured pixel): the fill equals ``scaled`` at one
    measured pixel of the window there, and is 0 elsewhere."""

    def __init__(self, reaches: tuple[int, ...] = (1, 2, 4, 8)) -> None:
        super().__init__()
        reaches = tuple(int(r) for r in reaches)
        if not reaches or min(reaches) < 1 or list(reaches) != sorted(set(reaches)):
            raise ValueError(f"window fills: reaches must be increasing and >= 1, got {reaches}")
        self.reaches = reaches

    def forward(self, scaled: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Both fills as maxima: the background as the largest of (2 - scaled) where measured (in
        # [1, 2) for scaled in (0, 1]; 0 where nothing is), so the missing 0s never win.
        stack = torch.cat([scaled * mask, (2 - scaled) * mask, mask], 1)
        fills, valid, done = [], [], 0
        for r in self.reaches:
            k = 2 * (r - done) + 1      # the window grows from 2*done+1 to 2*r+1
            stack = F.max_pool2d(stack, (1, k), stride=1, padding=(0, k // 2))
            stack = F.max_pool2d(stack, (k, 1), stride=1, padding=(k // 2, 0))
            done = r
            near, far, seen = stack.split(1, dim=1)
            fills += [near, (2 - far) * seen]
            valid += [seen, seen]
        return torch.cat(fills, 1), torch.cat(valid, 1)


class CandidateSelection(nn.Module):
    """``(candidates [B,N,H,W], guide [B,C,H,W]) -> (chosen [B,1,H,W], weights [B,N,H,W])``: a
    per-pixel softmax over the ``N`` candidates from a small head on ``guide``. Candidate 0 is
    favoured at the start (``start_bias``), so training begins close to it."""

    def __init__(self, in_channels: int, candidates: int, hidden: int = 16, start_bias: float = 5.0,
                 stride: int = 1, first_kernel: int = 3, pixel: bool = False, context: int = 0) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"candidate selection: stride must be 1 or 2, got {stride}")
        if isinstance(context, bool) or not isinstance(context, int) or context < 0:
            raise ValueError(f"candidate selection: context must be a dilation >= 1, or 0 for none, got {context!r}")
        # With stride 2 the head reads the guide averaged over 2x2 pixels and its logits are
        # resized back bilinearly: a quarter of the cost; the choice is still made per pixel,
        # among full-resolution candidates.
        self.stride = stride
        # ``first_kernel`` 1 mixes the many guide channels per pixel before the 3x3 layers: most of
        # the head's cost is that first layer.
        self.register_buffer("ones", torch.ones(1, candidates, 1, 1), persistent=False)
        self.head = nn.Sequential(nn.Conv2d(in_channels, hidden, first_kernel, 1, first_kernel // 2),
                                  nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(hidden, candidates, 3, 1, 1))
        nn.init.zeros_(self.head[-1].weight)
        with torch.no_grad():
            self.head[-1].bias.zero_()
            self.head[-1].bias[0] = start_bias
        # ``context``: a residual 3x3 layer of that dilation on the hidden features before the last
        # layer, which widens what a choice sees by ``context`` of the head's pixels each way (2
        # each way without it with first_kernel 1, as shipped). Its last layer starts at 0: the
        # choice unchanged.
        self.context = None
        if context:
            self.context = nn.Sequential(nn.Conv2d(hidden, hidden, 3, 1, context, dilation=context),
                                         nn.ReLU(inplace=True), nn.Conv2d(hidden, hidden, 1))
            nn.init.zeros_(self.context[-1].weight)
            nn.init.zeros_(self.context[-1].bias)
        # ``pixel``: a 1x1 layer on the full-resolution guide adds to the logits, so that a choice
        # can change from one pixel to the next (next to a measurement, say) where the
        # half-resolution head's logits are smooth. It starts at 0: the head's choice unchanged.
        self.pixel = None
        if pixel:
            self.pixel = nn.Conv2d(in_channels, candidates, 1)
            nn.init.zeros_(self.pixel.weight)
            nn.init.zeros_(self.pixel.bias)

    def _logits(self, guide: torch.Tensor) -> torch.Tensor:
        if self.context is None:
            return self.head(guide)
        features = self.head[:-1](guide)
        return self.head[-1](features + self.context(features))

    def forward(self, candidates: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._logits(guide) if self.stride == 1 else at_half_resolution(self._logits, guide)
        if self.pixel is not None:
            logits = logits + self.pixel(guide)
        # The softmax over candidates written out: ONNX Runtime's Softmax on axis 1 transposes the
        # whole tensor twice (6.7 ms of a 38 ms graph at 512x160); this is a few elementwise passes.
        # Its two sums over the candidates are 1x1 convolutions with weights of 1, and the weighted
        # mean is divided once: ONNX Runtime's ReduceSum over the channel axis took 1.2-1.4 ms each
        # at 512x160, and the 13-channel division 0.25 ms (the default's graph 2.5 ms faster). They
        # run in the precision the sums ran in before (float32 under autocast, where exp gives
        # float32 and a convolution would run in half precision).
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        dtype = torch.promote_types(weights.dtype, candidates.dtype)
        with torch.autocast(weights.device.type, enabled=False):
            weights, ones = weights.to(dtype), self.ones.to(dtype)
            total = F.conv2d(weights, ones)
            return F.conv2d(weights * candidates.to(dtype), ones) / total, weights / total


class PyramidMean(nn.Module):
    """``(values [B,1,H,W], mask [B,1,H,W]) -> (mean [B,1,H,W], valid [B,1,H,W])``: per pixel, the
    mean of the measured ``values`` within the 3x3 blocks around it at the finest pyramid level
    (blocks of 1, 2, 4, ... ``2**(levels-1)`` pixels) whose window holds a measurement; ``valid``
    is 0 where none of them does (and ``mean`` is 0 there). H and W must be multiples of
    ``2**(levels-1)`` (the SAN models pad to 32: ``levels`` <= 6).

    A hole-filling interpolation that, unlike a push-pull pyramid, never blends a coarse level
    into a pixel a finer level can fill: near a point it is the local mean of the measurements,
    far from all it is a wider one. On the real kitchen its fill scores 1.02-1.19x classical
    interpolation, where the push-pull prior scores 1.14-1.58x (docs/models.md). Each level is a
    2x2 average pool of the previous one and a 3x3 one, and the cascade runs coarse to fine with
    one nearest-neighbour upsampling per level: 0.3 ms at 512x160 on ONNX Runtime, where a
    centred window of the same reaches (separable pools of up to 33 pixels) costs 4 ms."""

    def __init__(self, levels: int = 6) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"pyramid mean: need levels >= 1, got {levels}")
        self.levels = int(levels)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        block = 2 ** (self.levels - 1)
        if values.shape[-2] % block or values.shape[-1] % block:
            raise ValueError(f"pyramid mean: {self.levels} levels need H and W multiples of {block}, "
                             f"got {tuple(values.shape[-2:])}")
        stack = torch.cat([values * mask, mask], 1)
        means, seen = [], []
        for level in range(self.levels):
            if level:
                stack = F.avg_pool2d(stack, 2)
            total, count = F.avg_pool2d(stack, 3, stride=1, padding=1).split(1, dim=1)
            empty = (count <= 0).to(values.dtype)
            means.append(total / (count + empty))   # 0 where empty, in any precision (1e-12 is 0 in fp16)
            seen.append(1 - empty)
        mean, valid = means[-1] * seen[-1], seen[-1]
        for level in range(self.levels - 2, -1, -1):
            mean = F.interpolate(mean, scale_factor=2.0, mode="nearest")
            valid = F.interpolate(valid, scale_factor=2.0, mode="nearest")
            mean = seen[level] * means[level] + (1 - seen[level]) * mean
            valid = torch.maximum(valid, seen[level])
        return mean, valid


def _neighbour_sums(weighted: torch.Tensor, weights: torch.Tensor, kernel: torch.Tensor):
    """Per pixel, the sums of ``weighted`` and of ``weights`` [B,1,H,W] over the neighbours that
    ``kernel`` [2,1,3,3] marks (one grouped convolution): ``(total, count)``."""
    return F.conv2d(torch.cat([weighted, weights], 1), kernel.to(weighted.dtype), padding=1, groups=2).split(1, dim=1)


class GrowFill(nn.Module):
    """``(values [B,1,H,W], mask [B,1,H,W]) -> (fill [B,1,H,W], valid [B,1,H,W])``: the measured
    ``values`` grown outwards one ring of pixels per step, ``steps`` times: each step, every empty
    pixel with measured or already filled 4-neighbours takes their mean. A pixel within
    ``steps`` pixels (city-block distance) of a measurement then holds the nearest measurement
    where one is nearer than all others, and a blend of the nearest where several are as near
    (weighted by the paths the growth took); ``valid`` is 0 beyond (and ``fill`` 0 there).
    Measured pixels keep their values.

    Why a nearest-measurement fill, when the window fills already give the nearest foreground and
    background within a few pixels: on a smooth surface measured precisely (the real kitchen's
    depth camera) the *nearest* measurement is the best interpolation there is at a held-out
    point, and neither extreme of a window is it. Scored alone at the network's resolution
    (ratios to classical at full resolution; the prior beyond ``steps``) it gives 1.03x classical
    on kitchen beams32, where the best earlier candidate gave 1.19x, and 0.94x on the simulated
    suite (docs/models.md). The 4-neighbour growth beat the 8-neighbour one there (1.01x).

    One grouped 3x3 convolution and a few elementwise operations per step: it exports to one ONNX
    graph."""

    def __init__(self, steps: int = 8) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"grow fill: need steps >= 1, got {steps}")
        self.steps = int(steps)
        cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        self.register_buffer("kernel", cross.expand(2, 1, 3, 3).clone(), persistent=False)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fill, valid = values * mask, mask
        for _ in range(self.steps):
            total, count = _neighbour_sums(fill, valid, self.kernel)
            grow = (1 - valid) * (count > 0).to(values.dtype)
            fill = fill + grow * total / count.clamp(min=1.0)
            valid = valid + grow
        return fill, valid


class ScanNoise(nn.Module):
    """``(values [B,1,H,W], mask [B,1,H,W]) -> features [B,3,1,1]``: how much each frame's
    measurements disagree with their measured 8-neighbours, a per-frame estimate of the sensor's
    noise. ``values`` are positive and proportional to inverse depth (the SAN's ``min_depth /
    depth``), which on a plane is linear in the pixel coordinates, so symmetric neighbours cancel
    a plane's slope exactly. At each measured pixel with a measured neighbour, the relative
    distance of its value from its neighbours' mean, ``|v - mean| / mean`` (about the relative
    depth error); one-sided neighbours (a gap, a ring's end) read part of the slope as noise. The
    features are: whether any pixel has a measured neighbour; the share of those within ``smooth``
    of their neighbours' mean; and the mean of the distances, each capped at ``cap``, as
    ``(log(mean + 1e-4) + 6) / 3`` (about -1 for a noiseless scan, 0.7 at the cap). All three are 0
    where no pixel has a measured neighbour (a few hundred scattered points).

    Why a per-frame figure: the best choice at a held-out point depends on the sensor. Where range
    noise is centimetres (a spinning LiDAR), averaging several measurements pays; where it is
    millimetres (a depth camera, the real kitchen), the nearest measurement is best, and at one
    pixel the two look alike (docs/models.md). Relative distances of inverse depths and ratios of
    means keep it exact in half precision. One grouped convolution and a few means: it exports to
    ONNX."""

    def __init__(self, smooth: float = 0.003, cap: float = 0.02) -> None:
        super().__init__()
        if not 0 < smooth < cap:
            raise ValueError(f"scan noise: need 0 < smooth < cap, got smooth={smooth}, cap={cap}")
        self.smooth, self.cap = float(smooth), float(cap)
        ring = torch.ones(3, 3)
        ring[1, 1] = 0.0
        self.register_buffer("kernel", ring.expand(2, 1, 3, 3).clone(), persistent=False)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        total, count = _neighbour_sums(values * mask, mask, self.kernel)
        has = mask * (count > 0).to(values.dtype)
        near = total / count.clamp(min=1.0)
        off = torch.abs(values - near) / torch.where(has > 0, near, torch.ones_like(near))
        # Ratios of means, not of sums: a frame's pixel count overflows half precision (65504).
        covered = has.mean(dim=(2, 3), keepdim=True)
        exists = (covered > 0).to(values.dtype)
        covered = torch.where(covered > 0, covered, torch.ones_like(covered))
        share = ((off < self.smooth).to(values.dtype) * has).mean(dim=(2, 3), keepdim=True) / covered  # 0 if none
        mean = (torch.clamp(off, max=self.cap) * has).mean(dim=(2, 3), keepdim=True) / covered
        level = (torch.log(mean + 1e-4) + 6.0) / 3.0
        return torch.cat([exists, share, level * exists], 1)


class PlaneFill(nn.Module):
    """``(values [B,1,H,W], mask [B,1,H,W]) -> (fill [B,1,H,W], valid [B,1,H,W])``: per pixel,
    the plane through the measured ``values`` of the ``(2*reach+1)²`` window around it, fitted by
    weighted least squares (Gaussian weights of ``sigma`` pixels, ``reach / 2`` unless given) and
    read at the pixel. ``values`` are proportional to inverse depth (the SAN's ``min_depth /
    depth``), which on a plane in the world is affine in the pixel coordinates, so a planar
    surface is reproduced exactly, and noise averages out over the window. ``valid`` is 0 where
    the window holds no measurement (and ``fill`` 0 there).

    The slope is ridge-regularised by ``ridge`` (pixels², 0.1 unless given) and computed about the
    measurements' weighted centroid (centred moments): along a direction the window's points do
    not span (a single straight LiDAR ring) the slope is 0, so the fill is the ring's fitted line
    read at the pixel's column, and a point on its own is its own value.

    Why: on a smooth surface seen at an angle every other candidate of the selection (the nearest
    measurement, a window's extremes, a mean) is constant between measurements and off by the
    slope; a plane is what such a surface is, between rings (docs/models.md).

    Weighted moments are separable convolutions (a row then a column pass of a few fixed
    kernels), then a 2x2 solve per pixel in closed form: it exports to one ONNX graph. It always
    runs in float32, as the normalised convolution does: the centred moments subtract numbers of
    similar size, and in half precision the fill is off by several per cent (bfloat16: up to a
    factor of two), more than the errors it is there to fix."""

    FLOAT32 = True   # runs in float32 whatever the precision: kept so in FP16 / INT8 engines too (export)

    def __init__(self, reach: int = 4, sigma: float | None = None, ridge: float = 0.1) -> None:
        super().__init__()
        if reach < 1:
            raise ValueError(f"plane fill: need reach >= 1, got {reach}")
        if not (math.isfinite(ridge) and ridge > 0):
            raise ValueError(f"plane fill: need a finite ridge > 0, got {ridge}")
        sigma = float(sigma) if sigma is not None else reach / 2.0
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"plane fill: need a finite sigma > 0, got {sigma}")
        self.reach, self.ridge = int(reach), float(ridge)
        d = torch.arange(-self.reach, self.reach + 1, dtype=torch.float32)
        w = torch.exp(-0.5 * (d / sigma) ** 2)
        # Any measurement in the window weighs at least the corner's w², far above this floor
        # unless sigma is tiny against the reach; below it the window counts as empty.
        self.empty = float(w[0] ** 2) * 1e-3
        taps = torch.stack([w, w * d, w * d * d])          # orders 0, 1, 2 of the offset
        # Row pass: (mask, mask*value) x 3 orders; column pass: each of those 6 x 3 orders. Of the
        # 18 products 9 are used; a dense pass that computes exactly those 9 was no faster on ONNX
        # Runtime than these two grouped ones (docs/models.md).
        self.register_buffer("rows", taps.repeat(2, 1)[:, None, None, :].clone(), persistent=False)
        self.register_buffer("cols", taps.repeat(6, 1)[:, None, :, None].clone(), persistent=False)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(values.device.type, enabled=False):
            fill, valid = self._forward(values.float(), mask.float())
        return fill.to(values.dtype), valid.to(values.dtype)

    def _forward(self, values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.reach
        x = torch.cat([mask, values * mask], 1)
        x = F.conv2d(x, self.rows, padding=(0, r), groups=2)     # [B,6]: m·u^i, mv·u^i
        x = F.conv2d(x, self.cols, padding=(r, 0), groups=6)     # [B,18]: (row i) x v^j
        # [B, source, i, j, H, W]: source 0 = mask, 1 = mask * value; u^i across, v^j down.
        m = x.unflatten(1, (2, 3, 3))
        n = m[:, 0, 0, 0:1]
        valid = (n > self.empty).to(values.dtype)
        # 1 where the window is empty (its fill is multiplied by 0). Arithmetic rather than
        # where(..., ones_like(n)): the exporter folds that ones_like into a constant of the traced
        # size, and a graph exported for any input size then fails on every other size.
        n = n + (1.0 - valid)
        u, v, z = m[:, 0, 1, 0:1] / n, m[:, 0, 0, 1:2] / n, m[:, 1, 0, 0:1] / n
        cuu = m[:, 0, 2, 0:1] / n - u * u + self.ridge
        cvv = m[:, 0, 0, 2:3] / n - v * v + self.ridge
        cuv = m[:, 0, 1, 1:2] / n - u * v
        cuz = m[:, 1, 1, 0:1] / n - u * z
        cvz = m[:, 1, 0, 1:2] / n - v * z
        det = cuu * cvv - cuv * cuv                          # >= ridge² (a covariance plus ridge·I)
        b = (cvv * cuz - cuv * cvz) / det
        c = (cuu * cvz - cuv * cuz) / det
        return valid * (z - b * u - c * v), valid

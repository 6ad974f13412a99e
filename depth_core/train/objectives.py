"""Named loss terms for training stages. Each takes the model outputs of the passes it needs,
the batch and the model's config; a stage's objective is the weighted sum of the terms it names.

A term ending in ``_prediction`` uses the RGB-only pass, one ending in ``_completion`` the pass
with the sparse input; the trainer runs only the passes its current terms need.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..losses import (
    choice_loss,
    held_out_log_error,
    laplace_nll,
    log_l1,
    multiscale_silog,
    scale_loss,
    valid_depth_mask,
)
from ..losses.decomposition import decomposition_losses
from ..losses.densedepth import densedepth_loss
from ..losses.fusanet import SCALE_WEIGHTS, depth_confidence_loss, normalized_hessian_loss, sparse_loss
from ..losses.photometric import edge_aware_smoothness, reprojection_loss
from ..losses.structure import (
    berhu_loss,
    edge_weights,
    global_focal_relative_loss,
    normal_loss,
    scale_invariant_gradient_loss,
)
from ..models import ModelConfig

__all__ = ["LOSSES", "SELF_SUPERVISED", "needed_passes", "register_loss"]

#: Terms that need no ground-truth depth, only video with known camera motion.
SELF_SUPERVISED = frozenset({"photometric_prediction", "smoothness_prediction"})

LOSSES: dict[str, Callable[[dict, dict, ModelConfig], torch.Tensor]] = {}


def register_loss(name: str):
    def wrap(fn):
        LOSSES[name] = fn
        return fn
    return wrap


@register_loss("silog_prediction")
def _silog_prediction(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    return multiscale_silog(outputs["prediction"]["inv_depths"], batch["depth"], valid_depth_mask(batch["depth"]))


@register_loss("silog_completion")
def _silog_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    return multiscale_silog(outputs["completion"]["inv_depths"], batch["depth"], valid_depth_mask(batch["depth"]))


@register_loss("scale_prediction")
def _scale_prediction(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    return scale_loss(1.0 / outputs["prediction"]["inv_depths"][0].clamp(min=1e-6), batch["depth"])


@register_loss("scale_completion")
def _scale_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    return scale_loss(1.0 / outputs["completion"]["inv_depths"][0].clamp(min=1e-6), batch["depth"])


@register_loss("logl1_completion")
def _logl1_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """The completion's log-depth error on dense ground truth plus, as its own mean, at the
    scan's points held out of the input (the protocol it is scored by)."""
    return log_l1(outputs["completion"]["depth"], batch["depth"], batch.get("lidar"), batch.get("sparse"))


@register_loss("logrel_completion")
def _logrel_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """The log of each sample's mean log-depth error at its held-out scan points (0 without a
    scan): a relative error, so that precise scans, whose errors are small, count as much as noisy
    ones (:func:`~depth_core.losses.held_out_log_error`)."""
    if batch.get("lidar") is None:
        return outputs["completion"]["depth"].sum() * 0
    return held_out_log_error(outputs["completion"]["depth"], batch["lidar"], batch["sparse"])


@register_loss("logpt_completion")
def _logpt_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """The log of the log-depth error at each held-out scan point, averaged per sample and then
    over the samples (0 without a scan): a relative error per point, so that a smooth surface's
    small errors count as much as a depth edge's large ones
    (:func:`~depth_core.losses.held_out_log_error` with ``per_point``)."""
    if batch.get("lidar") is None:
        return outputs["completion"]["depth"].sum() * 0
    return held_out_log_error(outputs["completion"]["depth"], batch["lidar"], batch["sparse"], per_point=True)


def _with_confidence(out: dict, loss: str, config: ModelConfig) -> dict:
    if "error_scale" not in out:
        raise ValueError(f"{loss}: {config.name} has no confidence output; remove the confidence losses from the "
                         "training config (or fine-tune a model with one, such as the default)")
    return out


@register_loss("choice_completion")
def _choice_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """A choosing completion's weights on its candidates against the candidates' errors on the
    dense ground truth (:func:`~depth_core.losses.choice_loss`)."""
    out = outputs["completion"]
    if "choice_weights" not in out:
        raise ValueError(f"choice_completion: {config.name} does not choose among candidates (arch.selection); "
                         "remove the loss from the training config")
    return choice_loss(out["choice_weights"], out["choice_candidates"], batch["depth"], out["choice_free"])


@register_loss("confidence_completion")
def _confidence_completion(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    out = _with_confidence(outputs["completion"], "confidence_completion", config)
    return laplace_nll(out["depth"], out["error_scale"], batch["depth"], batch.get("lidar"), batch.get("sparse"))


@register_loss("confidence_prediction")
def _confidence_prediction(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    out = _with_confidence(outputs["prediction"], "confidence_prediction", config)
    return laplace_nll(out["depth"], out["error_scale"], batch["depth"])


def _video(batch: dict) -> None:
    if "context" not in batch:
        raise ValueError("photometric / smoothness losses need video samples: a frame set with camera poses "
                         "and a `video:` section in the training config (config/train/finetune_video.yaml)")


@register_loss("photometric_prediction")
def _photometric_prediction(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """View synthesis from the context frames through the prediction's depth at every scale
    (upsampled to the input's size), moved by the known metric poses: the minimum reprojection
    error with auto-masking (:mod:`depth_core.losses.photometric`)."""
    _video(batch)
    image = batch["image"]
    h, w = image.shape[-2:]
    terms = []
    for inv in outputs["prediction"]["inv_depths"]:
        if inv.shape[-2:] != (h, w):
            inv = F.interpolate(inv, size=(h, w), mode="bilinear", align_corners=False)
        # The network's depth is canonical; the poses are metric.
        depth = 1.0 / inv.clamp(min=1e-6) / batch["canonical"]
        terms.append(reprojection_loss(image, batch["context"], depth, batch["K"], batch["T_ctx"])[0])
    return torch.stack(terms).mean()


@register_loss("smoothness_prediction")
def _smoothness_prediction(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """Edge-aware smoothness of the prediction's mean-normalised inverse depth, scale s weighted 1 / 2**s."""
    _video(batch)
    terms = []
    for s, inv in enumerate(outputs["prediction"]["inv_depths"]):
        image = batch["image"] if s == 0 else F.interpolate(batch["image"], size=inv.shape[-2:], mode="area")
        terms.append(edge_aware_smoothness(inv, image) / 2 ** s)
    return torch.stack(terms).sum()


@register_loss("densedepth_prediction")
def _densedepth(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    m = float(config.arch.get("target_max", config.max_depth))
    return densedepth_loss(outputs["prediction"]["target"], batch["depth"], m, config.min_depth, config.max_depth)


def _structure(fn, edge_aware: bool):
    """A seed-001 loss on the prediction pass; ``edge_aware``: x5 weight near ground-truth edges."""
    def term(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
        gt = batch["depth"]
        valid = valid_depth_mask(gt, max_depth=config.max_depth)
        weights = edge_weights(gt) if edge_aware else None
        return fn(outputs["prediction"]["depth"], gt, valid, weights)
    return term


register_loss("berhu_prediction")(_structure(berhu_loss, True))
register_loss("gradient_prediction")(_structure(scale_invariant_gradient_loss, True))
register_loss("normal_prediction")(_structure(normal_loss, True))
register_loss("gfrl_prediction")(_structure(lambda p, g, v, w: global_focal_relative_loss(p, g, v), False))


@register_loss("decomposition_prediction")
def _decomposition(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """Phase 2 of depth-map decomposition (Jun et al.): every term (G, N, multi-scale gradients, M, mu,
    log-M), unweighted."""
    return sum(decomposition_losses(outputs["prediction"], batch["depth"]).values())


@register_loss("decomposition_relative_prediction")
def _decomposition_relative(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """Phase 1 of depth-map decomposition (Jun et al.; and relative-only data): the G and N terms only."""
    return sum(decomposition_losses(outputs["prediction"], batch["depth"], metric=False).values())


@register_loss("fusanet_completion")
def _fusanet(outputs: dict, batch: dict, config: ModelConfig) -> torch.Tensor:
    """Seed 000: sum over five scales (weights 1, .75, .5, .25, .125) and both Fusion-Net passes
    of beta L_DC + phi L_S + lambda L_H, with mu = theta = beta = psi = 1, phi = 5, lambda = 0.01.
    The guiding points come from the ``sift`` sparse policy (the 'completion' pass)."""
    out, gt = outputs["completion"], batch["depth"]
    epoch = int(batch.get("epoch", 1))
    total = gt.new_zeros(())
    for depths, confs in ((out["scales"], out["confidences"]), (out["first_scales"], out["first_confidences"])):
        for weight, depth, conf in zip(SCALE_WEIGHTS, depths, confs):
            g = F.interpolate(gt, size=depth.shape[-2:], mode="nearest")
            valid = valid_depth_mask(g, max_depth=config.max_depth)
            guide = F.adaptive_max_pool2d(out["guide_mask"], depth.shape[-2:]) * valid
            term = depth_confidence_loss(depth, conf, g, valid, epoch) + 0.01 * normalized_hessian_loss(depth, g, valid)
            if guide.sum() > 0:
                term = term + 5.0 * sparse_loss(depth, g, valid, guide)
            total = total + weight * term
    return total


def needed_passes(losses: dict) -> list[str]:
    unknown = sorted(set(losses) - set(LOSSES))
    if unknown:
        raise ValueError(f"losses: unknown loss '{unknown[0]}' (known: {', '.join(sorted(LOSSES))})")
    return [p for p in ("prediction", "completion") if any(n.endswith(p) for n in losses)]

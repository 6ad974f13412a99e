"""Named loss terms for training stages. Each takes the model outputs of the passes it needs
and the batch; a stage's objective is the weighted sum of the terms it names.

A term ending in ``_prediction`` uses the RGB-only pass, one ending in ``_completion`` the pass
with the sparse input; the trainer runs only the passes its current terms need.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..losses import multiscale_silog, valid_depth_mask

__all__ = ["LOSSES", "needed_passes", "register_loss"]

LOSSES: dict[str, Callable[[dict, dict], torch.Tensor]] = {}


def register_loss(name: str):
    def wrap(fn):
        LOSSES[name] = fn
        return fn
    return wrap


@register_loss("silog_prediction")
def _silog_prediction(outputs: dict, batch: dict) -> torch.Tensor:
    return multiscale_silog(outputs["prediction"]["inv_depths"], batch["depth"], valid_depth_mask(batch["depth"]))


@register_loss("silog_completion")
def _silog_completion(outputs: dict, batch: dict) -> torch.Tensor:
    return multiscale_silog(outputs["completion"]["inv_depths"], batch["depth"], valid_depth_mask(batch["depth"]))


def needed_passes(losses: dict) -> list[str]:
    unknown = sorted(set(losses) - set(LOSSES))
    if unknown:
        raise ValueError(f"losses: unknown loss '{unknown[0]}' (known: {', '.join(sorted(LOSSES))})")
    return [p for p in ("prediction", "completion") if any(n.endswith(p) for n in losses)]

"""Training losses, each a function of tensors that can be tested alone."""

from __future__ import annotations

from .completion import choice_loss, held_out_log_error, held_out_mask, laplace_nll, log_l1
from .silog import multiscale_silog, san_loss, scale_loss, silog_loss, valid_depth_mask

__all__ = ["choice_loss", "held_out_log_error", "held_out_mask", "laplace_nll", "log_l1", "multiscale_silog",
           "san_loss", "scale_loss", "silog_loss", "valid_depth_mask"]

"""Training losses, each a function of tensors that can be tested alone."""

from __future__ import annotations

from .silog import multiscale_silog, san_loss, scale_loss, silog_loss, valid_depth_mask

__all__ = ["multiscale_silog", "san_loss", "scale_loss", "silog_loss", "valid_depth_mask"]

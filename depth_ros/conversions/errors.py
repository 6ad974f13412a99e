"""Conversion errors carry a short ``reason`` code, so callers can count skips by cause."""

from __future__ import annotations

__all__ = ["ConversionError"]


class ConversionError(ValueError):
    """A message could not be converted. ``reason`` is one of: ``truncated_data``,
    ``unknown_encoding``, ``step_mismatch``, ``bad_size``, ``bad_point_step``, ``missing_field``,
    ``empty_cloud``, ``zero_k``, ``zero_p``, ``bad_transform``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

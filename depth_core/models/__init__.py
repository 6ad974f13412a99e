"""Depth networks behind one registry (timm style): ``list_models()``, ``create_model(name)``.

Every model takes ``image [B,3,H,W]`` in [0, 1] and optional ``sparse_depth [B,1,H,W]`` in metres
(0 = missing) and returns ``{'depth': [B,1,H,W] metres}`` at the input resolution, plus
``'inv_depths'`` (four scales) in training mode. Its :class:`ModelConfig` travels with its weights.
"""

from __future__ import annotations

from . import variants  # noqa: F401  (registers the variants)
from .base import DepthModel
from .checkpoint import ModelFileError, read_config, save_model
from .config import ModelConfig
from .factory import create_model, load_model, pretrained_path
from .registry import list_models, register_model

__all__ = [
    "DepthModel",
    "ModelConfig",
    "ModelFileError",
    "create_model",
    "list_models",
    "load_model",
    "pretrained_path",
    "read_config",
    "register_model",
    "save_model",
]

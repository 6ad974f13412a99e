"""Training: typed configuration, staged objectives, the trainer (one process or torchrun)."""

from __future__ import annotations

from .config import ConfigError, StageConfig, TrainConfig, load_train_config
from .objectives import LOSSES, register_loss
from .trainer import Trainer, evaluate_model

__all__ = ["LOSSES", "ConfigError", "StageConfig", "TrainConfig", "Trainer", "evaluate_model",
           "load_train_config", "register_loss"]

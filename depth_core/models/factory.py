"""Building models: a registered variant (``create_model``, optionally with its shipped weights)
or the model a file describes (``load_model``). The registry records the variants; the checkpoint
module reads and writes the files; this module joins the two."""

from __future__ import annotations

from pathlib import Path

from .base import DepthModel
from .checkpoint import ModelFileError, load_weights, read_config
from .registry import model_entrypoint

__all__ = ["WEIGHTS_DIR", "create_model", "load_model", "pretrained_path"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def pretrained_path(name: str) -> Path:
    """Where the shipped weights of ``name`` live (``<name>.safetensors`` + ``<name>.json``)."""
    return WEIGHTS_DIR / f"{name}.safetensors"


def create_model(name: str, pretrained: bool = False, **overrides) -> DepthModel:
    """Build a registered model. ``overrides`` replace config fields (``input_height``,
    ``min_depth``...) or set architecture options. With ``pretrained``, load the shipped weights
    (their saved config wins over the defaults; explicit overrides still apply)."""
    entrypoint = model_entrypoint(name)
    if not pretrained:
        return entrypoint(**overrides)
    path = pretrained_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained weights shipped for '{name}' (expected {path}); "
                                "train them, or use initial weights (pretrained=False / --no-pretrained)")
    return load_model(path, **overrides)


def load_model(path: str | Path, **overrides) -> DepthModel:
    """Build the model its config names and load the weights (strictly: every key, every shape)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    config = read_config(path)
    saved = {k: v for k, v in config.to_dict().items() if k != "name"}
    # The weights below replace any initial ones: never go looking for the ImageNet file it was
    # trained from (it need not exist where the model runs).
    saved["arch"] = {k: v for k, v in saved["arch"].items() if k != "imagenet_weights"}
    return load_weights(create_model(config.name, **{**saved, **overrides}), path)

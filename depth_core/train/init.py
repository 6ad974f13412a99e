"""Where a run's weights start: ``init:`` names shipped weights (``default``, a registry name) or
a model file, whose config is the architecture (with ``model_args`` on top). Every problem is one
line naming the file, found before any data is read or generated."""

from __future__ import annotations

from pathlib import Path

from ..models import ModelFileError, create_model, list_models, load_model, pretrained_path, read_config
from ..models.base import DepthModel
from ..models.checkpoint import load_weights
from ..models.config import ModelConfig
from .config import ConfigError

__all__ = ["init_model", "resolve_init"]

# The model file's weights replace any initial ones, so the ImageNet checkpoint is never read.
_INITIAL_ONLY = ("imagenet_weights",)


def resolve_init(spec: str) -> Path:
    """The model file ``init: spec`` names: the shipped weights of ``default`` or a registry name,
    else ``spec`` as a path to a ``.safetensors`` model file."""
    from ..inference import DEFAULT_MODEL

    name = DEFAULT_MODEL if spec == "default" else spec
    if name in list_models():
        path = pretrained_path(name)
        if not path.is_file():
            raise ConfigError(f"init: '{spec}' ships no weights (expected {path}); name a model file instead")
        return path
    path = Path(spec)
    if path.suffix != ".safetensors":
        raise ConfigError(f"init: '{spec}' is neither 'default', a registry model ({', '.join(list_models())}) "
                          "nor a .safetensors model file")
    if not path.is_file():
        raise ConfigError(f"init: {path}: model file not found")
    return path


def init_model(spec: str, model: str | None, model_args: dict,
               new_parts: tuple[str, ...] = (), grown_parts: tuple[str, ...] = ()) -> tuple[DepthModel, Path]:
    """The model ``init: spec`` starts from, its architecture from the file's config with
    ``model_args`` on top, and the file. ``model`` (the config's ``model:``, when given) must name
    the same architecture, unless ``new_parts`` (``init_new:``) lists the parameter-name prefixes
    that ``model`` adds to the file's or replaces (a head of another shape): then ``model`` is built
    with the file's input settings and every tensor outside ``new_parts`` is loaded; those under
    them start at their initial values. ``grown_parts`` (``init_grow:``) lists those that ``model``
    widens (channels added last): the file's values fill their leading slice
    (:func:`~depth_core.models.checkpoint.load_weights`). Missing or unexpected tensors and wrong
    shapes are listed by name."""
    path = resolve_init(spec)
    try:
        config: ModelConfig = read_config(path)
    except (ModelFileError, ValueError) as exc:
        raise ConfigError(f"init: {exc}") from None
    if new_parts or grown_parts:
        if model is None:
            key = "init_new" if new_parts else "init_grow"
            raise ConfigError(f"{key}: needs model: (the larger model to grow from the init weights)")
        if model not in list_models():
            raise ConfigError(f"model: '{model}' is not a registry model ({', '.join(list_models())})")
        # The file's settings (depth range, canonical camera, input size, its architecture
        # options) on the new model's defaults, then model_args.
        saved = {k: v for k, v in config.to_dict().items() if k != "name"}
        saved["arch"] = {k: v for k, v in saved["arch"].items() if k not in _INITIAL_ONLY}
        args = {k: v for k, v in model_args.items() if k not in _INITIAL_ONLY}
        try:
            return load_weights(create_model(model, **{**saved, **args}), path, tuple(new_parts),
                                tuple(grown_parts)), path
        except (ModelFileError, ValueError) as exc:
            raise ConfigError(f"init: {exc}") from None
    if model is not None and model != config.name:
        raise ConfigError(f"init: {path} holds a '{config.name}' model, but model: is '{model}'; they must be the "
                          f"same architecture (drop model:, or set model: {config.name})")
    args = {k: v for k, v in model_args.items() if k not in _INITIAL_ONLY}
    try:
        return load_model(path, **args), path
    except (ModelFileError, ValueError) as exc:
        raise ConfigError(f"init: {exc}") from None

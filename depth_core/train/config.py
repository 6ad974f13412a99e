"""The training configuration: one typed schema, every key at its default here. YAML files hold
only differences; ``key=value`` overrides (dotted paths, list indices: ``stages.1.lr=5e-5``) go on
top; the resolved configuration is saved with every run and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..data.augment import AugmentConfig, SparseConfig
from ..data.config import DatasetConfig
from ..data.video import VideoConfig

__all__ = ["ConfigError", "OptimizerConfig", "StageConfig", "TrainConfig", "load_train_config"]


class ConfigError(ValueError):
    """A configuration file or override names a key that does not exist or has a bad value."""


@dataclass
class StageConfig:
    name: str = "train"
    steps: int = 1000
    lr: float = 1e-4
    lr_decay_every: int = 0          # halve (lr_decay) every this many steps of the stage; 0 = never
    lr_decay: float = 0.5
    warmup_steps: int = 0            # linear learning-rate warm-up at the start of the stage
    freeze: list = field(default_factory=list)    # model components (rgb_encoder, san, decoder) frozen
    freeze_norm_stats: list = field(default_factory=list)  # components whose batch norms use their running
    #                                  statistics (as at inference) while their weights still train
    losses: dict = field(default_factory=lambda: {"silog_prediction": 1.0})  # loss name -> weight
    lr_scale: dict = field(default_factory=dict)  # component -> factor on lr (e.g. a pretrained encoder's 0.1)


@dataclass
class OptimizerConfig:
    name: str = "adamw"              # adamw | adam | rmsprop
    betas: tuple = (0.9, 0.999)      # adam / adamw
    weight_decay: float = 1e-2
    momentum: float = 0.9            # rmsprop
    alpha: float = 0.99              # rmsprop smoothing


@dataclass
class TrainConfig:
    model: str | None = None          # registry name; null: init's model, else san_resnet18
    model_args: dict = field(default_factory=dict)    # config overrides / architecture options
    init: str | None = None           # start from these weights: default, a registry name with shipped weights,
    #                                   or a .safetensors model file (its config is the architecture, with
    #                                   model_args on top); --resume's checkpoint takes precedence
    init_new: list = field(default_factory=list)   # parameter-name prefixes that start at their initial values
    #                                   whatever the init file holds there (missing, or another shape): a model
    #                                   (model:, which may then differ from init's) grown from smaller weights,
    #                                   or with a part replaced
    init_grow: list = field(default_factory=list)  # prefixes whose tensors the model widens by channels added
    #                                   last: the file's values fill the leading slice; the rest of a parameter
    #                                   starts at 0, of a buffer at its initial value (models.checkpoint.load_weights)
    data: list = field(default_factory=lambda: [DatasetConfig()])   # list of DatasetConfig
    val: DatasetConfig | None = None
    holdout: float = 0.0              # with no val set: hold the last share of each training sequence's frames,
    #                                   by time, out for validation (and the report)
    report: bool = False              # at the end: report.md on the validation set, before (init) and after
    report_images: int = 3            # sample images in the report
    val_samples: int = 48             # evaluated every eval_every steps
    eval_max_depth: float = 80.0      # metrics cap
    video: VideoConfig | None = None  # self-supervised from video: each frame with context frames chosen by the
    #                                   camera's baseline (photometric_* / smoothness_* losses need it)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    stages: list = field(default_factory=lambda: [StageConfig()])   # list of StageConfig
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    batch_size: int = 4               # per process
    workers: int = 0                  # DataLoader worker processes
    seed: int = 0
    log_every: int = 10
    eval_every: int = 500
    checkpoint_every: int = 500
    amp: bool = True                  # mixed precision: float16 on CUDA, bfloat16 on CPUs with native bf16
    channels_last: bool = True        # NHWC tensors: faster convolutions on CPU (oneDNN) and tensor cores
    device: str = "auto"              # auto | cpu | cuda | cuda:N
    tensorboard: bool = False         # also write TensorBoard events (CSV is always written)
    save_dtype: str = "float32"       # final weights: float32 | float16 | int8 (per-channel weights)
    save_float16: list = field(default_factory=list)   # with int8: components kept float16 (e.g. [decoder])

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


_LIST_ITEMS = {("TrainConfig", "data"): DatasetConfig, ("TrainConfig", "stages"): StageConfig}


def _build(cls, values, path: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{path + '.' if path else ''}{unknown[0]}: no such config key "
                          f"(known: {', '.join(fields)})")
    kwargs = {}
    for name, value in values.items():
        key = f"{path}.{name}" if path else name
        item_cls = _LIST_ITEMS.get((cls.__name__, name))
        hint = hints[name]
        if item_cls is not None:
            if not isinstance(value, list):
                raise ConfigError(f"{key}: expected a list")
            kwargs[name] = [_build(item_cls, v, f"{key}.{i}") for i, v in enumerate(value)]
        elif dataclasses.is_dataclass(_dataclass_of(hint)) and value is not None:
            kwargs[name] = _build(_dataclass_of(hint), value, key)
        else:
            kwargs[name] = _coerce(value, hint, key)
    return cls(**kwargs)


def _coerce(value, hint, key: str):
    """Numbers written as strings (YAML reads ``5e-5`` as text) become numbers; wrong types fail."""
    origin = typing.get_origin(hint)
    if origin in (tuple, list, dict):
        return value
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options or hint is typing.Any:
            return None
        raise ConfigError(f"{key}: must not be null")
    for kind in (bool, int, float):
        if kind in options and not (kind is int and float in options):
            if isinstance(value, bool) and kind is not bool:
                break
            if isinstance(value, kind) or (kind is float and isinstance(value, int) and not isinstance(value, bool)):
                return kind(value) if kind is not bool else value
            if isinstance(value, str) and kind is not bool:
                try:
                    return kind(value)
                except ValueError:
                    raise ConfigError(f"{key}: expected a number, got '{value}'") from None
            raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}")
    return value


def _dataclass_of(hint):
    for candidate in typing.get_args(hint) or (hint,):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _apply_override(tree: dict, dotted: str, raw: str) -> None:
    value = yaml.safe_load(raw)
    parts = dotted.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                raise ConfigError(f"{'.'.join(parts[:i + 1])}: no such list item") from None
        else:
            node = node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError):
            raise ConfigError(f"{dotted}: no such list item") from None
    else:
        node[last] = value


def load_train_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Defaults <- YAML file <- ``key=value`` overrides, checked against the schema."""
    tree: dict = {}
    if path is not None:
        path = Path(path)
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    # Start from the full default tree so that overrides can reach list items (stages.1.lr).
    merged = TrainConfig().to_dict()
    _deep_update(merged, tree)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}': expected key=value")
        _apply_override(merged, key.strip(), raw)
    try:
        return _build(TrainConfig, merged, "")
    except TypeError as exc:
        raise ConfigError(f"{path or 'config'}: {exc}") from None


def _deep_update(base: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in ("model_args", "losses",
                                                                                        "simulate", "modes"):
            _deep_update(base[key], value)
        else:
            base[key] = value

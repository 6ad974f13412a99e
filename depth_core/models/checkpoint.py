"""Saving and loading models as data: safetensors weights plus the JSON config beside them
(``model.safetensors`` + ``model.json``; the config is also embedded in the safetensors header).
Nothing is ever unpickled."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .base import DepthModel
from .config import ModelConfig

__all__ = ["ModelFileError", "load_weights", "read_config", "save_model"]


class ModelFileError(Exception):
    """A model file is missing, truncated, corrupt, or does not match its config."""


_SCALE = ".__int8_scale__"


def _compress(state: dict, dtype: str, float16_prefixes: tuple[str, ...] = ()) -> dict:
    """float16: every float tensor halved. int8: weights of rank >= 2 stored as int8 with a
    float32 scale per output channel (symmetric, max-abs), the rest, and every tensor whose name
    starts with one of ``float16_prefixes``, as float16. Loading restores float32 (see
    :func:`_restore`)."""
    if dtype == "float32":
        return state
    if dtype not in ("float16", "int8"):
        raise ValueError(f"dtype: expected float32, float16 or int8, got '{dtype}'")
    out = {}
    for key, t in state.items():
        if not t.is_floating_point():
            out[key] = t
        elif dtype == "int8" and t.dim() >= 2 and t.numel() >= 256 and not key.startswith(tuple(float16_prefixes)):
            scale = t.abs().flatten(1).amax(dim=1).clamp(min=1e-12) / 127.0
            out[key] = torch.round(t / scale.view(-1, *[1] * (t.dim() - 1))).to(torch.int8)
            out[key + _SCALE] = scale.float()
        else:
            out[key] = t.half()
    return out


def _restore(state: dict) -> dict:
    out = {}
    for key, t in state.items():
        if key.endswith(_SCALE):
            continue
        if key + _SCALE in state:
            scale = state[key + _SCALE]
            out[key] = t.float() * scale.view(-1, *[1] * (t.dim() - 1))
        elif t.dtype == torch.float16:
            out[key] = t.float()
        else:
            out[key] = t
    return out


def save_model(model: DepthModel, path: str | Path, extra_metadata: dict | None = None,
               dtype: str = "float32", float16_components: tuple[str, ...] = ()) -> Path:
    """Write ``path`` (.safetensors) and its config ``path.with_suffix('.json')``. ``dtype``
    float16 or int8 shrinks the file (2x / about 4x); with int8, ``float16_components`` (names
    from ``model.components()``) stay float16 where rounding to 8 bits costs accuracy. Loading
    always gives float32."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: model files end in .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = model.components()
    unknown = [c for c in float16_components if c not in parts]
    if unknown:
        raise ValueError(f"float16_components: '{unknown[0]}' is not a component of {model.config.name} "
                         f"({', '.join(parts)})")
    prefixes = tuple(p for c in float16_components for p in parts[c])
    state = _compress({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, dtype, prefixes)
    metadata = {"depth_ros.config": model.config.to_json(), "depth_ros.dtype": dtype, **(extra_metadata or {})}
    save_file(state, str(path), metadata={k: str(v) for k, v in metadata.items()})
    path.with_suffix(".json").write_text(model.config.to_json() + "\n")
    return path


def read_config(path: str | Path) -> ModelConfig:
    """The config of a model file: the JSON beside it, else the one embedded in its header."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        return ModelConfig.load(sidecar)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    if "depth_ros.config" not in meta:
        raise ModelFileError(f"{path}: no {sidecar.name} beside it and no config in its header")
    return ModelConfig.from_dict(json.loads(meta["depth_ros.config"]), str(path))


def _grown(state: dict, model: DepthModel, own: dict, prefixes: tuple[str, ...]) -> dict:
    """``state`` with each tensor under ``prefixes`` that ``model`` holds larger (same rank, no
    side smaller) widened to the model's shape: the file's values in the leading slice, 0 beyond
    in a parameter, the model's initial values (``own``, its state) beyond in a buffer. Any other
    mismatch is left for the caller to report."""
    params = dict(model.named_parameters())
    out = dict(state)
    for k, small in state.items():
        big = own.get(k)
        if not k.startswith(prefixes) or big is None or small.shape == big.shape:
            continue
        if small.dim() != big.dim() or any(a > b for a, b in zip(small.shape, big.shape)):
            continue
        merged = torch.zeros_like(big) if k in params else big.detach().clone()
        merged[tuple(slice(0, n) for n in small.shape)] = small.to(merged.dtype)
        out[k] = merged
    return out


def load_weights(model: DepthModel, path: str | Path, new_parts: tuple[str, ...] = (),
                 grown_parts: tuple[str, ...] = ()) -> DepthModel:
    """Load the weights of the model file ``path`` into ``model`` (strictly: every key, every
    shape, except that tensors under the prefixes ``new_parts`` keep their initial values: the file
    may lack them, or hold them in another shape, and whatever it holds there is not used);
    returns it in eval mode. Tensors under ``grown_parts`` may be larger in ``model`` than in the
    file (more channels in or out, appended: channels inserted elsewhere would be misaligned):
    the file's values fill their leading slice; the rest of a parameter starts at 0, so that the
    grown layers first compute what the file's did on the old channels, and the rest of a buffer
    (running statistics, say) at the model's initial values. Building the model its config names is
    :func:`~depth_core.models.load_model`'s."""
    path = Path(path)
    name = model.config.name
    try:
        with safe_open(str(path), framework="pt") as f:
            state = _restore({k: f.get_tensor(k) for k in f.keys()})
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
    own = model.state_dict()
    if new_parts:
        state = {k: v for k, v in state.items() if not k.startswith(tuple(new_parts))}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    missing = [k for k in missing if not k.startswith(tuple(new_parts))] if new_parts else missing
    if grown_parts:
        state = _grown(state, model, own, tuple(grown_parts))
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own
             if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ModelFileError(f"{path}: weights do not match a '{name}' model: missing {missing[:4]}, "
                             f"unexpected {unexpected[:4]}, wrong shapes {wrong[:4]}")
    with torch.no_grad():
        model.load_state_dict(state, strict=not new_parts)
    return model.eval()

"""Training checkpoints as data: the model (safetensors + JSON), the optimizer state as
safetensors tensors plus JSON for its scalars, and the position in the schedule. No pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..models import load_model, save_model

__all__ = ["find_latest", "load_train_state", "save_train_state"]


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_train_state(out: Path, step: int, stage: int, stage_step: int, model, optimizer, config: dict) -> Path:
    folder = out / "checkpoints" / f"step_{step:07d}"
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, tmp / "model.safetensors")
    tensors, meta = _flatten_optimizer(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "stage": stage, "stage_step": stage_step,
                                                "optimizer": meta, "config": config}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    (out / "checkpoints" / "latest").write_text(folder.name + "\n")
    return folder


def find_latest(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = out / "checkpoints" / pointer.read_text().strip()
    return folder if (folder / "state.json").is_file() else None


def load_train_state(folder: Path, model) -> tuple[int, int, int, dict]:
    """Load the weights into ``model``; return (step, stage, stage_step, optimizer state dict)."""
    loaded = load_model(folder / "model.safetensors")
    model.load_state_dict(loaded.state_dict())
    state = json.loads((folder / "state.json").read_text())
    optimizer = _unflatten_optimizer(load_file(str(folder / "optimizer.safetensors")), state["optimizer"])
    return state["step"], state["stage"], state["stage_step"], optimizer

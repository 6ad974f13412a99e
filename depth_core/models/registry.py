"""The model registry (timm style): it records the variant functions and lists them; building a
model is :mod:`.factory`'s."""

from __future__ import annotations

from collections.abc import Callable

from .base import DepthModel

__all__ = ["is_model", "list_models", "model_entrypoint", "register_model"]

_REGISTRY: dict[str, Callable[..., DepthModel]] = {}


def register_model(fn: Callable[..., DepthModel]) -> Callable[..., DepthModel]:
    """Record ``fn`` under its function name (a decorator)."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def is_model(name: str) -> bool:
    return name in _REGISTRY


def model_entrypoint(name: str) -> Callable[..., DepthModel]:
    """The variant function registered as ``name``; a ValueError naming the known ones if none is."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model '{name}'; available: {', '.join(list_models())}")
    return _REGISTRY[name]

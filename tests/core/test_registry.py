"""The model registry records and lists the variants; the factory builds them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from depth_core.models import checkpoint, create_model, factory, list_models, registry
from depth_core.models.registry import is_model, model_entrypoint
from depth_core.models.variants import san_resnet18


def test_registry_lists_the_san_models_and_rejects_unknown_names():
    assert {"san_resnet18", "san_packnet"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model 'san_nope'; available: .*san_resnet18"):
        create_model("san_nope")


def test_registry_covers_every_seed_family():
    assert {"san_resnet18", "san_packnet", "densedepth", "fusanet", "structure_aware", "decomposition"} <= set(
        list_models())


def test_entrypoints_are_the_variant_functions():
    assert is_model("san_resnet18") and not is_model("san_nope")
    assert model_entrypoint("san_resnet18") is san_resnet18
    with pytest.raises(ValueError, match="unknown model 'san_nope'"):
        model_entrypoint("san_nope")


def _imported_modules(module) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_registry_and_checkpoint_import_neither_the_factory_nor_each_other():
    """The registry only records; the checkpoint only reads and writes files; the factory joins them."""
    assert not {"factory", "checkpoint"} & _imported_modules(registry)
    assert not {"factory", "registry"} & _imported_modules(checkpoint)
    assert {"registry", "checkpoint"} <= _imported_modules(factory)

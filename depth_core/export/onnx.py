"""Export a depth model to one ONNX graph: inputs ``image`` [B,3,H,W] (RGB in [0,1]) and
``sparse_depth`` [B,1,H,W] (metres, 0 = missing; image-only models have no such input), output
``depth`` [B,1,H,W] metres (and ``confidence`` when the model has one). The model config rides
along in the ONNX metadata, so an ``.onnx`` file alone says how to preprocess for it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from ..models import DepthModel, ModelConfig

__all__ = ["CONFIG_KEY", "ExportError", "export_onnx", "read_onnx_config"]

CONFIG_KEY = "depth_ros.config"
DEFAULT_OPSET = 17


class ExportError(Exception):
    """A model could not be exported, or an ONNX file is not one of ours."""


class _Exported(nn.Module):
    """Fixed signature for export: always both inputs, tensors out in a fixed order."""

    def __init__(self, model: DepthModel, outputs: list[str]) -> None:
        super().__init__()
        self.model = model
        self.outputs = outputs

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor):
        out = self.model(image, sparse_depth if self.model.uses_sparse_depth else None)
        return tuple(out[name] for name in self.outputs)


def export_onnx(model: DepthModel, path: str | Path, *, height: int | None = None, width: int | None = None,
                dynamic: bool = False, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` to ``path`` and check it with ``onnx.checker``. ``height``/``width``
    default to the config's input size; ``dynamic`` makes batch, height and width symbolic."""
    if opset < 17:
        raise ExportError(f"opset must be >= 17, got {opset}")
    from ..models.layers.fkaconv import FKAConv

    if any(isinstance(m, FKAConv) for m in model.modules()):
        raise ExportError(f"{model.config.name} uses FKAConv (arch.point_conv: fkaconv), whose neighbour search "
                          "ONNX and TensorRT cannot express; export the point_conv: sparse variant instead")
    cfg = model.config
    h, w = height or cfg.input_height, width or cfg.input_width
    was_training = model.training
    model.eval()
    try:
        path = _export(model, Path(path), h, w, dynamic, opset)
    finally:
        # The exporter restores its wrapper's mode on every submodule; put the caller's back.
        model.train(was_training)
    return path


def _export(model: DepthModel, path: Path, h: int, w: int, dynamic: bool, opset: int) -> Path:
    cfg = model.config
    # Example inputs where the model is: a model already moved to a GPU (e.g. by the torch
    # backend) exports as it is.
    device = next(model.parameters()).device
    image = torch.rand(1, 3, h, w, device=device)
    sparse = torch.zeros(1, 1, h, w, device=device)
    sparse[0, 0, h // 2, w // 2] = 10.0
    with torch.no_grad():
        names = [k for k in ("depth", "confidence") if k in model(image, sparse)]
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {"image": {0: "batch", 2: "height", 3: "width"}, "sparse_depth": {0: "batch", 2: "height", 3: "width"},
            **{n: {0: "batch", 2: "height", 3: "width"} for n in names}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic are expected
        torch.onnx.export(_Exported(model, names).eval(), (image, sparse), str(path),
                          input_names=["image", "sparse_depth"],
                          output_names=names, opset_version=opset, dynamic_axes=axes, dynamo=False,
                          do_constant_folding=True)
    graph = onnx.load(str(path))
    meta = {CONFIG_KEY: cfg.to_json(), "depth_ros.input_size": json.dumps([h, w]),
            "depth_ros.dynamic": json.dumps(dynamic)}
    for key, value in meta.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))
    return path


def read_onnx_config(path: str | Path) -> tuple[ModelConfig, tuple[int, int] | None]:
    """The model config and fixed input size (None if dynamic) stored in one of our ONNX files."""
    path = Path(path)
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ExportError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {exc})") from None
    meta = {p.key: p.value for p in graph.metadata_props}
    if CONFIG_KEY not in meta:
        raise ExportError(f"{path}: ONNX file has no {CONFIG_KEY} metadata (not exported by depth-core export)")
    config = ModelConfig.from_dict(json.loads(meta[CONFIG_KEY]), str(path))
    dynamic = json.loads(meta.get("depth_ros.dynamic", "false"))
    size = None if dynamic else tuple(json.loads(meta["depth_ros.input_size"]))
    inputs = {i.name for i in graph.graph.input}
    if "image" not in inputs or not inputs <= {"image", "sparse_depth"}:
        raise ExportError(f"{path}: expected inputs 'image' (and 'sparse_depth'), found {sorted(inputs)}")
    return config, size

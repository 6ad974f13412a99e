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

__all__ = ["CONFIG_KEY", "ExportError", "export_onnx", "float32_scopes", "onnx_float32_scopes", "onnx_inputs",
           "read_onnx_config"]

CONFIG_KEY = "depth_ros.config"
FLOAT32_KEY = "depth_ros.float32_scopes"
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


def float32_scopes(model: DepthModel) -> list[str]:
    """The ONNX name scopes (``/model/plane/``) of the modules that run in float32 whatever the
    precision (their class sets ``FLOAT32``): ratios and centred moments that half precision
    ruins. Stored in the graph, so that an FP16 or INT8 TensorRT engine keeps their layers in
    float32 too (:func:`~depth_core.inference.tensorrt.build.pin_float32`)."""
    return sorted("/model/" + name.replace(".", "/") + "/" for name, module in model.named_modules()
                  if name and getattr(module, "FLOAT32", False))


def onnx_float32_scopes(path: str | Path) -> list[str]:
    """:func:`float32_scopes` as stored in one of our ONNX files ([] for a graph without them)."""
    graph = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in graph.metadata_props}
    return json.loads(meta.get(FLOAT32_KEY, "[]"))


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
    _fold_zero_pads(graph.graph)
    meta = {CONFIG_KEY: cfg.to_json(), "depth_ros.input_size": json.dumps([h, w]),
            "depth_ros.dynamic": json.dumps(dynamic), FLOAT32_KEY: json.dumps(float32_scopes(model))}
    for key, value in meta.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))
    return path


def _constant_value(graph, name: str, producers: dict):
    """The value of tensor ``name`` when it depends on constants only (the legacy exporter
    computes a Pad's pads with Reshape / Slice / Cast nodes), else None."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    inits = {i.name: i for i in graph.initializer}
    if name in inits:
        return numpy_helper.to_array(inits[name])
    needed, stack, seen = [], [name], set()
    while stack:
        tensor = stack.pop()
        if tensor in seen or tensor in inits or not tensor:
            continue
        seen.add(tensor)
        node = producers.get(tensor)
        if node is None:   # a graph input: not a constant
            return None
        needed.append(node)
        stack.extend(node.input)
    order = [n for n in graph.node if n in needed]   # graph order is topological
    used_inits = [inits[i] for n in order for i in n.input if i in inits]
    sub = onnx.helper.make_graph(order, "constant", [], [onnx.helper.make_tensor_value_info(name, 0, None)],
                                 initializer=used_inits)
    model = onnx.helper.make_model(sub, opset_imports=[onnx.helper.make_opsetid("", DEFAULT_OPSET)])
    return ReferenceEvaluator(model).run(None, {})[0]


def _fold_zero_pads(graph) -> None:
    """Fold each zero-valued ``Pad`` that feeds only a ``Conv`` into that convolution's own
    (possibly asymmetric) ``pads``. TensorFlow-style SAME padding (EfficientNet) exports as
    Pad + Conv, since PyTorch's Conv2d pads symmetrically; ONNX's Conv can pad asymmetrically,
    and the separate Pad costs ONNX Runtime a pass over the tensor and two layout reorders."""
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in graph.output}
    removed = []
    for pad in list(graph.node):
        if pad.op_type != "Pad" or pad.output[0] in outputs:
            continue
        mode = next((a.s.decode() for a in pad.attribute if a.name == "mode"), "constant")
        users = consumers.get(pad.output[0], [])
        if mode != "constant" or len(users) != 1 or users[0].op_type != "Conv" or users[0].input[0] != pad.output[0]:
            continue
        if len(pad.input) > 2 and pad.input[2]:
            value = _constant_value(graph, pad.input[2], producers)
            if value is None or float(value) != 0.0:
                continue
        pads = _constant_value(graph, pad.input[1], producers)
        if pads is None or len(pads) != 8 or any(pads[[0, 1, 4, 5]]) or (pads < 0).any():
            continue
        conv = users[0]
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        if attr is None:
            attr = onnx.helper.make_attribute("pads", [0, 0, 0, 0])
            conv.attribute.append(attr)
        old = list(attr.ints) or [0, 0, 0, 0]
        del attr.ints[:]
        attr.ints.extend([old[0] + int(pads[2]), old[1] + int(pads[3]), old[2] + int(pads[6]), old[3] + int(pads[7])])
        conv.input[0] = pad.input[0]
        removed.append(pad)
    for pad in removed:
        graph.node.remove(pad)
    # The pads' now unused constants.
    used = {i for n in graph.node for i in n.input} | outputs
    for n in [n for n in graph.node if n.op_type in ("Constant", "Cast") and not set(n.output) & used]:
        graph.node.remove(n)


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


def onnx_inputs(path: str | Path) -> list[str]:
    """The names of an ONNX graph's inputs, in order (initializers listed as inputs left out)."""
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers]

"""ONNX export: one graph, checked, with the same output as torch in both modes; the export
cache's key follows everything the graph depends on."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from depth_core.cli import main as depth_core_main
from depth_core.export import ExportError, export_onnx, model_source_files, onnx_cache_key, read_onnx_config
from depth_core.inference import load_estimator
from depth_core.models import create_model, save_model


def _inputs(h, w, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(size=(1, 3, h, w)).astype(np.float32)
    sparse = np.zeros((1, 1, h, w), np.float32)
    rows, cols = rng.integers(0, h, 300), rng.integers(0, w, 300)
    sparse[0, 0, rows, cols] = rng.uniform(2, 60, 300)
    return image, sparse


def _median_rel(a, b):
    return float(np.median(np.abs(a - b) / np.abs(b)))


# structure_aware at its paper size is a ResNet-101 with 1536-wide decoder blocks: exporting it
# takes 40 s for the same operators as this narrow ResNet-18 (test_models runs the full size forward).
NARROW = {"structure_aware": {"resnet_depth": 18, "decoder_channels": [64, 32, 16, 8], "refine_channels": 16}}


@pytest.mark.parametrize("name, size", [("san_resnet18", (96, 320)), ("san_packnet", (64, 64)),
                                        ("densedepth", (64, 96)), ("fusanet", (64, 96)),
                                        ("structure_aware", (64, 96)), ("decomposition", (64, 96))])
@pytest.mark.slow
def test_onnx_matches_torch_in_prediction_and_completion(tmp_path, name, size):
    torch.manual_seed(0)
    model = create_model(name, **({"arch": NARROW[name]} if name in NARROW else {})).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", height=size[0], width=size[1])
    graph = onnx.load(str(path))
    inputs = ["image", "sparse_depth"] if model.uses_sparse_depth else ["image"]
    assert [i.name for i in graph.graph.input] == inputs
    assert [o.name for o in graph.graph.output] == (["depth", "confidence"] if name == "fusanet" else ["depth"])
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image, sparse = _inputs(*size)
    # Image-only models export without the sparse input (FuSaNet reads guiding points only while training).
    for sparse_in in (np.zeros_like(sparse), sparse) if model.uses_sparse_depth else (np.zeros_like(sparse),):
        feeds = {"image": image, "sparse_depth": sparse_in}
        onnx_depth = session.run(None, {k: feeds[k] for k in inputs})[0]
        with torch.no_grad():
            torch_depth = model(torch.from_numpy(image), torch.from_numpy(sparse_in))["depth"].numpy()
        assert _median_rel(onnx_depth, torch_depth) < 1e-3
    assert not model.training, "export leaves the model in the mode it was in"
    # The ONNX file alone says whether LiDAR goes in: an image-only model's estimator never
    # claims completion.
    est = load_estimator(str(path), "onnxruntime")
    assert est.uses_sparse_depth == model.uses_sparse_depth
    rgb = (image[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    K = np.array([[size[1], 0, size[1] / 2], [0, size[1], size[0] / 2], [0, 0, 1.0]])
    mode = est.predict(rgb, K, np.where(sparse[0, 0] > 0, sparse[0, 0], 0)).mode
    assert mode == ("completion" if model.uses_sparse_depth else "prediction")


# decomposition: its MDR transformer's sequence length follows the image size (the patch count).
SMALL_DECOMPOSITION = {"resnet_depth": 18, "decoder_channels": [32, 16, 16, 8, 8]}


@pytest.mark.slow
@pytest.mark.parametrize("name, arch", [("san_resnet18", None), ("decomposition", SMALL_DECOMPOSITION),
                                        ("san_efficientnet_lite0_selp", None)])
def test_dynamic_export_runs_at_several_sizes(tmp_path, name, arch):
    torch.manual_seed(0)
    model = create_model(name, **({"arch": arch} if arch else {})).eval()
    path = export_onnx(model, tmp_path / "dyn.onnx", height=64, width=96, dynamic=True)
    config, size = read_onnx_config(path)
    assert config == model.config and size is None
    # Every convolution's weights are constants: weights sliced by a traced size (a split convolution)
    # would be computed at run time, and ONNX Runtime would leave them out of its fast layout.
    graph = onnx.load(str(path)).graph
    constants = {i.name for i in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    assert [n.name for n in graph.node if n.op_type == "Conv" and n.input[1] not in constants] == []
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((64, 96), (96, 160), (200, 330)):
        image, sparse = _inputs(h, w, seed=1)
        feeds = {"image": image, "sparse_depth": sparse} if model.uses_sparse_depth else {"image": image}
        out = session.run(None, feeds)[0]
        with torch.no_grad():
            ref = model(torch.from_numpy(image), torch.from_numpy(sparse) if model.uses_sparse_depth else None)[
                "depth"].numpy()
        assert out.shape == (1, 1, h, w) and _median_rel(out, ref) < 1e-3


@pytest.mark.slow
def test_cli_export_of_a_model_file(tmp_path, capsys):
    torch.manual_seed(0)
    weights = save_model(create_model("san_resnet18", input_height=64, input_width=96), tmp_path / "m.safetensors")
    assert depth_core_main(["export", "--model", str(weights), "--out", str(tmp_path / "m.onnx")]) == 0
    assert "onnx.checker passed" in capsys.readouterr().out
    assert read_onnx_config(tmp_path / "m.onnx")[1] == (64, 96)
    assert depth_core_main(["export", "--model", "san_resnet99", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "neither a registered model" in capsys.readouterr().err
    assert depth_core_main(["export", "--model", "san_resnet18", "--no-pretrained", "--opset", "13",
                            "--out", str(tmp_path / "x.onnx")]) == 2
    assert "opset must be >= 17" in capsys.readouterr().err
    # --camera: the network size for a camera's images (the default model keeps the aspect ratio).
    assert depth_core_main(["export", "--model", "san_efficientnet_lite0", "--no-pretrained", "--camera", "640x480",
                            "--out", str(tmp_path / "cam.onnx")]) == 0
    assert read_onnx_config(tmp_path / "cam.onnx")[1] == (256, 320)
    assert depth_core_main(["export", "--model", str(weights), "--camera", "1242x375", "--out",
                            str(tmp_path / "old.onnx")]) == 0
    assert read_onnx_config(tmp_path / "old.onnx")[1] == (64, 96)   # fixed-size models: their own size
    assert depth_core_main(["export", "--model", str(weights), "--camera", "640x480", "--dynamic",
                            "--out", str(tmp_path / "y.onnx")]) == 2
    assert "--camera sets the input size" in capsys.readouterr().err


def test_foreign_or_broken_onnx_files_are_rejected_by_name(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x00not onnx")
    with pytest.raises(ExportError, match="junk.onnx: not a readable ONNX file"):
        read_onnx_config(tmp_path / "junk.onnx")
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(graph), str(tmp_path / "foreign.onnx"))
    with pytest.raises(ExportError, match="foreign.onnx: ONNX file has no depth_ros.config metadata"):
        read_onnx_config(tmp_path / "foreign.onnx")


def test_onnx_cache_key_covers_the_model_code(tmp_path):
    """A model whose code changed must be exported again, even with the same weights and config."""
    torch.manual_seed(0)
    model = create_model("san_resnet18", input_height=96, input_width=320).eval()
    sources = model_source_files(model)
    files = {f"{p.parent.name}/{p.name}" for p in sources}
    assert {"models/san.py", "layers/resnet.py", "layers/sparse.py", "export/onnx.py"} <= files
    key = onnx_cache_key(model, 64, 96)
    assert onnx_cache_key(model, 64, 96, sources) == key != onnx_cache_key(model, 96, 64)
    copies = []
    for i, path in enumerate(sources):
        copies.append(tmp_path / f"{i}_{path.name}")
        copies[-1].write_bytes(path.read_bytes())
    assert onnx_cache_key(model, 64, 96, copies) == key           # the contents count, not where they are
    extra = tmp_path / "new_layer.py"
    extra.write_text("class NewLayer: ...\n")
    assert onnx_cache_key(model, 64, 96, [*copies, extra]) != key   # a source file added
    copies[0].write_bytes(copies[0].read_bytes() + b"\n# edited\n")
    assert onnx_cache_key(model, 64, 96, copies) != key              # a source file edited

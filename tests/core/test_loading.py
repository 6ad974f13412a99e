"""Loading an estimator: model names and files, the ONNX export the estimator makes for itself,
the auto backend chain and its log line, and clear errors for what cannot load."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from depth_core.export import export_onnx
from depth_core.inference import BackendError, load_estimator
from depth_core.inference.onnxruntime_backend import onnxruntime_unavailable
from depth_core.inference.tensorrt import tensorrt_unavailable
from depth_core.models import create_model, save_model

without_tensorrt = pytest.mark.skipif(tensorrt_unavailable() is None,
                                      reason="TensorRT is usable here: this checks its absence")


@pytest.mark.slow
def test_onnx_export_is_cached_and_reused(frame, small_model, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        load_estimator(small_model, "onnxruntime", cache=tmp_path)
        files = list((tmp_path / "onnx").glob("*.onnx"))
        load_estimator(small_model, "onnxruntime", cache=tmp_path)
    assert len(files) == 1 and list((tmp_path / "onnx").glob("*")) == files
    assert "exporting san_resnet18 to ONNX" in caplog.text and "using cached ONNX export" in caplog.text
    assert "san_resnet18 on onnxruntime" in caplog.text


@pytest.mark.slow
def test_model_files_load_by_path(frame, small_model, tmp_path):
    rgb, K, sparse = frame
    onnx_path = export_onnx(small_model, tmp_path / "m.onnx")
    weights = save_model(small_model, tmp_path / "m.safetensors")
    by_onnx = load_estimator(str(onnx_path)).predict(rgb, K, sparse)
    by_weights = load_estimator(str(weights), "torch").predict(rgb, K, sparse)
    assert np.nanmedian(np.abs(by_onnx.depth - by_weights.depth) / by_weights.depth) < 1e-3
    with pytest.raises(ValueError, match="exported for 320x96 inputs, asked for 640x192"):
        load_estimator(str(onnx_path), input_size=(192, 640))
    with pytest.raises(BackendError, match="the torch backend cannot run an ONNX file"):
        load_estimator(str(onnx_path), "torch")


def test_load_estimator_errors():
    with pytest.raises(FileNotFoundError, match="model 'nope': neither a registered model"):
        load_estimator("nope")
    with pytest.raises(ValueError, match="backend: expected one of auto, tensorrt"):
        load_estimator("classical", "cuda")
    with pytest.raises(FileNotFoundError, match="no pretrained weights shipped for 'densedepth'"):
        load_estimator("densedepth", "torch")


@pytest.mark.slow
@without_tensorrt
def test_auto_logs_its_choice_and_why_the_gpu_backends_were_passed_over(caplog, tmp_path):
    if onnxruntime_unavailable(gpu=True) is None:
        pytest.skip("this onnxruntime has a GPU provider: auto would choose it")
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        est = load_estimator("san_resnet18", pretrained=False, cache=tmp_path)
    assert est.backend.name == "onnxruntime"
    line = next(r.getMessage() for r in caplog.records if "backend auto ->" in r.getMessage())
    assert line.startswith("backend auto -> onnxruntime on CPU (TensorRT: TensorRT is not available here")
    assert "onnxruntime on GPU: " in line


def test_auto_falls_back_to_torch_for_a_model_onnx_cannot_express(caplog, tmp_path):
    model = create_model("fusanet", arch={"channels": 8, "point_conv": "fkaconv"}, input_height=64, input_width=96)
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        est = load_estimator(model, cache=tmp_path)
    assert est.backend.name == "torch"
    line = next(r.getMessage() for r in caplog.records if "backend auto ->" in r.getMessage())
    assert line.startswith("backend auto -> torch (") and "uses FKAConv" in line

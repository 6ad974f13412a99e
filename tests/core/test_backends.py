"""The backends: each is a Backend (name, detail, inputs, run, close), says which inputs it
consumes, and the classical one completes LiDAR better than nearest-neighbour interpolation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from depth_core.export import export_onnx
from depth_core.geometry import project_lidar
from depth_core.inference import BackendError, ClassicalBackend, OnnxRuntimeBackend, TorchBackend, ip_basic_complete
from depth_core.models import create_model
from depth_core.sim import Simulator, default_config

PROTOCOL = ("name", "detail", "inputs", "run", "close")


def _batch(h=96, w=320):
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(1, 3, h, w)).astype(np.float32)
    sparse = np.where(rng.uniform(size=(1, 1, h, w)) < 0.05, rng.uniform(2, 40, (1, 1, h, w)), 0).astype(np.float32)
    return image, sparse


@pytest.mark.slow
def test_every_backend_is_a_backend_and_says_what_it_consumes(small_model, tmp_path):
    image_only = create_model("densedepth", input_height=64, input_width=96).eval()
    backends = {
        "torch": TorchBackend(small_model, "cpu"),
        "torch image-only": TorchBackend(image_only, "cpu"),
        "onnxruntime": OnnxRuntimeBackend(export_onnx(small_model, tmp_path / "san.onnx"), ["CPUExecutionProvider"]),
        "onnxruntime image-only": OnnxRuntimeBackend(export_onnx(image_only, tmp_path / "dd.onnx"),
                                                     ["CPUExecutionProvider"]),
        "classical": ClassicalBackend(),
    }
    wanted = {"torch": {"image", "sparse_depth"}, "torch image-only": {"image"},
              "onnxruntime": {"image", "sparse_depth"}, "onnxruntime image-only": {"image"},
              "classical": {"sparse_depth"}}
    for label, backend in backends.items():
        assert all(hasattr(backend, a) for a in PROTOCOL), label
        assert isinstance(backend.name, str) and isinstance(backend.detail, str), label
        assert backend.inputs == wanted[label], label
        h, w = (64, 96) if "image-only" in label else (96, 320)
        out = backend.run(*_batch(h, w))
        assert out["depth"].shape == (1, 1, h, w), label
        backend.close()
    assert "CPUExecutionProvider" in OnnxRuntimeBackend(tmp_path / "san.onnx", ["CPUExecutionProvider"]).detail


@pytest.mark.slow
def test_a_closed_onnxruntime_backend_refuses_to_run(small_model, tmp_path):
    backend = OnnxRuntimeBackend(export_onnx(small_model, tmp_path / "san.onnx"), ["CPUExecutionProvider"])
    backend.close()
    with pytest.raises(BackendError, match="san.onnx: this ONNX Runtime backend was closed"):
        backend.run(*_batch())


def _nearest_neighbour(sparse):
    idx = ndimage.distance_transform_edt(sparse <= 0, return_distances=False, return_indices=True)
    return sparse[idx[0], idx[1]]


@pytest.mark.parametrize("scene", ["street", "indoor", "yard"])
def test_classical_beats_nearest_neighbour_on_held_out_lidar(scene):
    sim = Simulator(default_config(scene, width=640, height=192), seed=1, frames=1)
    f = sim.render(0)
    held = np.random.default_rng(0).uniform(size=len(f.lidar_points)) < 0.2
    K, T = sim.intrinsics.K, sim.rig.T_cam_lidar
    inputs = project_lidar(f.lidar_points[~held], T, K, 192, 640)
    truth = project_lidar(f.lidar_points[held], T, K, 192, 640)
    scores = {}
    for name, dense in (("classical", ip_basic_complete(inputs)), ("nearest", _nearest_neighbour(inputs))):
        m = (truth > 0) & np.isfinite(dense)
        err = np.abs(dense[m] - truth[m])
        scores[name] = (err.mean(), np.sqrt(np.mean(err**2)), np.mean(err / truth[m]), m.sum() / (truth > 0).sum())
    mae, rmse, absrel, coverage = scores["classical"]
    assert coverage > 0.99
    assert mae <= scores["nearest"][0] and rmse <= scores["nearest"][1] * 1.01 and absrel <= scores["nearest"][2]

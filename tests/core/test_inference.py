"""The estimator API: every backend behind one predict(), shared pre/post-processing, the
classical baseline, and clear errors for bad inputs and bad model files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from depth_core.export import export_onnx
from depth_core.geometry import CameraIntrinsics, project_lidar
from depth_core.inference import (
    BackendError,
    InputError,
    ip_basic_complete,
    load_estimator,
    prepare_inputs,
    resize_sparse_depth,
    restore_depth,
)
from depth_core.models import create_model, save_model
from depth_core.sim import Simulator, default_config


@pytest.fixture(scope="module")
def frame():
    sim = Simulator(default_config("street", width=640, height=192), seed=4, frames=1)
    f = sim.render(0)
    sparse = project_lidar(f.lidar_points, sim.rig.T_cam_lidar, sim.intrinsics.K, 192, 640)
    return f.rgb, sim.intrinsics.K, sparse


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return create_model("san_resnet18", input_height=96, input_width=320).eval()


def test_torch_and_onnxruntime_backends_agree_through_predict(frame, small_model, tmp_path):
    rgb, K, sparse = frame
    torch_est = load_estimator(small_model, "torch")
    ort_est = load_estimator(small_model, "onnxruntime", cache=tmp_path)
    assert torch_est.input_size == ort_est.input_size == (96, 320)
    for sp, mode in ((None, "prediction"), (sparse, "completion")):
        a, b = torch_est.predict(rgb, K, sp), ort_est.predict(rgb, K, sp)
        assert a.depth.shape == b.depth.shape == (192, 640) and a.depth.dtype == np.float32
        assert a.mode == b.mode == mode and a.confidence is None
        assert np.nanmedian(np.abs(a.depth - b.depth) / a.depth) < 1e-3
    assert torch_est.predict(rgb, K, np.zeros_like(sparse)).mode == "prediction"


def test_onnx_export_is_cached_and_reused(frame, small_model, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        load_estimator(small_model, "onnxruntime", cache=tmp_path)
        files = list((tmp_path / "onnx").glob("*.onnx"))
        load_estimator(small_model, "onnxruntime", cache=tmp_path)
    assert len(files) == 1 and list((tmp_path / "onnx").glob("*")) == files
    assert "exporting san_resnet18 to ONNX" in caplog.text and "using cached ONNX export" in caplog.text
    assert "san_resnet18 on onnxruntime" in caplog.text


def test_onnx_cache_key_covers_the_model_code(small_model, monkeypatch):
    """A model whose code changed must be exported again, even with the same weights and config."""
    from depth_core.inference import estimator

    files = {f"{p.parent.name}/{p.name}" for p in estimator.model_source_files(small_model)}
    assert {"models/san.py", "layers/resnet.py", "layers/sparse.py", "export/__init__.py"} <= files
    before = estimator._state_hash(small_model, 64, 96)
    real = estimator.model_source_files
    extra = Path(estimator.__file__)        # stands in for an edited model file
    monkeypatch.setattr(estimator, "model_source_files", lambda m: [*real(m), extra])
    assert estimator._state_hash(small_model, 64, 96) != before


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


def test_preprocessing_keeps_intrinsics_consistent_and_rebins_sparse_points(frame):
    rgb, K, sparse = frame
    image, sparse_in, K_model, n = prepare_inputs(rgb, K, sparse, 96, 320)
    assert image.shape == (1, 3, 96, 320) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    np.testing.assert_allclose(K_model, CameraIntrinsics.from_matrix(K, 640, 192).resized(320, 96).K)
    assert sparse_in.shape == (1, 1, 96, 320) and 0 < n <= np.count_nonzero(sparse)
    toy = np.zeros((4, 6), np.float32)
    toy[0, 0], toy[1, 1], toy[3, 5], toy[2, 2] = 5.0, 3.0, 7.0, np.nan
    np.testing.assert_array_equal(resize_sparse_depth(toy, 2, 3), [[3.0, 0, 0], [0, 0, 7.0]])  # nearest wins


def test_restore_marks_invalid_pixels_nan():
    depth = restore_depth(np.array([[1.0, -1.0], [np.inf, 200.0]], np.float32), 2, 2, max_depth=100.0)
    assert depth[0, 0] == 1.0 and np.isnan(depth[[0, 1, 1], [1, 0, 1]]).all()


@pytest.mark.parametrize("args, match", [
    ((np.zeros((192, 640, 3), np.float32),), "rgb: expected an RGB image \\[H,W,3\\] uint8, got float32"),
    ((np.zeros((192, 640), np.uint8),), "rgb: expected an RGB image"),
    ((np.zeros((192, 640, 3), np.uint8), np.zeros((3, 3))), "K: focal lengths must be positive"),
    ((np.zeros((192, 640, 3), np.uint8), np.eye(4)), "K: expected a 3x3 intrinsic matrix"),
    ((np.zeros((192, 640, 3), np.uint8), None, np.zeros((96, 320), np.float32)),
     "sparse_depth: expected \\[H,W\\] = \\(192, 640\\) float32"),
])
def test_bad_inputs_name_the_argument(frame, small_model, args, match):
    est = load_estimator(small_model, "torch")
    rgb, K, sparse = (list(args) + [None] * 3)[:3]
    K = frame[1] if K is None else K
    with pytest.raises(InputError, match=match):
        est.predict(rgb, K, sparse)


def test_load_estimator_errors():
    with pytest.raises(FileNotFoundError, match="model 'nope': neither a registered model"):
        load_estimator("nope")
    with pytest.raises(ValueError, match="backend: expected one of auto, tensorrt"):
        load_estimator("classical", "cuda")
    with pytest.raises(FileNotFoundError, match="no pretrained weights shipped for 'densedepth'"):
        load_estimator("densedepth", "torch")


def _nearest_neighbour(sparse):
    idx = ndimage.distance_transform_edt(sparse <= 0, return_distances=False, return_indices=True)
    return sparse[idx[0], idx[1]]


def test_classical_estimator_completes_lidar_and_gives_nothing_without_it(frame):
    rgb, K, sparse = frame
    est = load_estimator("classical")
    done = est.predict(rgb, K, sparse)
    assert done.mode == "completion" and np.isfinite(done.depth).mean() > 0.99
    empty = est.predict(rgb, K)
    assert empty.mode == "prediction" and np.isnan(empty.depth).all()


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


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_native_size_accepts_any_image_size(backend):
    """A native-size estimator accepts image sizes that are not multiples of 32 (e.g. 640x360)."""
    torch.manual_seed(0)
    est = load_estimator("san_resnet18", backend, pretrained=False, input_size="native")
    K = np.array([[80.0, 0, 75], [0, 80, 45], [0, 0, 1]])
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (90, 150, 3), dtype=np.uint8)
    sparse = np.where(rng.uniform(size=(90, 150)) < 0.1, rng.uniform(1, 20, (90, 150)), 0).astype(np.float32)
    for s in (None, sparse):
        result = est.predict(rgb, K, s)
        assert result.depth.shape == (90, 150) and np.isfinite(result.depth).all() and (result.depth > 0).all()


def test_sparse_points_match_a_projected_sparse_image():
    """LiDAR points given to predict() are projected at the network size; the result equals giving
    the same scan as a sparse image at the network size, and both inputs at once are refused."""
    torch.manual_seed(0)
    sim = Simulator(default_config("street", width=320, height=96), seed=2, frames=1)
    frame = sim.render(0)
    points_cam = (sim.rig.T_cam_lidar[:3, :3] @ frame.lidar_points.T).T + sim.rig.T_cam_lidar[:3, 3]
    est = load_estimator("san_resnet18", "torch", pretrained=False, input_size=(96, 320))
    sparse = project_lidar(frame.lidar_points, sim.rig.T_cam_lidar, sim.intrinsics.K, 96, 320)
    by_image = est.predict(frame.rgb, sim.intrinsics.K, sparse)
    by_points = est.predict(frame.rgb, sim.intrinsics.K, sparse_points=points_cam.astype(np.float32))
    assert by_points.mode == "completion" and by_points.n_points == by_image.n_points
    np.testing.assert_allclose(by_points.depth, by_image.depth, rtol=1e-4)
    with pytest.raises(InputError, match="not both"):
        est.predict(frame.rgb, sim.intrinsics.K, sparse, sparse_points=points_cam)
    with pytest.raises(InputError, match="sparse_points"):
        est.predict(frame.rgb, sim.intrinsics.K, sparse_points=np.zeros((5, 2)))

"""The estimator: every backend behind one predict(), shared pre/post-processing, sparse points
or a sparse image, backends that need points, clear errors for bad inputs, and close()."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from depth_core.geometry import CameraIntrinsics, project_lidar
from depth_core.inference import (
    DepthEstimator,
    InputError,
    load_estimator,
    prepare_inputs,
    resize_sparse_depth,
    restore_depth,
)
from depth_core.inference.preprocess import EDGE_LOG_RANGE, GUIDE_SIGMA, _shrink, area_table, network_inputs
from depth_core.models import ModelConfig
from depth_core.sim import Simulator, default_config


@pytest.mark.slow
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


def test_preprocessing_keeps_intrinsics_consistent_and_rebins_sparse_points(frame):
    rgb, K, sparse = frame
    image, sparse_in, K_model, n = prepare_inputs(rgb, K, sparse, 96, 320)
    assert image.shape == (1, 3, 96, 320) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
    np.testing.assert_allclose(K_model, CameraIntrinsics.from_matrix(K, 640, 192).resized(320, 96).K)
    assert sparse_in.shape == (1, 1, 96, 320) and 0 < n <= np.count_nonzero(sparse)
    toy = np.zeros((4, 6), np.float32)
    toy[0, 0], toy[1, 1], toy[3, 5], toy[2, 2] = 5.0, 3.0, 7.0, np.nan
    np.testing.assert_array_equal(resize_sparse_depth(toy, 2, 3), [[3.0, 0, 0], [0, 0, 7.0]])  # nearest wins


@pytest.mark.parametrize("size, resized, padded", [
    ((375, 1242), (155, 512), (160, 512)),     # KITTI: the exact 2x2 average, then area by 1.21
    ((480, 640), (240, 320), (256, 320)),      # an exact 2x2 average only
    ((360, 640), (216, 384), (224, 384)),      # area by 1.67 from the start
    ((375, 1242), (192, 640), (192, 640)),     # squashed by 1.94 and 1.95 (san_resnet18's input)
    ((720, 1280), (150, 540), (160, 544)),     # a 2x2 average, then a different factor per axis
    ((192, 640), (96, 320), (96, 320)),        # no padding
    ((100, 130), (120, 160), (128, 160)),      # enlarged (bilinear)
])
def test_the_networks_image_is_the_resized_padded_image_as_float(size, resized, padded):
    # What the network is fed is the image as OpenCV shrinks it (uint8 grey levels), the edge
    # repeated into the padding, planar, scaled to [0, 1]; whether OpenCV or the compiled area
    # shrink made it (its float32 sums in OpenCV's order: the same levels). Raw noise too, where
    # many sums lie at half a level.
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (*size, 3)).astype(np.uint8)
    K = CameraIntrinsics(fx=500.0, fy=500.0, cx=size[1] / 2, cy=size[0] / 2, width=size[1], height=size[0]).K
    for image_in in (rgb, cv2.GaussianBlur(rgb, (3, 3), 0)):
        image = network_inputs(image_in, K, None, resized, padded, None)[0]
        small, _ = _shrink(image_in, *resized) if size != resized else (image_in, None)
        expected = cv2.copyMakeBorder(small, 0, padded[0] - resized[0], 0, padded[1] - resized[1],
                                      cv2.BORDER_REPLICATE)
        assert image.shape == (1, 3, *padded) and image.dtype == np.float32
        np.testing.assert_array_equal(image[0], expected.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))


@pytest.mark.parametrize("source, size", [(621, 512), (187, 155), (640, 384), (100, 77), (7, 3)])
def test_the_area_weights_are_opencvs(source, size):
    # Shrinking one row (or column) of single pixels: OpenCV's INTER_AREA output is exactly the
    # weights' sums, so the tables reproduce it (to its float32 rounding).
    first, taps, weights = area_table(source, size)
    np.testing.assert_allclose(weights.sum(1), 1, rtol=1e-5)
    for j in range(source):
        line = np.zeros((1, source), np.float32)
        line[0, j] = 1
        expected = cv2.resize(line, (size, 1), interpolation=cv2.INTER_AREA)[0]
        got = np.zeros(size, np.float32)
        for d in range(size):
            t = j - first[d]
            if 0 <= t < taps[d]:
                got[d] = weights[d, t]
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_restore_marks_invalid_pixels_nan():
    depth = restore_depth(np.array([[1.0, -1.0], [np.inf, 200.0]], np.float32), 2, 2, max_depth=100.0)
    assert depth[0, 0] == 1.0 and np.isnan(depth[[0, 1, 1], [1, 0, 1]]).all()


@pytest.mark.parametrize("used", [(40, 100), (39, 100), (40, 98), (39, 97)])
def test_the_rows_and_columns_beyond_the_used_region_repeat_its_edge(used):
    """restore_depth resizes into the used region of its output and repeats the region's last row
    and column beyond it: what resizing to the region, guided or not, and padding by replication give."""
    _, rgb, small = _step_scene()
    uh, uw = used
    for guide in (None, rgb):
        region = restore_depth(small, uh, uw, 50.0, guide=None if guide is None else guide[:uh, :uw])
        expected = cv2.copyMakeBorder(region, 0, 40 - uh, 0, 100 - uw, cv2.BORDER_REPLICATE)
        np.testing.assert_array_equal(restore_depth(small, 40, 100, 50.0, used, guide=guide), expected)


def _step_scene(edge_x: float = 37.3, near: float = 4.0, far: float = 12.0):
    """A depth edge at full-resolution column ``edge_x`` of a 40x100 image (a bright near wall on
    the left, a dark far one on the right), and the network's 16x40 view of it."""
    cols = np.arange(100) + 0.5
    full = np.where(cols < edge_x, near, far).astype(np.float32)[None].repeat(40, 0)
    rgb = np.where((cols < edge_x)[None, :, None], 200, 60).astype(np.uint8).repeat(40, 0).repeat(3, 2)
    small = cv2.resize(full, (40, 16), interpolation=cv2.INTER_NEAREST)
    return full, rgb, small


def test_guided_upsampling_puts_each_pixel_on_its_side_of_a_depth_edge():
    full, rgb, small = _step_scene()
    plain = restore_depth(small, 40, 100)
    guided = restore_depth(small, 40, 100, guide=rgb)
    between = (plain > 4.0 * 1.01) & (plain < 12.0 / 1.01)
    assert between.any()                                       # bilinear: depths between the two walls
    np.testing.assert_allclose(guided, full, rtol=0.01)        # guided: each pixel on its own wall
    # The network's input image instead of the shrunk photograph gives the same.
    net = cv2.resize(rgb, (40, 16), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None] / np.float32(255)
    np.testing.assert_allclose(restore_depth(small, 40, 100, guide=rgb, guide_small=net), guided, rtol=1e-5)


def test_guided_upsampling_leaves_smooth_depth_and_uniform_images_alone():
    ramp = np.linspace(5.0, 5.2, 40, dtype=np.float32)[None].repeat(16, 0)     # < 10 % per cell: no edge
    rgb = np.random.default_rng(0).integers(0, 255, (40, 100, 3), dtype=np.uint8)
    np.testing.assert_array_equal(restore_depth(ramp, 40, 100, guide=rgb), restore_depth(ramp, 40, 100))
    _, _, small = _step_scene()
    grey = np.full((40, 100, 3), 128, np.uint8)                # nothing to go by: log-bilinear at the edge
    out = restore_depth(small, 40, 100, guide=grey)
    plain = restore_depth(small, 40, 100)
    assert np.nanmax(np.abs(np.log(out) - np.log(plain))) < 0.6 and (out[:, 30:45] > 4.04).any()


def test_guided_upsampling_of_a_pixel_unlike_its_neighbours_or_of_cells_without_depth_stays_finite():
    _, rgb, small = _step_scene()
    dark = np.full_like(rgb, 20)
    dark[:, 37] = 255                                          # a highlight on the edge, unlike all four
    out = restore_depth(small, 40, 100, guide=dark)
    assert np.isfinite(out).all() and (out >= 4.0 * 0.99).all() and (out <= 12.0 * 1.01).all()
    holes = small.copy()
    holes[:, 14] = 0.0                                         # a model that marks invalid pixels 0
    plain, guided = restore_depth(holes, 40, 100), restore_depth(holes, 40, 100, guide=rgb)
    near_hole = np.abs(np.arange(100) + 0.5 - 14.5 * 2.5) < 3  # the cells with the hole as a corner
    np.testing.assert_array_equal(guided[:, near_hole], plain[:, near_hole])   # bilinear there, as before


def _guided_by_hand(small: np.ndarray, rgb: np.ndarray, net: np.ndarray) -> np.ndarray:
    """guided_upsample's rule pixel by pixel: ``small`` resized bilinearly (OpenCV's pixel centres)
    to the image's size, and in the cells whose log depths span more than EDGE_LOG_RANGE each
    pixel's mean of their four log depths weighted by bilinear weight (+1e-3) x the Gaussian of
    its grey level's difference to the network's input image ``net`` [1,3,h,w] there."""
    H, W = rgb.shape[:2]
    h, w = small.shape
    up = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
    luma = np.float32([0.299, 0.587, 0.114])
    grey = np.rint(rgb[..., 0] * luma[0] + rgb[..., 1] * luma[1] + rgb[..., 2] * luma[2])
    # In float32, as the estimator has the network's image: a grey level at .5 rounds alike.
    grey_small = np.floor(np.tensordot(np.float32([0.299, 0.587, 0.114]) * np.float32(255), net[0], 1) + 0.5)
    for y in range(H):
        sy = min(max((y + 0.5) * h / H - 0.5, 0), h - 1)
        i = min(int(sy), h - 2)
        for x in range(W):
            sx = min(max((x + 0.5) * w / W - 0.5, 0), w - 1)
            j = min(int(sx), w - 2)
            corners = [(i, j, (1 - (sy - i)) * (1 - (sx - j))), (i, j + 1, (1 - (sy - i)) * (sx - j)),
                       (i + 1, j, (sy - i) * (1 - (sx - j))), (i + 1, j + 1, (sy - i) * (sx - j))]
            logs = [np.log(small[a, b]) for a, b, _ in corners]
            if max(logs) - min(logs) <= EDGE_LOG_RANGE:
                continue
            weights = [(bw + 1e-3) * max(np.exp(-(grey[y, x] - int(grey_small[a, b])) ** 2 / (2 * GUIDE_SIGMA ** 2)),
                                         1e-30) for a, b, bw in corners]
            up[y, x] = np.exp(np.dot(weights, logs) / np.sum(weights))
    return up


@pytest.mark.parametrize("edges", ["few", "every cell"])
def test_guided_upsampling_matches_its_rule_pixel_by_pixel(edges):
    # A few edge cells are listed cell by cell, a depth with an edge in every cell pixel by pixel
    # over the whole image: both must be the rule.
    rng = np.random.default_rng(3)
    if edges == "few":
        _, rgb, small = _step_scene()
        rgb = (rgb.astype(int) + rng.integers(-30, 30, rgb.shape)).clip(0, 255).astype(np.uint8)
    else:
        small = np.where((np.arange(16)[:, None] + np.arange(40)) % 2 == 0, 3.0, 9.0).astype(np.float32)
        small *= rng.uniform(0.9, 1.1, small.shape).astype(np.float32)
        rgb = rng.integers(0, 255, (40, 100, 3), dtype=np.uint8)
        rgb[::3, ::3] = (84, 222, 255)      # grey 184.5 exactly: must round alike wherever it lies
    net = cv2.resize(rgb, (40, 16), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None] / np.float32(255)
    guided = restore_depth(small, 40, 100, guide=rgb, guide_small=net)
    np.testing.assert_allclose(guided, _guided_by_hand(small, rgb, net), rtol=1e-4)


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


def test_classical_estimator_completes_lidar_and_gives_nothing_without_it(frame):
    rgb, K, sparse = frame
    est = load_estimator("classical")
    done = est.predict(rgb, K, sparse)
    assert done.mode == "completion" and np.isfinite(done.depth).mean() > 0.99
    empty = est.predict(rgb, K)
    assert empty.mode == "prediction" and np.isnan(empty.depth).all()


@pytest.mark.slow
@pytest.mark.parametrize("model, backend", [("san_resnet18", "torch"), ("san_resnet18", "onnxruntime"),
                                            ("default", "onnxruntime")])
def test_native_size_accepts_any_image_size(model, backend):
    """A native-size estimator accepts image sizes that are not multiples of 32 (e.g. 640x360).
    The default's dynamic ONNX graph is exported at its configured size and run at another: a
    layer whose shape the exporter froze fails here."""
    torch.manual_seed(0)
    est = load_estimator(model, backend, pretrained=model == "default", input_size="native")
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


class _Recording:
    """A stand-in backend that records its calls."""

    name, detail, inputs = "recording", "", frozenset({"image"})

    def __init__(self) -> None:
        self.runs = self.closes = 0

    def run(self, image, sparse):
        self.runs += 1
        return {"depth": np.ones_like(image[:, :1])}

    def close(self) -> None:
        self.closes += 1


def test_close_closes_the_backend_and_every_sized_runner_once():
    """A canonical-camera estimator holds a backend per network size; close() closes each once,
    the reference one included, and keeps them: a predict after it runs on them (and fails there,
    for a real backend), it builds nothing new."""
    config = ModelConfig("m", input_height=96, input_width=320, canonical_focal=500.0)
    first, built = _Recording(), []

    def runner_for(size):
        built.append(_Recording())
        return built[-1]

    est = DepthEstimator(first, name="m", config=config, input_size=(96, 320), runner_for=runner_for)
    assert not est.uses_sparse_depth and est.description.startswith("m on recording at about 30720 pixels")
    rng = np.random.default_rng(0)
    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    for h, w in ((240, 320), (240, 320), (192, 640)):   # 640x192 runs at the reference size
        est.predict(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), K)
    assert len(built) == 1 and (first.runs, built[0].runs) == (1, 2)
    est.close()
    assert (first.closes, built[0].closes) == (1, 1)
    est.predict(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), K)
    assert len(built) == 1 and built[0].runs == 3

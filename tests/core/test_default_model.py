"""The default model's parts: the EfficientNet-Lite0 encoder and its ImageNet weights, the
canonical camera (aspect kept, metric depth from the real focal length), the in-graph LiDAR
prior, ONNX parity, and old model files that must keep loading as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from depth_core.data.augment import AugmentConfig, augment_sample
from depth_core.inference import load_estimator
from depth_core.inference.preprocess import canonical_size, restore_depth
from depth_core.models import DepthModel, ModelConfig, create_model, load_model, pretrained_path
from depth_core.models.layers.efficientnet import EfficientNetLite0, load_efficientnet_imagenet
from depth_core.models.layers.prior import PushPullPrior
from depth_core.models.san import efficientnet_imagenet_file
from depth_core.train.trainer import canonical_factor

ESPRESSO, CAT_CLASSES = 967, {281, 282, 283, 285}   # ImageNet: espresso; tabby, tiger, Persian, Egyptian cat


def _imagenet_file() -> str:
    try:
        return efficientnet_imagenet_file()
    except ValueError as exc:   # the optional extra; scripts/setup.sh installs it
        pytest.skip(str(exc))


def _imagenet_tensor(rgb: np.ndarray) -> torch.Tensor:
    """Resize the short side to 256, centre-crop 224, normalise as the checkpoint expects."""
    import cv2

    h, w = rgb.shape[:2]
    s = 256 / min(h, w)
    rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    y, x = (h - 224) // 2, (w - 224) // 2
    crop = np.ascontiguousarray(rgb[y:y + 224, x:x + 224])
    return (torch.from_numpy(crop).permute(2, 0, 1)[None].float() - 127.0) / 128.0


def test_efficientnet_lite0_loads_imagenet_weights_strictly_and_classifies_real_photographs(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    path = _imagenet_file()
    net = EfficientNetLite0()
    load_efficientnet_imagenet(net, path)
    net.eval()
    with torch.no_grad():
        coffee = net.classify(_imagenet_tensor(skimage_data.coffee())).softmax(1)
        cat = net.classify(_imagenet_tensor(skimage_data.chelsea())).softmax(1)
    assert int(coffee.argmax()) == ESPRESSO and float(coffee.max()) > 0.5
    assert int(cat.argmax()) in CAT_CLASSES
    # Skips at strides 2..32 with the documented widths.
    skips = EfficientNetLite0(with_head=False)(torch.zeros(1, 3, 64, 96))
    assert [tuple(s.shape[1:]) for s in skips] == [(16, 32, 48), (24, 16, 24), (40, 8, 12), (112, 4, 6), (320, 2, 3)]

    # Strict: a missing or foreign tensor is an error naming the file and the key.
    state = torch.load(path, map_location="cpu", weights_only=True)
    broken = {k: v for k, v in state.items() if k != "_blocks.3._depthwise_conv.weight"}
    save_file({k: v.contiguous() for k, v in broken.items()}, str(tmp_path / "broken.safetensors"))
    with pytest.raises(ValueError, match=r"broken\.safetensors.*_blocks\.3\._depthwise_conv\.weight"):
        load_efficientnet_imagenet(EfficientNetLite0(), tmp_path / "broken.safetensors")
    # Through the registry: the depth model's encoder gets exactly the checkpoint's tensors.
    model = create_model("san_efficientnet_lite0", imagenet_weights=path)
    for key, value in model.encoder.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


def test_a_trained_model_file_loads_without_the_imagenet_file(tmp_path):
    model = create_model("san_efficientnet_lite0")
    # The saved config names an ImageNet file that does not exist where the model runs.
    model.config = model.config.updated(imagenet_weights=str(tmp_path / "not_here.pth"))
    from depth_core.models import save_model

    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.config.canonical_focal == model.config.canonical_focal


class _ApparentSizeModel(DepthModel):
    """A fixed synthetic network: the image holds one bright square of side ``SIDE`` metres; the
    model measures its width in pixels ``w`` and answers canonical depth ``f_c * SIDE / w``
    everywhere, as a pinhole camera with the canonical focal length would see it. It records the
    input sizes it ran on."""

    SIDE = 2.0

    def __init__(self) -> None:
        super().__init__(ModelConfig(name="apparent_size", input_height=160, input_width=512, min_depth=0.1,
                                     max_depth=500.0, canonical_focal=256.0))
        self.seen: list[tuple[int, int]] = []
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, image, sparse_depth=None):
        self.seen.append(tuple(image.shape[-2:]))
        width = (image.mean(dim=1) > 0.5).float().sum(dim=-1).amax(dim=-1).clamp(min=1)   # [B]
        depth = self.config.canonical_focal * self.SIDE / width
        return {"depth": depth.view(-1, 1, 1, 1).expand(-1, 1, *image.shape[-2:]) + self.anchor}


def _square_image(height: int, width: int, focal: float, distance: float) -> tuple[np.ndarray, np.ndarray]:
    side = focal * _ApparentSizeModel.SIDE / distance
    rgb = np.zeros((height, width, 3), np.uint8)
    y0, x0 = (height - side) / 2, (width - side) / 2
    rgb[round(y0):round(y0 + side), round(x0):round(x0 + side)] = 255
    K = np.array([[focal, 0, width / 2 - 0.5], [0, focal, height / 2 - 0.5], [0, 0, 1.0]])
    return rgb, K


@pytest.mark.parametrize("size", [(480, 640), (375, 1242), (720, 1280)])
def test_the_same_scene_at_two_focal_lengths_gives_the_same_metric_depth(size):
    """A camera with twice the focal length sees the square twice as wide: in the canonical
    camera that reads as half the depth, and the estimator's conversion back with the real focal
    length must recover the same metres, for every aspect ratio."""
    model = _ApparentSizeModel()
    est = load_estimator(model, "torch")
    h, w = size
    for distance in (5.0, 11.0):
        depths = []
        for focal in (0.4 * w, 0.8 * w):
            rgb, K = _square_image(h, w, focal, distance)
            result = est.predict(rgb, K)
            assert result.depth.shape == (h, w)
            depths.append(float(np.nanmedian(result.depth)))
        # Pixel rounding of the square's edges: a few per cent at these sizes.
        np.testing.assert_allclose(depths, distance, rtol=0.06)


@pytest.mark.parametrize("size", [(480, 640), (375, 1242), (720, 1280), (600, 800), (1080, 1920), (240, 320)])
def test_images_keep_their_aspect_ratio_and_are_padded_to_the_stride(size):
    h, w = size
    (rh, rw), (ph, pw) = canonical_size(h, w, 512 * 160)
    assert ph % 32 == 0 and pw % 32 == 0 and rh <= ph and rw <= pw
    assert ph - rh < 32 and pw - rw < 32 and (ph == rh or pw == rw)   # padding on one side only
    assert abs(rw / rh - w / h) / (w / h) < 0.01                       # never squashed
    assert 0.75 < ph * pw / (512 * 160) < 1.35                         # about the pixel budget
    model = _ApparentSizeModel()
    est = load_estimator(model, "torch")
    rgb, K = _square_image(h, w, 0.5 * w, 5.0)
    est.predict(rgb, K)
    assert model.seen[-1] == (ph, pw)


def test_old_model_files_without_a_canonical_focal_load_and_run_as_before():
    path = pretrained_path("san_resnet18")
    model = load_model(path)
    assert model.config.canonical_focal is None
    est = load_estimator(path, "torch")
    assert not est.canonical and est.network_size(375, 1242) == ((192, 640), (192, 640))
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (375, 1242, 3), dtype=np.uint8)
    K = np.array([[721.0, 0, 620], [0, 721.0, 187], [0, 0, 1]])
    result = est.predict(rgb, K)
    # Exactly what the network gives on the image squashed to 640x192 (the old behaviour).
    import cv2

    small = cv2.resize(rgb, (640, 192), interpolation=cv2.INTER_AREA)
    # Scaled as the estimator scales it (times the float32 reciprocal of 255): dividing differs in the
    # last bit here and there, which can move a depth edge that the guided upsampling then follows.
    image = small.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255)
    with torch.no_grad():
        net = model(torch.from_numpy(image))["depth"][0, 0].numpy()
    # Brought back as every model's depth is: bilinearly, guided by the image at depth edges.
    expected = restore_depth(net, 375, 1242, model.config.max_depth, guide=rgb, guide_small=image)
    np.testing.assert_allclose(result.depth, expected, rtol=1e-5)


def test_push_pull_prior_is_exact_on_dense_input_fills_holes_and_is_empty_without_points():
    prior = PushPullPrior()
    rng = torch.Generator().manual_seed(0)
    values = torch.rand(2, 1, 64, 96, generator=rng) + 0.1
    dense, conf = prior(values, torch.ones_like(values))
    torch.testing.assert_close(dense, values, rtol=0, atol=1e-6)
    assert torch.all(conf == 1)
    mask = (torch.rand(2, 1, 64, 96, generator=rng) < 0.05).float()
    dense, conf = prior(values * mask, mask)
    keep = mask.bool()
    torch.testing.assert_close(dense[keep], values[keep], rtol=0, atol=1e-6)   # measured pixels kept
    assert torch.all(conf[keep] == 1) and torch.all(conf > 0) and torch.all(conf <= 1)
    assert float(conf[~keep].max()) < 1
    # A constant field stays constant wherever it is filled from.
    dense, _ = prior(torch.full_like(values, 0.3) * mask, mask)
    torch.testing.assert_close(dense, torch.full_like(values, 0.3), rtol=1e-5, atol=1e-6)
    dense, conf = prior(torch.zeros_like(values), torch.zeros_like(values))
    assert torch.all(conf == 0) and torch.all(dense == 0)


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    model = create_model("san_efficientnet_lite0").eval()
    with torch.no_grad():   # a non-trivial gate and correction, as after training
        model.refine[-1].bias.copy_(torch.tensor([0.5, 0.2]))
        model.refine[-1].weight.normal_(0, 0.3)
    return model


def test_completion_without_points_is_exactly_the_prediction_and_dense_lidar_is_followed(lite):
    image = torch.rand(1, 3, 160, 256)
    with torch.no_grad():
        prediction = lite(image)["depth"]
        empty = lite(image, torch.zeros(1, 1, 160, 256))["depth"]
        torch.testing.assert_close(empty, prediction, rtol=0, atol=0)
        dense = torch.rand(1, 1, 160, 256) * 40 + 2
        completed = lite(image, dense)["depth"]
        torch.testing.assert_close(completed, dense, rtol=1e-5, atol=0)
        sparse = torch.zeros_like(dense)
        sparse[..., 80::4, ::3] = dense[..., 80::4, ::3]
        out = lite(image, sparse)["depth"]
    hit = sparse > 0
    torch.testing.assert_close(out[hit], sparse[hit], rtol=1e-5, atol=0)   # measured pixels follow
    assert not torch.allclose(out[~hit], prediction[~hit])                # the rest sees the LiDAR


@pytest.mark.slow
def test_the_new_default_exports_to_one_onnx_graph_with_parity(lite, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from depth_core.export import export_onnx

    path = export_onnx(lite, tmp_path / "lite.onnx", height=160, width=512)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert not [n for n in __import__("onnx").load(str(path)).graph.node
                if n.op_type == "Pad" and "encoder" in n.name]   # SAME pads folded into the convs
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(1, 3, 160, 512)).astype(np.float32)
    for sparse in (np.zeros((1, 1, 160, 512), np.float32),
                   np.where(rng.uniform(size=(1, 1, 160, 512)) < 0.04, rng.uniform(2, 60, (1, 1, 160, 512)),
                            0).astype(np.float32)):
        (onnx_depth,) = session.run(["depth"], {"image": image, "sparse_depth": sparse})
        with torch.no_grad():
            torch_depth = lite(torch.from_numpy(image), torch.from_numpy(sparse))["depth"].numpy()
        assert np.max(np.abs(onnx_depth - torch_depth) / torch_depth) < 1e-3


def test_focal_augmentation_keeps_intrinsics_sparse_depth_and_canonical_targets_consistent():
    rng = np.random.default_rng(3)
    h, w = 120, 200
    K = np.array([[150.0, 0, 99.5], [0, 150.0, 59.5], [0, 0, 1]])
    depth = rng.uniform(2, 20, (h, w)).astype(np.float32)
    sparse = np.where(rng.uniform(size=(h, w)) < 0.1, depth, 0).astype(np.float32)
    sample = {"rgb": rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "depth": depth, "sparse_depth": sparse,
              "K": K, "ring": None}
    cfg = AugmentConfig(crop=None, hflip=0, rotate_p=0, rescale=(2.0, 2.0), rescale_pixels=None)
    out = augment_sample(sample, cfg, np.random.default_rng(0))
    assert out["rgb"].shape[:2] == (240, 400) and out["depth"].shape == (240, 400)
    np.testing.assert_allclose(out["K"][0, 0], 300.0)
    np.testing.assert_allclose(out["K"][:2, 2], [199.5, 119.5])
    assert np.count_nonzero(out["sparse_depth"]) == np.count_nonzero(sparse)   # points moved, never invented
    assert set(np.unique(out["sparse_depth"][out["sparse_depth"] > 0])) <= set(np.unique(sparse[sparse > 0]))
    # Canonical targets: the zoomed sample's depth reads as half as far in the canonical camera.
    factor = canonical_factor(torch.from_numpy(np.stack([K, out["K"]])), 256.0).flatten()
    np.testing.assert_allclose(factor.numpy(), [256 / 150, 256 / 300], rtol=1e-6)


@pytest.mark.slow
def test_onnxruntime_gets_one_graph_per_camera_shape_and_matches_torch(lite, tmp_path, caplog):
    pytest.importorskip("onnxruntime")
    import logging

    ort_est = load_estimator(lite, "onnxruntime", cache=tmp_path, threads=1)
    torch_est = load_estimator(lite, "torch")
    assert ort_est.canonical and "aspect kept" in ort_est.description
    rng = np.random.default_rng(2)
    with caplog.at_level(logging.INFO, logger="depth_core.inference"):
        for h, w in ((375, 1242), (480, 640), (480, 640), (375, 1242)):
            rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            K = np.array([[0.6 * w, 0, w / 2], [0, 0.6 * w, h / 2], [0, 0, 1.0]])
            sparse = np.where(rng.uniform(size=(h, w)) < 0.03, rng.uniform(2, 50, (h, w)), 0).astype(np.float32)
            a, b = ort_est.predict(rgb, K, sparse), torch_est.predict(rgb, K, sparse)
            assert a.mode == b.mode == "completion" and a.depth.shape == (h, w)
            np.testing.assert_allclose(a.depth, b.depth, rtol=1e-3)
    # The reference size at load (KITTI's aspect maps onto it) and 4:3's own graph, each once.
    graphs = sorted(p.name.split("_")[3] for p in (tmp_path / "onnx").glob("*.onnx"))
    assert graphs == ["160x512", "256x320"]
    assert sum("first 320x256 network input" in r.getMessage() for r in caplog.records) == 1


def _tilted_wall(h: int = 240, w: int = 640) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A textured wall tilted in depth (8 to 25 m; its inverse depth is affine in the pixels) and
    30 rows of points on it, as a 30-beam LiDAR would give."""
    K = np.array([[320.0, 0, 319.5], [0, 320.0, 119.5], [0, 0, 1]])
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    depth = (1 / (0.08 + 0.00005 * (u - 320) + 0.0002 * (v - 120))).astype(np.float32)
    import cv2

    texture = np.random.default_rng(0).uniform(90, 160, (h // 8, w // 8, 3)).astype(np.uint8)
    rgb = cv2.resize(texture, (w, h), interpolation=cv2.INTER_NEAREST)
    sparse = np.zeros_like(depth)
    sparse[2::8, ::2] = depth[2::8, ::2]
    return rgb, K, depth, sparse


def test_the_shipped_propagation_model_completes_a_plane_and_gives_a_confidence_in_both_modes():
    """``san_efficientnet_lite0_spn`` as shipped: its camera-only depth is the default's, bit for
    bit; its confidence lies in [0, 1] in both modes and is higher with points; a plane with rows
    of points is completed to within 1 %."""
    est = load_estimator("san_efficientnet_lite0_spn", "torch")
    rgb, K, depth, sparse = _tilted_wall()
    completed = est.predict(rgb, K, sparse)
    err = np.abs(completed.depth / depth - 1)[16:-16, 16:-16]
    assert np.median(err) < 0.01 and np.percentile(err, 99) < 0.01
    alone = est.predict(rgb, K)
    default = load_estimator("default", "torch").predict(rgb, K)
    np.testing.assert_array_equal(alone.depth, default.depth)
    for result in (completed, alone):
        assert result.confidence.shape == depth.shape
        assert 0 <= float(result.confidence.min()) and float(result.confidence.max()) <= 1
    assert float(np.mean(completed.confidence)) > float(np.mean(alone.confidence))


def test_the_confidence_model_is_the_first_default_with_a_confidence():
    """``san_efficientnet_lite0_conf`` (a default before ``san_efficientnet_lite0_sel``): the
    depth of ``san_efficientnet_lite0``, bit for bit, with and without points; a confidence in
    [0, 1] in both modes that is higher where the LiDAR is than where the image alone speaks."""
    conf = load_estimator("san_efficientnet_lite0_conf", "torch")
    first = load_estimator("san_efficientnet_lite0", "torch")
    assert conf.config.arch["confidence_shifted"]
    rgb, K, depth, sparse = _tilted_wall()
    for points in (None, sparse):
        ours, theirs = conf.predict(rgb, K, points), first.predict(rgb, K, points)
        np.testing.assert_array_equal(ours.depth, theirs.depth)
        assert theirs.confidence is None
        assert ours.confidence.shape == depth.shape
        assert 0 <= float(ours.confidence.min()) and float(ours.confidence.max()) <= 1
    with_points = conf.predict(rgb, K, sparse).confidence
    assert float(np.mean(with_points)) > float(np.mean(conf.predict(rgb, K).confidence))


@pytest.mark.parametrize("name", ["default", "san_efficientnet_lite0_selg", "san_efficientnet_lite0_selm",
                                  "san_efficientnet_lite0_sel"])
def test_the_default_chooses_among_measurements_and_keeps_the_first_defaults_camera_depth(name):
    """``default`` (``san_efficientnet_lite0_selp``) and the defaults before it
    (``san_efficientnet_lite0_selg``, ``_selm``, ``_sel``) as shipped: camera-only depth
    is the first default's, bit for bit; a plane with rows of points is completed to within 1 %;
    measured pixels keep their depth; the confidence lies in [0, 1] in both modes and is higher
    with points."""
    default, first = load_estimator(name, "torch"), load_estimator("san_efficientnet_lite0", "torch")
    expected = "san_efficientnet_lite0_selp" if name == "default" else name
    assert default.config.name == expected and "selection" in default.config.arch
    rgb, K, depth, sparse = _tilted_wall()
    alone = default.predict(rgb, K)
    np.testing.assert_array_equal(alone.depth, first.predict(rgb, K).depth)
    completed = default.predict(rgb, K, sparse)
    err = np.abs(completed.depth / depth - 1)[16:-16, 16:-16]
    assert np.median(err) < 0.01 and np.percentile(err, 99) < 0.01
    for result in (completed, alone):
        assert result.confidence.shape == depth.shape
        assert 0 <= float(result.confidence.min()) and float(result.confidence.max()) <= 1
    assert float(np.mean(completed.confidence)) > float(np.mean(alone.confidence))

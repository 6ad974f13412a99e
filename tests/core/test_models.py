"""The forward contract for every model, SAN's prediction/completion switch, the
encoders' torchvision compatibility, and checkpoint round trips."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from depth_core.losses import san_loss
from depth_core.models import (
    ModelConfig,
    ModelFileError,
    create_model,
    load_model,
    read_config,
    save_model,
)
from depth_core.models.layers.packnet import InvDepth, PackLayerConv3d, UnpackLayerConv3d
from depth_core.models.layers.resnet import ResNetEncoder, load_imagenet_weights

SAN_MODELS = ["san_resnet18", "san_packnet"]
ALL_MODELS = [*SAN_MODELS, "densedepth", "fusanet", "structure_aware", "decomposition"]
# The loss terms of each family's training recipe (config/train/<model>_synthetic.yaml).
RECIPE_LOSSES = {
    "san_resnet18": ["silog_prediction", "silog_completion"],
    "densedepth": ["densedepth_prediction"],
    "fusanet": ["fusanet_completion"],
    "structure_aware": ["berhu_prediction", "gradient_prediction", "normal_prediction", "gfrl_prediction"],
    "decomposition": ["decomposition_prediction", "decomposition_relative_prediction"],
}


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: create_model(name).eval() for name in ALL_MODELS}


def _sparse_like(image: torch.Tensor, every: int = 5) -> torch.Tensor:
    sparse = torch.zeros(image.shape[0], 1, *image.shape[-2:])
    sparse[..., ::every, ::every] = torch.rand_like(sparse[..., ::every, ::every]) * 30 + 1
    return sparse


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("size", [(64, 96), (50, 70)])
def test_forward_gives_finite_positive_metres_at_the_input_resolution(models, name, size):
    model = models[name]
    image = torch.rand(2, 3, *size)
    with torch.no_grad():
        for sparse in (None, _sparse_like(image)):
            depth = model(image, sparse)["depth"]
            assert depth.shape == (2, 1, *size)
            assert torch.isfinite(depth).all() and (depth > 0).all()
            assert depth.min() >= model.config.min_depth - 1e-5 and depth.max() <= model.config.max_depth + 1e-3


@pytest.mark.parametrize("name", SAN_MODELS)
def test_one_graph_two_tasks(models, name):
    model = models[name]
    image = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        prediction = model(image)["depth"]
        zeros = model(image, torch.zeros(2, 1, 64, 96))["depth"]
        garbage = torch.full((2, 1, 64, 96), float("nan"))
        garbage[:, :, ::3] = float("inf")
        garbage[:, :, 1::3] = -5.0
        invalid_only = model(image, garbage)["depth"]
        completion = model(image, _sparse_like(image))["depth"]
    assert torch.equal(zeros, prediction), "an all-zero sparse input must give exactly the prediction"
    assert torch.equal(invalid_only, prediction), "NaN, inf and negative depths count as missing"
    # (An untrained network is nearly flat, so the change is small, but it is there.)
    assert ((completion - prediction).abs() / prediction).max() > 1e-5, "valid points must change the output"


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_passes_equal_separate_forwards(models, name):
    """Training runs both passes in one call (SAN encodes the image once): same outputs."""
    model = models[name]
    image = torch.rand(2, 3, 64, 96)
    sparse = _sparse_like(image)
    with torch.no_grad():
        both = model.forward_passes(image, sparse, ("prediction", "completion"))
        assert torch.equal(both["prediction"]["depth"], model(image)["depth"])
        assert torch.equal(both["completion"]["depth"], model(image, sparse)["depth"])
        assert list(model.forward_passes(image, sparse, ("completion",))) == ["completion"]


def test_training_mode_returns_multiscale_inverse_depths_and_gradients_flow(models):
    model = create_model("san_resnet18").train()
    image = torch.rand(2, 3, 64, 96)
    gt = torch.rand(2, 1, 64, 96) * 20 + 1
    prediction = model(image)
    completion = model(image, _sparse_like(image))
    assert [tuple(x.shape[-2:]) for x in prediction["inv_depths"]] == [(64, 96), (32, 48), (16, 24), (8, 12)]
    loss = san_loss(prediction, completion, gt)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["san.weight"].abs().sum() > 0 and grads["san.blocks.0.branches.0.convs.0.weight"].abs().sum() > 0
    assert grads["encoder.conv1.weight"].abs().sum() > 0


def test_san_skip_parameters_start_at_identity(models):
    san = models["san_resnet18"].san
    assert torch.equal(san.weight, torch.ones(5)) and torch.equal(san.bias, torch.zeros(5))
    assert [b.norm.num_features for b in san.blocks] == [32, 64, 128, 256, 512]


# torchvision's parameter counts without the 1000-class fc layer
@pytest.mark.parametrize("depth, params", [(18, 11_176_512), (34, 21_284_672), (50, 23_508_032)])
def test_resnet_encoders_match_torchvision_sizes(depth, params):
    encoder = ResNetEncoder(depth)
    assert sum(p.numel() for p in encoder.parameters()) == params
    feats = encoder(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == encoder.channels
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]


def test_resnet_parameter_names_and_shapes_are_torchvision_s():
    state = ResNetEncoder(18).state_dict()
    expected = {
        "conv1.weight": (64, 3, 7, 7), "bn1.running_var": (64,), "layer1.0.conv1.weight": (64, 64, 3, 3),
        "layer1.1.bn2.bias": (64,), "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.running_mean": (128,), "layer3.1.conv2.weight": (256, 256, 3, 3),
        "layer4.0.conv1.weight": (512, 256, 3, 3), "layer4.1.bn2.num_batches_tracked": (),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert len(state) == 120  # 122 in torchvision's resnet18 state dict, minus fc.weight and fc.bias
    r50 = ResNetEncoder(50).state_dict()
    assert tuple(r50["layer1.0.conv3.weight"].shape) == (256, 64, 1, 1)
    assert tuple(r50["layer4.2.bn3.weight"].shape) == (2048,)


def test_imagenet_checkpoints_load_from_pth_and_safetensors(tmp_path):
    source = ResNetEncoder(18)
    torch.nn.init.normal_(source.conv1.weight)
    state = {**source.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    torch.save(state, tmp_path / "resnet18.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "resnet18.safetensors"))
    for name in ("resnet18.pth", "resnet18.safetensors"):
        target = ResNetEncoder(18)
        load_imagenet_weights(target, tmp_path / name)
        assert torch.equal(target.conv1.weight, source.conv1.weight)
    with pytest.raises(ValueError, match=r"resnet18.pth: not a torchvision ResNet-34 checkpoint"):
        load_imagenet_weights(ResNetEncoder(34), tmp_path / "resnet18.pth")
    # Global context blocks (Chen et al., ECCV 2020) in every residual block, basic ones too; ImageNet weights
    # still load (the GCBs keep their identity initialisation).
    with_gcb = ResNetEncoder(18, gcb_ratio=4)
    load_imagenet_weights(with_gcb, tmp_path / "resnet18.pth")
    assert with_gcb.layer3[1].gcb.transform[0].out_channels == 64
    x = torch.rand(1, 3, 64, 64)
    plain = ResNetEncoder(18).eval()
    load_imagenet_weights(plain, tmp_path / "resnet18.pth")
    with torch.no_grad():
        assert torch.allclose(with_gcb.eval()(x)[-1], plain(x)[-1], atol=1e-5)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoints_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"conv1.weight": _Payload()}, protocol=2))
    with pytest.raises(ValueError, match=r"evil.pth: cannot read weights"):
        load_imagenet_weights(ResNetEncoder(18), path)


def test_packnet_layers():
    torch.manual_seed(0)
    x = torch.rand(1, 32, 16, 24)
    assert PackLayerConv3d(32, 3, d=4)(x).shape == (1, 32, 8, 12)
    assert UnpackLayerConv3d(32, 16, 3, d=4)(x).shape == (1, 16, 32, 48)
    head = InvDepth(32, min_depth=0.5)
    assert head(x * 100).max() <= 2.0     # depth >= min_depth even when the sigmoid saturates
    assert head(x).min() > 0                # (a saturated sigmoid may underflow to 0: infinite depth)


def test_checkpoint_round_trip_and_bad_files(tmp_path, models):
    model = create_model("san_resnet18", input_height=96, input_width=320, max_depth=80.0).eval()
    path = save_model(model, tmp_path / "m.safetensors")
    assert json.loads((tmp_path / "m.json").read_text())["max_depth"] == 80.0
    loaded = load_model(path)
    assert loaded.config == model.config
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(image)["depth"], model(image)["depth"])
    (tmp_path / "m.json").unlink()  # the config embedded in the header is enough
    assert read_config(path) == model.config

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="truncated.safetensors: not a readable safetensors file"):
        load_model(truncated)
    wrong = tmp_path / "wrong.safetensors"
    wrong.write_bytes(path.read_bytes())
    (tmp_path / "wrong.json").write_text(json.dumps({**model.config.to_dict(), "name": "san_resnet34",
                                                     "arch": {"resnet_depth": 34}}))
    with pytest.raises(ModelFileError, match="wrong.safetensors: weights do not match a 'san_resnet34' model"):
        load_model(wrong)
    with pytest.raises(ModelFileError, match="missing.safetensors: model file not found"):
        load_model(tmp_path / "missing.safetensors")


def test_compressed_checkpoints_load_close_to_float32(tmp_path):
    from safetensors import safe_open

    torch.manual_seed(0)
    model = create_model("san_resnet18", san_channels=[8, 8, 16, 16, 32]).eval()
    image = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        reference = model(image)["depth"]
    sizes = {}
    for name, kw in (("f32", {}), ("int8", {"dtype": "int8"}),
                     ("mixed", {"dtype": "int8", "float16_components": ("decoder",)})):
        path = save_model(model, tmp_path / f"{name}.safetensors", **kw)
        sizes[name] = path.stat().st_size
        with torch.no_grad():
            depth = load_model(path)(image)["depth"]
        assert float(((depth - reference).abs() / reference).median()) < (1e-6 if name == "f32" else 2e-2)
        with safe_open(str(path), framework="pt") as f:
            dtypes = {k: f.get_tensor(k).dtype for k in f.keys()}
        if name != "f32":
            assert dtypes["encoder.layer1.0.conv1.weight"] == torch.int8
            decoder = dtypes["decoder.upconv1.0.0.weight"]
            assert decoder == (torch.float16 if name == "mixed" else torch.int8)
    assert sizes["int8"] < sizes["mixed"] < sizes["f32"] / 3
    with pytest.raises(ValueError, match="float16_components: 'decodr' is not a component"):
        save_model(model, tmp_path / "x.safetensors", dtype="int8", float16_components=("decodr",))


def test_model_config_validation():
    with pytest.raises(ValueError, match="input_height must be a positive multiple of 32, got 100"):
        ModelConfig("x", input_height=100)
    with pytest.raises(ValueError, match="not a model config"):
        ModelConfig.from_dict({"name": "x", "colour": 3}, "x.json")
    cfg = ModelConfig("san_resnet18").updated(max_depth=50.0, resnet_depth=34)
    assert cfg.max_depth == 50.0 and cfg.arch["resnet_depth"] == 34


@pytest.mark.slow
def test_densenet_encoder_matches_torchvision_and_loads_old_checkpoints(tmp_path):
    from depth_core.models.layers.densenet import DenseNetEncoder, load_densenet_weights

    encoder = DenseNetEncoder(169)
    assert sum(p.numel() for p in encoder.parameters()) == 12_484_480   # torchvision densenet169 features
    state = encoder.state_dict()
    assert tuple(state["features.denseblock3.denselayer32.conv2.weight"].shape) == (32, 128, 3, 3)
    assert tuple(state["features.transition2.conv.weight"].shape) == (256, 512, 1, 1)
    assert tuple(state["features.norm5.weight"].shape) == (1664,)
    # Old torchvision files spell 'norm.1' for 'norm1'; the loader accepts both and drops the classifier.
    old = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v for k, v in state.items()}
    old["classifier.weight"] = torch.zeros(1000, 1664)
    torch.save(old, tmp_path / "densenet169.pth")
    fresh = DenseNetEncoder(169)
    load_densenet_weights(fresh, tmp_path / "densenet169.pth")
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


def test_densedepth_layout_size_and_loss():
    from depth_core.losses.densedepth import densedepth_loss

    model = create_model("densedepth")
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 42.6) < 0.1          # the paper's 42.6M
    assert model.conv2.out_channels == 1664 and model.up4.convB.out_channels == 104
    model.train()
    image = torch.rand(2, 3, 64, 96)
    out = model(image)
    assert out["target"].shape == (2, 1, 32, 48) and out["depth"].shape == (2, 1, 64, 96)   # half-res head
    gt = torch.rand(2, 1, 64, 96) * 20 + 1
    gt[0, 0, :10] = 0                                                                   # no ground truth there
    loss = densedepth_loss(out["target"], gt, 80.0, 0.4, 80.0)
    loss.backward()
    assert torch.isfinite(loss) and model.encoder.features.conv0.weight.grad.abs().sum() > 0
    perfect = 80.0 / torch.nn.functional.interpolate(gt[1:], size=(32, 48), mode="nearest").clamp(0.4, 80)
    assert densedepth_loss(perfect, gt[1:], 80.0, 0.4, 80.0).item() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPE_LOSSES))
def test_gradients_flow_through_every_model_and_its_losses(name):
    from depth_core.train.objectives import LOSSES, needed_passes

    torch.manual_seed(0)
    model = create_model(name).train()
    image = torch.rand(2, 3, 64, 96)
    gt = torch.rand(2, 1, 64, 96) * 20 + 1
    sparse = torch.where(torch.rand_like(gt) < 0.05, gt, torch.zeros_like(gt))
    passes = needed_passes({n: 1.0 for n in RECIPE_LOSSES[name]})
    outputs = {}
    if "prediction" in passes:
        outputs["prediction"] = model(image)
    if "completion" in passes:
        outputs["completion"] = model(image, sparse)
    losses = [LOSSES[n](outputs, {"depth": gt, "epoch": 2}, model.config) for n in RECIPE_LOSSES[name]]
    sum(losses).backward()
    assert all(torch.isfinite(x) for x in losses)
    # Every parameter takes part: one without a gradient is dead weight, and stops data-parallel training.
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    grads = [p.grad for p in model.parameters()]
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_fusanet_outputs_a_confidence_in_unit_range():
    model = create_model("fusanet").eval()
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 8.1) < 0.1      # the paper's 8.1M
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 96))
    assert out["confidence"].shape == (1, 1, 64, 96)
    assert 0 <= float(out["confidence"].min()) and float(out["confidence"].max()) <= 1


def test_fkaconv_sees_only_its_nearest_3d_neighbours():
    from depth_core.models.layers.fkaconv import FKAConv

    torch.manual_seed(0)
    conv = FKAConv(4, 6, kernel_size=8, neighbours=4)
    x = torch.rand(1, 4, 16, 16, requires_grad=True)
    mask = torch.zeros(1, 1, 16, 16)
    depth = torch.zeros(1, 1, 16, 16)
    cluster = [(2, 2), (2, 3), (3, 2), (3, 3), (4, 4)]
    for v, u in cluster:
        mask[0, 0, v, u], depth[0, 0, v, u] = 1, 5.0
    mask[0, 0, 12, 12], depth[0, 0, 12, 12] = 1, 40.0       # a far point, outside (2,2)'s 4 neighbours
    out = conv(x, mask, depth)
    assert out.shape == (1, 6, 16, 16)
    assert torch.count_nonzero(out.abs().sum(1)) == 6 and torch.all(out[..., mask[0, 0] == 0] == 0)
    out[0, :, 2, 2].sum().backward()
    assert x.grad[0, :, 12, 12].abs().sum() == 0 and x.grad[0, :, 2, 3].abs().sum() > 0
    moved = depth.clone()
    moved[0, 0, 12, 12] = 60.0
    assert torch.equal(conv(x, mask, moved)[0, :, 2, 2], out[0, :, 2, 2])
    assert torch.equal(conv(x, torch.zeros_like(mask), depth), torch.zeros_like(out))   # no points at all


def test_fusanet_with_fkaconv_trains_but_refuses_export(tmp_path):
    from depth_core.export import ExportError, export_onnx

    model = create_model("fusanet", arch={"channels": 16, "point_conv": "fkaconv"}).train()
    image, gt = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96) * 20 + 1
    out = model(image, gt * (torch.rand_like(gt) < 0.05))
    out["depth"].mean().backward()
    assert model.blocks[-1].points.project.weight.grad.abs().sum() > 0
    with pytest.raises(ExportError, match="uses FKAConv"):
        export_onnx(model, tmp_path / "f.onnx")
    with pytest.raises(ValueError, match="arch.point_conv: expected 'sparse' or 'fkaconv'"):
        create_model("fusanet", arch={"channels": 16, "point_conv": "knn"})

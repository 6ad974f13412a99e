"""The completion trained in place (san_efficientnet_lite0_spn): image-guided propagation that
keeps measured pixels, a learned confidence in both modes, prediction unchanged without points,
one ONNX graph; the sparsification that scores the confidence; growing a model from smaller
weights (init_new)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from depth_core.metrics import Sparsification, sparsification_table
from depth_core.models import create_model, save_model
from depth_core.models.layers.prior import PushPullPrior
from depth_core.models.layers.propagation import (
    OFFSETS,
    AffinityPropagation,
    ConfidenceHead,
    laplace_confidence,
    neighbours,
)
from depth_core.train.config import ConfigError
from depth_core.train.init import init_model


def _random_head(prop: AffinityPropagation, seed: int = 0, std: float = 0.5) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        prop.head[-1].weight.normal_(0, std)


def test_neighbours_are_the_eight_shifted_copies_with_replicated_borders():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    n = neighbours(x, 1)
    assert n.shape == (1, 8, 4, 5)
    assert n[0, 1, 2, 3] == x[0, 0, 1, 3] and n[0, 6, 2, 3] == x[0, 0, 3, 3]      # up, down
    assert n[0, 3, 2, 3] == x[0, 0, 2, 2] and n[0, 7, 1, 1] == x[0, 0, 2, 2]      # left, down-right
    assert n[0, 0, 0, 0] == x[0, 0, 0, 0]                                         # replicated corner
    assert neighbours(x, 2)[0, 4, 1, 1] == x[0, 0, 1, 3]                          # right, dilation 2


def test_propagation_keeps_measured_pixels_and_stays_within_its_inputs():
    prop = AffinityPropagation(4, dilations=(4, 2, 1), iterations=3)
    _random_head(prop)
    guide = torch.randn(2, 4, 32, 48)
    x0 = torch.rand(2, 1, 32, 48) * 2 - 3
    mask = (torch.rand(2, 1, 32, 48) < 0.1).float()
    anchor = torch.rand(2, 1, 32, 48) * 2 - 3
    with torch.no_grad():
        out = prop(x0, guide, anchor, mask)
        affinities = prop.affinities(guide)
    assert torch.equal(out[mask > 0], anchor[mask > 0])
    assert all(float(a.min()) >= 0 and float(a.sum(1).max()) <= 1 + 1e-6 for a in affinities)
    # Convex updates: nothing leaves the range of the estimate and the measurements.
    assert float(out.min()) >= -3 - 1e-5 and float(out.max()) <= -1 + 1e-5


def test_the_initial_propagation_barely_moves_the_estimate():
    prop = AffinityPropagation(4)   # the initial head: affinities sigmoid(-6) = 0.0025
    x0 = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        out = prop(x0, torch.randn(1, 4, 16, 16), x0, torch.zeros_like(x0))
    assert float((out - x0).abs().max()) < 0.2 * float(x0.abs().max())


def test_a_plane_with_sparse_points_is_completed_to_the_plane_within_one_percent():
    """A ground plane's inverse depth is affine in the pixel coordinates; the default's schedule
    (dilations 4, 2, 1, three updates each) with uniform affinities, starting at the in-graph
    prior of every 4th row of points, stays on it away from the image border (where the
    replicated border is not the plane)."""
    h, w = 64, 96
    v = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1).expand(1, 1, h, w)
    u = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(1, 1, h, w)
    inv_plane = 0.1 + 0.003 * v + 0.0005 * u                      # 1/m: 10 m at the top left, 3.3 m at the bottom
    mask = torch.zeros(1, 1, h, w)
    mask[..., 1::4, ::2] = 1
    prior, _ = PushPullPrior(levels=5)(inv_plane * mask, mask)
    prop = AffinityPropagation(1, dilations=(4, 2, 1), iterations=3)
    with torch.no_grad():
        prop.head[-1].bias.fill_(3.0)                              # every affinity sigmoid(3), normalised
        out = prop(torch.log(prior), torch.zeros(1, 1, h, w), torch.log(inv_plane), mask)
    err = (torch.exp(out) / inv_plane - 1).abs()[..., 8:-8, 8:-8]
    assert float(err.max()) < 0.01


def _edge_stopping_head(prop: AffinityPropagation) -> None:
    """Hand-set weights: the affinity to neighbour k is sigmoid(3 - 40 |I(p + k) - I(p)|) on the
    guide's intensity I: high on a surface, about 0 across an edge the image shows."""
    first, second, last = prop.head[0], prop.head[2], prop.head[4]
    with torch.no_grad():
        for conv in (first, second, last):
            conv.weight.zero_()
            conv.bias.zero_()
        for k, (dy, dx) in enumerate(OFFSETS):
            for sign, channel in ((1, 2 * k), (-1, 2 * k + 1)):   # relu(I(p+k) - I(p)), relu(I(p) - I(p+k))
                first.weight[channel, 0, 1 + dy, 1 + dx] += sign
                first.weight[channel, 0, 1, 1] -= sign
                second.weight[channel, channel, 1, 1] = 1
            last.weight[k, 2 * k, 1, 1] = last.weight[k, 2 * k + 1, 1, 1] = -40
            last.bias[k] = 3


def test_propagation_does_not_cross_a_depth_edge_that_the_image_shows():
    """Left half dark and 4 m away, right half bright and 16 m; points on every 8th row. From a
    blurred start (what interpolation gives), affinities that follow the image pull each side to
    its own depth; uniform affinities smear the two across the edge."""
    h, w = 48, 64
    left = torch.arange(w).view(1, 1, 1, w).expand(1, 1, h, w) < 32
    inv_true = torch.where(left, 1 / 4.0, 1 / 16.0)
    image = left.float() * -1 + 1                                # 0 on the left, 1 on the right
    mask = torch.zeros(1, 1, h, w)
    mask[..., 3::8, 1::3] = 1
    blurred = torch.nn.functional.avg_pool2d(torch.log(inv_true), 9, 1, 4, count_include_pad=False)
    x0 = mask * torch.log(inv_true) + (1 - mask) * blurred
    guided = AffinityPropagation(1, dilations=(1,), iterations=200)
    _edge_stopping_head(guided)
    uniform = AffinityPropagation(1, dilations=(1,), iterations=200)
    with torch.no_grad():
        uniform.head[-1].bias.fill_(3.0)
        out = guided(x0, image, torch.log(inv_true), mask)
        smeared = uniform(x0, image, torch.log(inv_true), mask)
    near_edge = (slice(None), slice(None), slice(3, 44), slice(28, 36))   # between the first and last rows of points
    err = (torch.exp(out) / inv_true - 1).abs()[near_edge]
    assert float(err.max()) < 0.1                                  # each side keeps its own depth
    assert float((torch.exp(smeared) / inv_true - 1).abs()[near_edge].max()) > 0.5
    assert float((torch.exp(x0) / inv_true - 1).abs()[near_edge].max()) > 0.5


def test_confidence_is_a_probability_that_falls_with_the_error_scale():
    scale = torch.tensor([0.005, 0.05, 0.2, 2.0])
    c = laplace_confidence(scale)
    assert torch.all((c >= 0) & (c <= 1)) and torch.all(c[:-1] > c[1:])
    head = ConfidenceHead(3)
    assert torch.allclose(head(torch.randn(1, 3, 8, 8)), torch.full((1, 1, 8, 8), 0.205), atol=1e-3)
    # At half resolution: the same layers on the 2x2-averaged input, the scale resized back; on a
    # uniform input, away from the borders, the same scale as at full resolution.
    half = ConfidenceHead(3, stride=2)
    with torch.no_grad():
        half.net[0].weight.normal_(0, 0.3)
        half.net[-1].weight.normal_(0, 0.3)
        full = ConfidenceHead(3)
        full.load_state_dict(half.state_dict())
        uniform = torch.randn(1, 3, 1, 1).expand(1, 3, 32, 32).contiguous()
        out = half(uniform)
        assert out.shape == (1, 1, 32, 32) and float(half(torch.randn(1, 3, 32, 32)).std()) > 0
        torch.testing.assert_close(out[..., 8:-8, 8:-8], full(uniform)[..., 8:-8, 8:-8])
    with pytest.raises(ValueError, match="stride"):
        ConfidenceHead(3, stride=3)


@pytest.fixture(scope="module", params=["san_efficientnet_lite0_spn", "san_efficientnet_lite0_sel",
                                        "san_efficientnet_lite0_selm", "san_efficientnet_lite0_selg",
                                        "san_efficientnet_lite0_selp"])
def spn(request):
    """Each completion trained in place: the propagation model, and the ones that choose among
    measurements (tests/core/test_candidates.py), with non-trivial heads as after training."""
    torch.manual_seed(0)
    model = create_model(request.param).eval()
    with torch.no_grad():
        model.refine[-1].weight.normal_(0, 0.3)
        model.confidence.net[-1].weight.normal_(0, 0.3)
        head = model.propagate.head if request.param.endswith("_spn") else model.select.head
        head[-1].weight.normal_(0, 0.3)
        if getattr(getattr(model, "select", None), "pixel", None) is not None:
            model.select.pixel.weight.normal_(0, 0.3)
    return model


def test_spn_without_points_is_bit_identical_to_its_prediction_and_keeps_measured_pixels(spn):
    image = torch.rand(1, 3, 160, 256)
    with torch.no_grad():
        prediction = spn(image)
        empty = spn(image, torch.zeros(1, 1, 160, 256))
        dense = torch.rand(1, 1, 160, 256) * 40 + 2
        completed = spn(image, dense)
        sparse = torch.zeros_like(dense)
        sparse[..., 80::4, ::3] = dense[..., 80::4, ::3]
        out = spn(image, sparse)
    assert torch.equal(empty["depth"], prediction["depth"])
    assert torch.equal(empty["confidence"], prediction["confidence"])
    torch.testing.assert_close(completed["depth"], dense, rtol=1e-5, atol=0)
    hit = sparse > 0
    torch.testing.assert_close(out["depth"][hit], sparse[hit], rtol=1e-5, atol=0)
    assert not torch.allclose(out["depth"][~hit], prediction["depth"][~hit])
    for o in (prediction, out):
        assert o["confidence"].shape == o["depth"].shape
        assert float(o["confidence"].min()) >= 0 and float(o["confidence"].max()) <= 1
    assert float(out["confidence"].std()) > 0


def test_spn_trains_with_its_fusion_in_place(spn, completion_batch):
    """The training pass carries the confidence's error scale for its loss, and every learned
    part of the completion gets a gradient from the completion's loss."""
    from depth_core.losses import laplace_nll, log_l1

    model = create_model("san_efficientnet_lite0_spn").train()
    with torch.no_grad():
        model.propagate.head[-1].weight.normal_(0, 0.1)
    image, gt, lidar, sparse = completion_batch
    out = model.forward_passes(image, sparse, ("prediction", "completion"))
    comp = out["completion"]
    assert {"depth", "confidence", "error_scale", "inv_depths"} <= set(comp) and "error_scale" in out["prediction"]
    loss = log_l1(comp["depth"], gt, lidar, sparse) + laplace_nll(comp["depth"], comp["error_scale"], gt, lidar, sparse)
    loss.backward()
    for name in ("trust_slope", "trust_radius", "refine.2.weight", "propagate.head.0.weight",
                 "confidence.net.2.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    # The confidence's likelihood trains the confidence only, never the depth path.
    model.zero_grad()
    with torch.no_grad():
        model.confidence.net[-1].weight.normal_(0, 0.3)
    comp = model.forward_passes(image, sparse, ("completion",))["completion"]
    laplace_nll(comp["depth"], comp["error_scale"], gt, lidar, sparse).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert float(grads["confidence.net.0.weight"].abs().sum()) > 0
    assert all(g is None or float(g.abs().sum()) == 0 for n, g in grads.items() if not n.startswith("confidence."))
    # A scan with non-finite values leaves the losses finite (those points are not points).
    bad = lidar.clone()
    bad[0, 0, 0, 0], bad[0, 0, 0, 1] = float("inf"), float("nan")
    assert torch.isfinite(log_l1(comp["depth"], gt, bad, sparse))
    assert torch.isfinite(laplace_nll(comp["depth"], comp["error_scale"], gt, bad, sparse))


@pytest.mark.slow
def test_spn_exports_to_one_onnx_graph_with_parity(spn, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from depth_core.export import export_onnx

    path = export_onnx(spn, tmp_path / "spn.onnx", height=160, width=512)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["depth", "confidence"]
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(1, 3, 160, 512)).astype(np.float32)
    for sparse in (np.zeros((1, 1, 160, 512), np.float32),
                   np.where(rng.uniform(size=(1, 1, 160, 512)) < 0.04, rng.uniform(2, 60, (1, 1, 160, 512)),
                            0).astype(np.float32)):
        depth, confidence = session.run(["depth", "confidence"], {"image": image, "sparse_depth": sparse})
        with torch.no_grad():
            out = spn(torch.from_numpy(image), torch.from_numpy(sparse))
        assert np.max(np.abs(depth - out["depth"].numpy()) / out["depth"].numpy()) < 1e-3
        assert np.max(np.abs(confidence - out["confidence"].numpy())) < 1e-3


def test_a_model_grows_from_smaller_weights_only_with_init_new(tmp_path):
    torch.manual_seed(0)
    small = create_model("san_efficientnet_lite0", max_depth=200.0, prior_decay=0.5)
    path = save_model(small, tmp_path / "small.safetensors")
    grown, _ = init_model(str(path), "san_efficientnet_lite0_spn", {}, ("trust_", "propagate.", "confidence."))
    assert grown.config.name == "san_efficientnet_lite0_spn"
    assert grown.config.max_depth == 200.0 and grown.config.arch["prior_decay"] == 0.5   # the file's settings
    assert grown.config.arch["confidence"] is True                                       # on the new defaults
    assert torch.equal(grown.state_dict()["refine.0.weight"], small.state_dict()["refine.0.weight"])
    assert torch.equal(grown.propagate.head[-1].weight, torch.zeros_like(grown.propagate.head[-1].weight))
    assert torch.equal(grown.propagate.head[-1].bias, torch.full_like(grown.propagate.head[-1].bias, -6.0))
    with pytest.raises(ConfigError, match="holds a 'san_efficientnet_lite0' model, but model: is"):
        init_model(str(path), "san_efficientnet_lite0_spn", {})
    with pytest.raises(ConfigError, match="missing .*propagate"):
        init_model(str(path), "san_efficientnet_lite0_spn", {}, ("trust_", "confidence."))
    # A part replaced by one of another shape: listed, it starts afresh; the rest is loaded.
    full = {"selection": {"stride": 1, "first_kernel": 3}}
    wide = save_model(create_model("san_efficientnet_lite0_sel", arch=full), tmp_path / "wide.safetensors")
    lean = {"arch": {"selection": {"stride": 2, "first_kernel": 1}}}
    with pytest.raises(ConfigError, match=r"wrong shapes \['select.head.0.weight"):
        init_model(str(wide), None, lean)
    swapped, _ = init_model(str(wide), "san_efficientnet_lite0_sel", lean, ("select.",))
    assert swapped.select.head[0].kernel_size == (1, 1) and swapped.select.stride == 2
    assert torch.equal(swapped.state_dict()["san.bias"], load_file(wide)["san.bias"].float())


def test_a_head_grows_from_a_narrower_one_with_init_grow(tmp_path):
    """init_grow: the file's head fills the leading slice of the wider one and the added channels
    start at 0, so the grown head's logits for the old candidates are the file's (the model's
    output still changes: the window fills fall back to the pyramid mean); a file wider than the
    model is an error that names the tensor."""
    torch.manual_seed(0)
    narrow = create_model("san_efficientnet_lite0_sel")
    with torch.no_grad():
        for p in narrow.select.parameters():
            p.normal_(0, 0.3)
    path = save_model(narrow, tmp_path / "sel.safetensors")
    args = {"selection": {"reaches": [1, 2, 4, 8], "hidden": 16, "stride": 2, "first_kernel": 1, "mean_levels": 6}}
    with pytest.raises(ConfigError, match="holds a 'san_efficientnet_lite0_sel' model, but model: is"):
        init_model(str(path), "san_efficientnet_lite0_selm", args)
    grown, _ = init_model(str(path), "san_efficientnet_lite0_selm", args, (), ("select.",))
    saved = load_file(path)
    first, last = grown.select.head[0], grown.select.head[-1]
    assert first.weight.shape == (16, 32, 1, 1) and last.weight.shape == (11, 16, 3, 3)
    assert torch.equal(first.weight[:, :30], saved["select.head.0.weight"].float())
    assert torch.equal(last.bias[:10], saved["select.head.4.bias"].float())
    assert not first.weight[:, 30:].any() and not last.weight[10:].any() and not last.bias[10:].any()
    # The head's logits for the old candidates are the file's, whatever the added guide channels hold.
    guide = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(grown.select.head(guide)[:, :10], narrow.select.head(guide[:, :30]))
    wide = save_model(grown, tmp_path / "selm.safetensors")
    lean = {"selection": {k: v for k, v in args["selection"].items() if k != "mean_levels"}}
    with pytest.raises(ConfigError, match=r"wrong shapes \['select.head.0.weight \(16, 32, 1, 1\) != \(16, 30, 1, 1\)"):
        init_model(str(wide), "san_efficientnet_lite0_sel", lean, (), ("select.",))


def test_sparsification_falls_when_the_confidence_ranks_the_errors():
    rng = np.random.default_rng(0)
    gt = rng.uniform(2, 50, (40, 60)).astype(np.float32)
    rel = rng.uniform(0, 0.4, gt.shape).astype(np.float32)          # known relative errors
    pred = gt * (1 + rel)
    ranked = Sparsification()
    ranked.add(pred, gt, 1 - rel)                                   # confidence: the error, reversed
    curve = ranked.curve()
    assert [r["kept"] for r in curve] == [1.0, 0.75, 0.5, 0.25]
    values = [r["abs_rel"] for r in curve]
    assert all(a > b for a, b in itertools.pairwise(values))
    np.testing.assert_allclose(values[0], rel.mean(), rtol=1e-5)
    np.testing.assert_allclose(values[2], np.sort(rel.ravel())[: rel.size // 2].mean(), rtol=1e-5)
    blind = Sparsification()
    blind.add(pred, gt, rng.uniform(size=gt.shape).astype(np.float32))   # unrelated to the error: flat
    flat = [r["abs_rel"] for r in blind.curve()]
    assert flat[0] == pytest.approx(values[0]) and flat[2] == pytest.approx(flat[0], rel=0.1)
    capped = Sparsification(max_points=500)
    capped.add(pred, gt, 1 - rel)
    assert capped.curve()[0]["points"] == 500 and capped.curve()[0]["abs_rel"] == pytest.approx(values[0], rel=0.1)
    gt_holes = np.where(rng.uniform(size=gt.shape) < 0.5, gt, 0).astype(np.float32)
    partial = Sparsification()
    partial.add(pred, gt_holes, 1 - rel)
    assert partial.curve()[0]["points"] == int((gt_holes > 0).sum())
    # Calibration bins: a confidence of 1 - rel/0.4 says "within 10 %" exactly when rel < ~0.1.
    spread = Sparsification()
    spread.add(pred, gt, 1 - rel / 0.4)
    bins = spread.calibration(bins=5)
    assert [b["from"] for b in bins] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert sum(b["points"] for b in bins) == gt.size
    assert bins[-1]["within"] > 0.9 and bins[0]["within"] == 0.0
    table = "\n".join(sparsification_table({"completion": curve, "prediction": []}))
    assert "| completion |" in table and "| prediction |" not in table and "50% kept" in table

"""The completion that chooses among measurements (san_efficientnet_lite0_sel): window fills
against a brute-force reference, a choice the image makes at a depth edge, training reaches the
choice. Measured pixels kept, no points bit-identical to prediction and one ONNX graph are tested
with the propagation model's, in test_propagation.py."""

import numpy as np
import pytest
import torch

from depth_core.losses import choice_loss
from depth_core.models import create_model
from depth_core.models.layers.candidates import (
    CandidateSelection,
    GrowFill,
    PlaneFill,
    PyramidMean,
    ScanNoise,
    WindowFills,
)


def _brute_fills(scaled: np.ndarray, r: int):
    h, w = scaled.shape
    near, far, valid = (np.zeros((h, w)) for _ in range(3))
    for y in range(h):
        for x in range(w):
            win = scaled[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1]
            seen = win[win > 0]
            if seen.size:
                near[y, x], far[y, x], valid[y, x] = seen.max(), seen.min(), 1
    return near, far, valid


def test_window_fills_are_the_nearest_and_farthest_measurement_in_each_window():
    rng = np.random.default_rng(0)
    scaled = np.where(rng.uniform(size=(23, 31)) < 0.06, rng.uniform(0.01, 1.0, (23, 31)), 0).astype(np.float32)
    mask = (scaled > 0).astype(np.float32)
    fills, valid = WindowFills((1, 2, 4))(torch.from_numpy(scaled)[None, None], torch.from_numpy(mask)[None, None])
    assert fills.shape == valid.shape == (1, 6, 23, 31)
    for i, r in enumerate((1, 2, 4)):
        near, far, seen = _brute_fills(scaled, r)
        np.testing.assert_allclose(fills[0, 2 * i].numpy(), near, atol=1e-6)
        np.testing.assert_allclose(fills[0, 2 * i + 1].numpy(), far, atol=1e-6)
        assert np.array_equal(valid[0, 2 * i].numpy(), seen) and np.array_equal(valid[0, 2 * i + 1].numpy(), seen)
    with pytest.raises(ValueError, match="increasing"):
        WindowFills((2, 1))


def _brute_pyramid_mean(values: np.ndarray, mask: np.ndarray, levels: int):
    """Per pixel: the mean of the measured values in the 3x3 blocks of 2**l pixels around its
    own block, at the smallest l whose window holds one."""
    h, w = values.shape
    mean, valid = np.zeros((h, w)), np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            for level in range(levels):
                s = 2 ** level
                by, bx = y // s, x // s
                win = (slice(max(0, (by - 1) * s), (by + 2) * s), slice(max(0, (bx - 1) * s), (bx + 2) * s))
                seen = mask[win] > 0
                if seen.any():
                    mean[y, x], valid[y, x] = values[win][seen].mean(), 1
                    break
    return mean, valid


def test_pyramid_mean_is_the_mean_of_the_nearest_window_that_holds_measurements():
    rng = np.random.default_rng(3)
    mask = (rng.uniform(size=(32, 48)) < 0.02).astype(np.float32)
    mask[20:, 30:] = 0                     # a hole wider than the finest windows
    values = rng.uniform(-3, 1, (32, 48)).astype(np.float32)   # unmeasured pixels hold values too: ignored
    mean, valid = PyramidMean(4)(torch.from_numpy(values)[None, None], torch.from_numpy(mask)[None, None])
    ref_mean, ref_valid = _brute_pyramid_mean(values, mask, 4)
    np.testing.assert_allclose(mean[0, 0].numpy(), ref_mean, atol=1e-5)
    assert np.array_equal(valid[0, 0].numpy(), ref_valid) and 0.5 < ref_valid.mean() < 1
    # A measured pixel alone in its window is its own mean; no points: nothing is valid.
    lone = torch.zeros(1, 1, 8, 8)
    lone[..., 0, 0] = 1.0
    mean, valid = PyramidMean(3)(lone * 2.5, lone)
    assert float(mean[0, 0, 1, 1]) == 2.5 and float(valid.min()) == 1.0
    mean, valid = PyramidMean(2)(lone * 2.5, lone)
    assert float(valid[0, 0, 7, 7]) == 0 and float(mean[0, 0, 7, 7]) == 0
    # Empty windows stay finite in half precision (a TensorRT FP16 engine's).
    mean, valid = PyramidMean(4)(torch.from_numpy(values).half()[None, None], torch.from_numpy(mask).half()[None, None])
    assert torch.isfinite(mean).all() and np.array_equal(valid[0, 0].float().numpy(), ref_valid)
    with pytest.raises(ValueError, match="levels"):
        PyramidMean(0)
    with pytest.raises(ValueError, match="multiples of 8"):
        PyramidMean(4)(torch.zeros(1, 1, 12, 16), torch.zeros(1, 1, 12, 16))
    with pytest.raises(ValueError, match="mean_levels must be 1..6"):
        create_model("san_efficientnet_lite0_selm", arch={"selection": {"mean_levels": 7}})


def test_grow_fill_is_the_nearest_measurement_within_its_steps():
    rng = np.random.default_rng(5)
    h, w, steps = 29, 37, 4
    mask = (rng.uniform(size=(h, w)) < 0.03).astype(np.float32)
    mask[18:, 22:] = 0                       # a hole wider than the steps reach
    values = rng.uniform(-3, 1, (h, w)).astype(np.float32)   # unmeasured pixels hold values too: ignored
    fill, valid = GrowFill(steps)(torch.from_numpy(values)[None, None], torch.from_numpy(mask)[None, None])
    fill, valid = fill[0, 0].numpy(), valid[0, 0].numpy()
    fill_ref = fill.copy()
    # City-block distance of every pixel to each measurement, by brute force.
    ys, xs = np.nonzero(mask)
    yy, xx = np.mgrid[:h, :w]
    dist = np.abs(yy[..., None] - ys) + np.abs(xx[..., None] - xs)      # [h, w, points]
    nearest = dist.min(-1)
    assert np.array_equal(valid, (nearest <= steps).astype(np.float32)) and 0.3 < valid.mean() < 1
    assert np.all(fill[valid == 0] == 0)
    # Measured pixels keep their values; a pixel strictly nearer one measurement than any other
    # holds exactly its value; where several are as near, the fill lies among theirs.
    np.testing.assert_array_equal(fill[mask > 0], values[mask > 0])
    ties = (dist == nearest[..., None]).sum(-1)
    unique = (valid > 0) & (ties == 1)
    owner = dist.argmin(-1)
    np.testing.assert_allclose(fill[unique], values[ys, xs][owner[unique]], rtol=0, atol=1e-6)
    point_values = values[ys, xs]
    for y, x in zip(*np.nonzero((valid > 0) & (ties > 1))):
        among = point_values[dist[y, x] == nearest[y, x]]
        assert among.min() - 1e-6 <= fill[y, x] <= among.max() + 1e-6
    # No points: nothing is valid.
    fill, valid = GrowFill(2)(torch.ones(1, 1, 6, 6), torch.zeros(1, 1, 6, 6))
    assert float(valid.max()) == 0 and float(fill.abs().max()) == 0
    with pytest.raises(ValueError, match="steps"):
        GrowFill(0)
    # Batches are filled each on its own, and half precision (a TensorRT FP16 engine's) gives the same.
    pair = torch.stack([torch.from_numpy(values), torch.from_numpy(values[::-1].copy())])[:, None]
    masks = torch.stack([torch.from_numpy(mask), torch.from_numpy(mask[::-1].copy())])[:, None]
    both, both_valid = GrowFill(steps)(pair, masks)
    np.testing.assert_array_equal(both[0, 0].numpy(), fill_ref)
    second, _ = GrowFill(steps)(pair[1:], masks[1:])
    np.testing.assert_array_equal(both[1:].numpy(), second.numpy())
    half, half_valid = GrowFill(steps)(pair.half(), masks.half())
    assert torch.equal(half_valid.float(), both_valid)
    np.testing.assert_allclose(half.float().numpy(), both.numpy(), atol=5e-3)
    with pytest.raises(ValueError, match="grow_steps must be a whole number"):
        create_model("san_efficientnet_lite0_selg", arch={"selection": {"mean_levels": 6, "grow_steps": 2.5}})
    with pytest.raises(ValueError, match="needs mean_levels"):
        create_model("san_efficientnet_lite0_selg", arch={"selection": {"mean_levels": 0, "grow_steps": 8}})


def _onnx_depth(model, path, image: torch.Tensor, sparse: torch.Tensor) -> np.ndarray:
    """``model`` exported to one ONNX graph at ``image``'s size, and its depth there on ONNX Runtime."""
    import onnxruntime as ort

    from depth_core.export import export_onnx

    path = export_onnx(model, path, height=image.shape[-2], width=image.shape[-1])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, (image.numpy(), sparse.numpy()))))[0]


def _plane_reference(values, mask, reach, sigma, ridge, y, x):
    """The ridge-regularised weighted least-squares plane of one window, read at its centre."""
    h, w = values.shape
    rows, cols, z, wt = [], [], [], []
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            yy, xx = y + dy, x + dx
            if 0 <= yy < h and 0 <= xx < w and mask[yy, xx]:
                rows.append(dy), cols.append(dx), z.append(values[yy, xx])
                wt.append(np.exp(-0.5 * (dx * dx + dy * dy) / sigma**2))
    if not wt:
        return None
    wt, u, v, z = (np.asarray(a, np.float64) for a in (wt, cols, rows, z))
    wt = wt / wt.sum()
    mu, mv, mz = wt @ u, wt @ v, wt @ z
    du, dv, dz = u - mu, v - mv, z - mz
    cov = np.array([[wt @ (du * du), wt @ (du * dv)], [wt @ (du * dv), wt @ (dv * dv)]]) + ridge * np.eye(2)
    b, c = np.linalg.solve(cov, [wt @ (du * dz), wt @ (dv * dz)])
    return mz - b * mu - c * mv


def test_plane_fill_is_the_weighted_plane_through_the_window():
    """Against a per-window numpy least-squares reference; a plane in inverse depth is reproduced
    where the window's points span it; one ring is fitted flat across it; one point is its own value."""
    rng = np.random.default_rng(3)
    h, w, reach = 30, 44, 4
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    plane = 0.2 + 0.004 * xx - 0.003 * yy                       # inverse depth of a tilted plane
    mask = (rng.uniform(size=(h, w)) < 0.08).astype(np.float32)
    noisy = (plane * (1 + rng.normal(0, 0.01, plane.shape))).astype(np.float32)

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]

    fill, valid = PlaneFill(reach, ridge=0.1)(t(noisy), t(mask))
    fill, valid = fill[0, 0].numpy(), valid[0, 0].numpy()
    for y, x in zip(rng.integers(0, h, 60), rng.integers(0, w, 60)):
        ref = _plane_reference(noisy, mask, reach, reach / 2, 0.1, y, x)
        if ref is None:
            assert valid[y, x] == 0 and fill[y, x] == 0
        else:
            assert valid[y, x] == 1 and fill[y, x] == pytest.approx(ref, rel=1e-4)
    # Noiseless, with a small ridge: the plane itself wherever the window holds 6 or more points
    # (most of the window) - within 1 %.
    exact, _ = PlaneFill(reach, ridge=1e-3)(t(plane), t(mask))
    counts = torch.nn.functional.conv2d(t(mask), torch.ones(1, 1, 9, 9), padding=4)[0, 0].numpy()
    spanned = counts >= 6
    assert spanned.mean() > 0.5
    np.testing.assert_allclose(exact[0, 0].numpy()[spanned], plane[spanned], rtol=0.01)
    # One ring (row 10, every 3rd pixel): along it the fit follows the plane; across it, it is flat.
    ring = np.zeros((h, w), np.float32)
    ring[10, ::3] = 1
    across, _ = PlaneFill(reach, ridge=0.1)(t(plane), t(ring))
    assert float(across[0, 0, 7, 21]) == pytest.approx(float(across[0, 0, 10, 21]), rel=1e-5)
    assert float(across[0, 0, 10, 21]) == pytest.approx(float(plane[10, 21]), rel=1e-3)
    # One point: its own value everywhere within reach, nothing beyond.
    single = np.zeros((h, w), np.float32)
    single[15, 20] = 1
    one, one_valid = PlaneFill(reach)(t(plane), t(single))
    inside = one_valid[0, 0].numpy() > 0
    assert inside.sum() == (2 * reach + 1) ** 2
    np.testing.assert_allclose(one[0, 0].numpy()[inside], plane[15, 20], rtol=1e-4)   # float32 moments
    assert float(one[0, 0].numpy()[~inside].max()) == 0
    with pytest.raises(ValueError, match="reach"):
        PlaneFill(0)
    with pytest.raises(ValueError, match="ridge"):
        PlaneFill(4, ridge=0)
    with pytest.raises(ValueError, match="ridge"):
        PlaneFill(4, ridge=float("nan"))
    with pytest.raises(ValueError, match="sigma"):
        PlaneFill(4, sigma=0)
    # It runs in float32 whatever its inputs and autocast say: bfloat16 inputs give the float32
    # fill of those same values, rounded once at the end (computed in bfloat16 it is off by tens
    # of per cent near sparse windows' edges).
    rounded = t(noisy).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half, _ = PlaneFill(reach, ridge=0.1)(rounded, t(mask).bfloat16())
    exact, _ = PlaneFill(reach, ridge=0.1)(rounded.float(), t(mask))
    assert half.dtype == torch.bfloat16
    np.testing.assert_allclose(half.float().numpy(), exact.numpy(), rtol=8e-3, atol=1e-6)


def test_the_plane_candidate_completes_a_plane_and_exports(tmp_path):
    """As a model option (``plane_reach``; ``san_efficientnet_lite0_selp``), the plane is the last
    candidate: a head that picks it completes a tilted ground plane with sparse rings to within 1 %
    between them, measured pixels keep their values, and the exported graph computes the same."""
    model = create_model("san_efficientnet_lite0_selp").eval()
    assert model.plane is not None and model.plane.reach == 4
    n = model.select.head[-1].out_channels
    with torch.no_grad():
        model.select.head[-1].bias.zero_()
        model.select.head[-1].bias[n - 1] = 30.0      # always the plane
        model.select.pixel.weight.zero_()
    h, w = 160, 256
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    depth = 1.5 / np.clip((yy - 60) / 200, 1e-3, None)       # a ground plane seen from 1.5 m: 1/depth linear in rows
    depth = np.where(yy > 70, depth, 0).astype(np.float32)
    rows = np.zeros((h, w), bool)
    rows[72::3, ::2] = True                                     # rings every 3 rows, every 2nd pixel
    sparse = torch.from_numpy(np.where(rows, depth, 0))[None, None]
    image = torch.rand(1, 3, h, w)
    with torch.no_grad():
        out = model(image, sparse)["depth"][0, 0].numpy()
    between = (yy > 80) & (yy < 150) & ~rows & (xx > 8) & (xx < w - 8)
    np.testing.assert_allclose(out[between], depth[between], rtol=0.01)
    np.testing.assert_allclose(out[rows], depth[rows], rtol=1e-5)
    got = _onnx_depth(model, tmp_path / "plane.onnx", image, sparse)[0, 0]
    np.testing.assert_allclose(got, out, rtol=1e-3, atol=0)
    # Across a depth step (2 m left, 20 m right, 6 % of the pixels measured) the least-squares
    # plane overshoots both sides near the edge; the candidate stays between the nearest and the
    # farthest measurement of its window.
    rng = np.random.default_rng(1)
    step = np.where(xx < w // 2, 2.0, 20.0).astype(np.float32)
    measured = rng.uniform(size=(h, w)) < 0.06
    sparse = torch.from_numpy(np.where(measured, step, 0).astype(np.float32))[None, None]
    scaled = torch.where(sparse > 0, model.config.min_depth / sparse.clamp(min=1e-6), torch.zeros_like(sparse))
    fit, fit_valid = PlaneFill(4)(scaled, (sparse > 0).float())
    fills, _ = WindowFills((4,))(scaled, (sparse > 0).float())
    nearest, farthest = (model.config.min_depth / fills[0, i].clamp(min=1e-9) for i in (0, 1))
    unclamped = model.config.min_depth / fit[0, 0].clamp(min=1e-9)
    inside = (fit_valid[0, 0] > 0) & ~torch.from_numpy(measured)
    overshoot = inside & ((unclamped < nearest * 0.99) | (unclamped > farthest * 1.01))
    assert int(overshoot.sum()) > 10, "the fixture must make the plane overshoot"
    with torch.no_grad():
        out = model(image, sparse)["depth"][0, 0]
    assert bool((out[overshoot] >= nearest[overshoot] * 0.999).all())
    assert bool((out[overshoot] <= farthest[overshoot] * 1.001).all())
    selection = create_model("san_efficientnet_lite0_selg").config.arch["selection"]
    with pytest.raises(ValueError, match="plane_ridge needs plane_reach"):
        create_model("san_efficientnet_lite0_selg", arch={"selection": {**selection, "plane_ridge": 0.2}})
    with pytest.raises(ValueError, match="plane_ridge must be a number"):
        create_model("san_efficientnet_lite0_selp", arch={"selection": {
            **model.config.arch["selection"], "plane_ridge": True}})
    with pytest.raises(ValueError, match="plane_reach must be one of the reaches"):
        create_model("san_efficientnet_lite0_selg", arch={"selection": {**selection, "plane_reach": 3}})
    with pytest.raises(ValueError, match="plane_reach needs mean_levels"):
        create_model("san_efficientnet_lite0_selg", arch={"selection": {**selection, "mean_levels": 0,
                                                                         "grow_steps": None, "plane_reach": 4}})


def test_scan_noise_measures_how_far_measurements_stray_from_their_neighbours():
    rng = np.random.default_rng(7)
    h, w = 24, 40
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    plane = 0.05 + 0.002 * yy + 0.0004 * xx        # inverse depth of a tilted plane: linear in pixels
    rows = np.zeros((h, w), np.float32)
    rows[2::6, :] = 1                               # a dense-along-the-row scan, rows 6 px apart
    noise = ScanNoise()

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]

    # A noiseless plane: symmetric neighbours cancel its slope; only each ring's two ends, with
    # one neighbour, read part of it (0.4-0.8 % here, above `smooth`).
    exists, share, level = noise(t(plane), t(rows))[0, :, 0, 0].tolist()
    interior = (w - 2) / w
    assert exists == 1 and share == pytest.approx(interior, abs=1e-6) and level < -0.35
    # With noise, against a numpy reference of the same definition.
    noisy = plane * (1 + rng.normal(0, 0.01, plane.shape)).astype(np.float32)
    mask = rows * (rng.uniform(size=rows.shape) < 0.6)
    off = []
    for y, x in zip(*np.nonzero(mask)):
        ys, xs = slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2)
        count = mask[ys, xs].sum() - 1
        if count > 0:
            near = ((noisy * mask)[ys, xs].sum() - noisy[y, x]) / count
            off.append(abs(noisy[y, x] - near) / near)
    off = np.array(off)
    got = noise(t(noisy), t(mask))[0, :, 0, 0].numpy()
    want = [1.0, (off < noise.smooth).mean(), (np.log(np.minimum(off, noise.cap).mean() + 1e-4) + 6) / 3]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert got[1] < 0.5 and got[2] > 0          # 1 % noise reads as rough
    # No measured neighbours (scattered points) or no points: all zero. Frames of a batch are
    # measured each on its own.
    lone = np.zeros((h, w), np.float32)
    lone[::5, ::5] = 1
    assert float(noise(t(noisy), t(lone)).abs().max()) == 0
    assert float(noise(t(noisy), t(np.zeros_like(lone))).abs().max()) == 0
    batch = noise(torch.cat([t(plane), t(noisy)]), torch.cat([t(rows), t(mask)]))
    np.testing.assert_allclose(batch[1, :, 0, 0].numpy(), got, rtol=1e-6)
    # Half precision on a frame of the network's size, every pixel measured (more than half
    # precision's 65504), at far ranges (inverse depths of 10-80 m): the same figures.
    far = np.tile(noisy, (7, 13)) / noisy.max() * 0.01
    big, big_mask = torch.from_numpy(far)[None, None], torch.ones(1, 1, *far.shape)
    assert big.numel() > 65504
    np.testing.assert_allclose(noise(big.half(), big_mask.half()).float().numpy(),
                               noise(big, big_mask).numpy(), rtol=0, atol=0.02)
    with pytest.raises(ValueError, match="smooth"):
        ScanNoise(smooth=0.05, cap=0.02)


def test_a_head_grown_into_the_noise_guide_first_computes_what_it_did(tmp_path):
    """As a model option, the noise adds three guide channels, last: a head grown into them from
    one without (``init_grow``) starts with exactly the old output, in torch and in ONNX Runtime."""
    from depth_core.models.checkpoint import _grown

    torch.manual_seed(0)
    plain = create_model("san_efficientnet_lite0_selg").eval()
    with torch.no_grad():
        plain.select.head[-1].weight.normal_(0, 0.3)
        plain.select.pixel.weight.normal_(0, 0.3)
    model = create_model("san_efficientnet_lite0_selg", arch={"selection": {
        **plain.config.arch["selection"], "noise_guide": True}}).eval()
    assert model.select.head[0].in_channels == plain.select.head[0].in_channels + 3
    model.load_state_dict(_grown(plain.state_dict(), model, model.state_dict(), ("select.",)))
    image = torch.rand(1, 3, 160, 256)
    sparse = torch.zeros(1, 1, 160, 256)
    sparse[..., 40::6, :] = torch.rand(1, 1, 20, 256) * 30 + 2
    with torch.no_grad():
        before, after = plain(image, sparse)["depth"], model(image, sparse)["depth"]
        torch.testing.assert_close(after, before, rtol=0, atol=0)
        # Once the new channels weigh in, the output moves, and the exported graph follows.
        model.select.head[0].weight[:, -3:].normal_(0, 1.0)
        moved = model(image, sparse)["depth"]
    assert not torch.equal(moved, before)
    out = _onnx_depth(model, tmp_path / "noise.onnx", image, sparse)
    np.testing.assert_allclose(out, moved.numpy(), rtol=1e-3, atol=0)
    with pytest.raises(ValueError, match="noise_guide must be true or false"):
        create_model("san_efficientnet_lite0_selg", arch={"selection": {
            **plain.config.arch["selection"], "noise_guide": "false"}})


def test_selection_follows_the_image_across_a_depth_edge():
    """A near wall (left, bright) and a far one (right, dark) with sparse points on both: a head
    that picks the nearest measurement on bright pixels and the farthest on dark ones completes
    both sides exactly up to the edge, where the average of the candidates would smear it."""
    h, w = 16, 32
    depth = np.where(np.arange(w)[None] < 16, 0.5, 0.1) * np.ones((h, 1))      # scaled: near 0.5, far 0.1
    bright = (np.arange(w)[None] < 16) * np.ones((h, 1))
    sparse = np.zeros((h, w))
    sparse[::3, ::3] = depth[::3, ::3]
    scaled = torch.tensor(sparse, dtype=torch.float32)[None, None]
    fills, valid = WindowFills((2,))(scaled, (scaled > 0).float())
    logs = torch.log(fills.clamp(min=1e-6))
    selection = CandidateSelection(1, 2, hidden=2)
    with torch.no_grad():   # hidden 0 = bright, hidden 1 = 1 - bright; logits 20x each
        for conv in selection.head[:3:2]:
            conv.weight.zero_()
            conv.bias.zero_()
        selection.head[0].weight[0, 0, 1, 1], selection.head[0].weight[1, 0, 1, 1] = 1.0, -1.0
        selection.head[0].bias[1] = 1.0
        selection.head[2].weight[0, 0, 1, 1] = selection.head[2].weight[1, 1, 1, 1] = 1.0
        selection.head[4].weight.zero_()
        selection.head[4].bias.zero_()
        selection.head[4].weight[0, 0, 1, 1] = selection.head[4].weight[1, 1, 1, 1] = 20.0
        chosen, weights = selection(logs, torch.tensor(bright, dtype=torch.float32)[None, None])
    out = torch.exp(chosen)[0, 0].numpy()
    seen = valid[0, 0].numpy() > 0
    np.testing.assert_allclose(out[seen], depth[seen], rtol=1e-6)
    mean = torch.exp(logs.mean(1))[0].numpy()
    assert np.abs(mean[seen] - depth[seen]).max() > 0.1        # what no choice would give at the edge
    torch.testing.assert_close(weights.sum(1), torch.ones(1, h, w))


def test_the_pixel_layer_lets_the_choice_change_from_one_pixel_to_the_next():
    """A half-resolution head reads the guide averaged over 2x2 pixels: a guide that alternates
    from pixel to pixel reads as constant, and so is its choice. The pixel layer (``pixel``) reads
    the full-resolution guide; it starts at 0, so the choice is first the head's alone."""
    torch.manual_seed(0)
    stripes = (torch.arange(16) % 2).float().view(1, 1, 1, 16).expand(1, 1, 8, 16)
    candidates = torch.cat([torch.zeros(1, 1, 8, 16), torch.ones(1, 1, 8, 16)], 1)
    for pixel in (False, True):
        selection = CandidateSelection(1, 2, hidden=4, stride=2, first_kernel=1, pixel=pixel)
        with torch.no_grad():
            selection.head[-1].weight.normal_(0, 1.0)
            chosen, _ = selection(candidates, stripes)
        inner = chosen[0, 0, 2:-2, 2:-2]
        assert float((inner[:, 1::2] - inner[:, 0::2]).abs().max()) < 0.01     # the stripes are not seen
        if pixel:
            with torch.no_grad():
                selection.pixel.weight[1, 0] = 20.0              # candidate 1 where the stripe is on
                chosen, _ = selection(candidates, stripes)
            inner = chosen[0, 0, 2:-2, 2:-2]
            assert float((inner[:, 1::2] - inner[:, 0::2]).min()) > 0.9


def test_sel_trains_its_choice_with_the_completion_loss(completion_batch):
    from depth_core.losses import log_l1

    torch.manual_seed(1)
    model = create_model("san_efficientnet_lite0_sel").train()
    with torch.no_grad():
        model.select.head[-1].weight.normal_(0, 0.1)
    image, gt, lidar, sparse = completion_batch
    comp = model.forward_passes(image, sparse, ("completion",))["completion"]
    log_l1(comp["depth"], gt, lidar, sparse).backward()
    grads = dict(model.named_parameters())
    for name in ("select.head.0.weight", "select.head.4.weight", "san.blocks.0.branches.0.convs.0.weight"):
        assert grads[name].grad is not None and float(grads[name].grad.abs().sum()) > 0, name


def test_selection_and_propagation_are_alternatives():
    with pytest.raises(ValueError, match="alternatives"):
        create_model("san_efficientnet_lite0_sel", arch={"propagation": {}})


def test_the_selection_and_the_refinement_compute_what_their_plain_forms_do():
    """For ONNX Runtime's speed the selection's sums over candidates are 1x1 convolutions and the
    refinement's first convolution is split in two, one per part of its input: the same numbers as
    a softmax and one convolution over the stacked parts."""
    from depth_core.models.layers.propagation import at_half_resolution

    torch.manual_seed(0)
    selection = CandidateSelection(6, 5, hidden=8, stride=2, first_kernel=1, pixel=True)
    with torch.no_grad():
        selection.head[-1].weight.normal_(0, 2.0)
        selection.pixel.weight.normal_(0, 1.0)
        candidates, guide = torch.randn(2, 5, 16, 24), torch.randn(2, 6, 16, 24)
        chosen, weights = selection(candidates, guide)
        softmax = torch.softmax(at_half_resolution(selection.head, guide) + selection.pixel(guide), 1)
    assert float(softmax.amax(1).min()) < 0.9 and float(softmax.amax(1).max()) > 0.5   # no trivial choice
    torch.testing.assert_close(weights, softmax)
    torch.testing.assert_close(chosen, (softmax * candidates).sum(1, keepdim=True))

    model = create_model("san_efficientnet_lite0_selp").eval()
    with torch.no_grad():
        model.refine[2].weight.normal_(0, 1.0)
        features, prior = torch.randn(1, 8, 32, 64), torch.randn(1, 3, 32, 64)
        torch.testing.assert_close(model._refine(features, prior), model.refine(torch.cat([features, prior], 1)))


def test_the_context_layer_widens_what_a_choice_sees_and_starts_at_nothing(tmp_path):
    """``context`` (``arch.selection.context``): a residual dilated 3x3 layer in the choosing
    head. Its last layer starts at 0, so the shipped model grown with it computes what it did;
    trained, a change in the guide reaches the choice from ``context`` pixels farther, and the
    model exports to one graph that computes the same."""
    torch.manual_seed(0)
    candidates = torch.randn(1, 2, 31, 31)
    plain = CandidateSelection(1, 2, hidden=4)
    wide = CandidateSelection(1, 2, hidden=4, context=4)
    with torch.no_grad():
        for conv in plain.head[::2]:
            conv.weight.normal_(0, 0.5)
        plain.head[0].bias.fill_(0.1)
        wide.head.load_state_dict(plain.head.state_dict())
        guide = torch.randn(1, 1, 31, 31)
        torch.testing.assert_close(wide(candidates, guide)[0], plain(candidates, guide)[0])   # starts at 0
        wide.context[0].bias.fill_(1.0)          # its ReLU open everywhere, whatever the features
        wide.context[-1].weight.normal_(0, 0.5)
    guide = torch.zeros(1, 1, 31, 31, requires_grad=True)

    def reach(selection) -> int:
        chosen, _ = selection(candidates, guide)
        (grad,) = torch.autograd.grad(chosen[0, 0, 15, 15], guide)
        rows, cols = np.nonzero(grad[0, 0].abs().numpy() > 0)
        return int(max(np.abs(rows - 15).max(), np.abs(cols - 15).max()))

    assert reach(plain) == 3 and reach(wide) == 7      # three 3x3 layers; the fourth dilated by 4
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="context must be a dilation"):
            CandidateSelection(1, 2, context=bad)
    # The shipped model grown with it: the same depth; trained (the layer no longer 0), its graph
    # computes what torch does.
    shipped = create_model("san_efficientnet_lite0_selp", pretrained=True).eval()
    arch = shipped.config.arch
    model = create_model("san_efficientnet_lite0_selp", arch={**arch, "selection": {**arch["selection"], "context": 4}})
    missing, unexpected = model.load_state_dict(shipped.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("select.context.") for k in missing)
    model.eval()
    image, sparse = torch.rand(1, 3, 64, 96), torch.zeros(1, 1, 64, 96)
    sparse[0, 0, ::4, ::3] = torch.rand(16, 32) * 30 + 2
    with torch.no_grad():
        torch.testing.assert_close(model(image, sparse)["depth"], shipped(image, sparse)["depth"])
        model.select.context[-1].weight.normal_(0, 0.3)
        out = model(image, sparse)["depth"]
    assert not torch.equal(out, shipped(image, sparse)["depth"])
    np.testing.assert_allclose(_onnx_depth(model, tmp_path / "context.onnx", image, sparse), out.numpy(), rtol=1e-3)
    with pytest.raises(ValueError, match="arch.selection.context must be a whole number"):
        create_model("san_efficientnet_lite0_selp", arch={**arch, "selection": {**arch["selection"], "context": 2.5}})


def test_the_choice_loss_teaches_the_head_the_candidate_nearest_the_truth():
    """Two candidates (log inverse depth 0 and 1 everywhere); the truth is candidate 1 where the
    guide is on (the left half) and candidate 0 elsewhere. The head starts sure of candidate 0
    (``start_bias``); trained on the choice loss alone it picks each side's own, and the loss
    falls to near 0. Pixels the head did not choose at (``free`` 0: measured) do not count."""
    torch.manual_seed(0)
    h, w = 8, 16
    left = (torch.arange(w) < 8).float().view(1, 1, 1, w).expand(1, 1, h, w)
    candidates = torch.cat([torch.zeros(1, 1, h, w), torch.ones(1, 1, h, w)], 1)
    gt = torch.exp(-left)                      # log(1 / gt): 1 on the left, 0 on the right
    free = torch.ones(1, 1, h, w)
    selection = CandidateSelection(1, 2, hidden=4)
    optimizer = torch.optim.Adam(selection.parameters(), lr=0.05)
    losses = []
    for _ in range(150):
        _, weights = selection(candidates, left)
        loss = choice_loss(weights, candidates, gt, free)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _, weights = selection(candidates, left)
    assert losses[0] > 2 and losses[-1] < 0.05 * losses[0]     # half the pixels wrong at the start: 5 each
    assert float(weights[0, 1, :, :7].min()) > 0.9 and float(weights[0, 0, :, 9:].min()) > 0.9
    # Shared between candidates as near the truth as each other; nothing where nothing was chosen.
    same = torch.zeros(1, 2, h, w)
    half = torch.full((1, 2, h, w), 0.5)
    assert float(choice_loss(half, same, torch.ones(1, 1, h, w), free)) < 1e-6
    assert float(choice_loss(weights, candidates, gt, torch.zeros_like(free))) == 0.0
    # The mean over the free pixels only: the right half's (the head's own choice) alone.
    start = CandidateSelection(1, 2, hidden=4)
    with torch.no_grad():
        _, weights = start(candidates, left)
        right = (1 - left).contiguous()
        wrong_left, right_half = choice_loss(weights, candidates, gt, left.contiguous()), choice_loss(
            weights, candidates, gt, right)
    assert float(wrong_left) > 4.9 and float(right_half) < 0.01


def test_a_choosing_completion_shows_its_choice_in_training_only(completion_batch):
    """In training the completion pass gives the candidates, the head's weights on them (summing
    to 1) and where it chose, and the choice loss reaches the head through them; in eval (and so
    in the exported graph) the outputs are the depth and the confidence alone. A model that does
    not choose is told to drop the loss."""
    from depth_core.train.objectives import LOSSES

    image, gt, _, sparse = completion_batch
    # Not a multiple of the network's stride: padded inside, cropped back.
    image, gt, sparse = image[..., :90, :120], gt[..., :90, :120], sparse[..., :90, :120]
    model = create_model("san_efficientnet_lite0_selp").train()
    out = model.forward_passes(image, sparse, ("completion",))
    comp = out["completion"]
    b, _, h, w = gt.shape
    assert comp["choice_candidates"].shape == comp["choice_weights"].shape == (b, 13, h, w)
    torch.testing.assert_close(comp["choice_weights"].sum(1), torch.ones(b, h, w))
    free = comp["choice_free"]
    assert free.shape == (b, 1, h, w) and torch.equal(free, (sparse == 0).float())
    # In log inverse depth: the prior (candidate 1) is the measurement at a measured pixel.
    measured = sparse[:, 0] > 0
    torch.testing.assert_close(comp["choice_candidates"][:, 1][measured], -torch.log(sparse[:, 0][measured]),
                               rtol=0, atol=1e-5)
    LOSSES["choice_completion"](out, {"depth": gt}, model.config).backward()
    assert float(model.select.head[-1].weight.grad.abs().sum()) > 0
    with torch.no_grad():
        assert set(model.eval().forward_passes(image, sparse, ("completion",))["completion"]) == {"depth", "confidence"}
    plain = create_model("san_efficientnet_lite0").train()
    with pytest.raises(ValueError, match="does not choose among candidates"):
        LOSSES["choice_completion"](plain.forward_passes(image, sparse, ("completion",)), {"depth": gt}, plain.config)

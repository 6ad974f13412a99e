"""The loss properties issue 7 names, plus gradients through every loss."""

from __future__ import annotations

import pytest
import torch

from depth_core.losses.decomposition import decomposition_losses, z_score, z_score_inverse
from depth_core.losses.fusanet import depth_confidence_loss, normalized_hessian_loss, sparse_loss
from depth_core.losses.structure import (
    berhu_loss,
    edge_weights,
    global_focal_relative_loss,
    normal_loss,
    scale_invariant_gradient_loss,
)


def _surface(seed=0, h=48, w=64):
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    bumps = sum(torch.rand(1, generator=g) * torch.sin(3 * x * torch.rand(1, generator=g) + 2 * y * k)
                for k in range(1, 4))
    return (5 + bumps + 0.5 * x * y).view(1, 1, h, w)


def test_normalized_hessian_loss_ignores_scale_and_planes_but_not_shape():
    gt = _surface()
    valid = torch.ones_like(gt, dtype=torch.bool)
    y, x = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    for a, b, c, e in ((2.0, 0.0, 0.0, 0.0), (0.5, 0.3, -0.2, 7.0), (3.0, -1.0, 0.5, -2.0)):
        affine = a * gt + b * x + c * y + e
        assert normalized_hessian_loss(affine, gt, valid).item() < 1e-3
    assert normalized_hessian_loss(gt**2, gt, valid).item() > 0.05
    assert normalized_hessian_loss(gt + 0.3 * torch.sin(x / 2), gt, valid).item() > 0.1
    assert normalized_hessian_loss(-gt, gt, valid).item() > 1.0          # a < 0 flips the shape


def test_gfrl_gives_well_ordered_pairs_almost_no_weight():
    # A 4x4 grid of cells with clearly different depths (ratios >= 1.5: no ties).
    blocks = (1.5 ** torch.arange(16.0)).view(1, 1, 4, 4)
    gt = torch.nn.functional.interpolate(blocks, scale_factor=8, mode="nearest")
    valid = torch.ones_like(gt, dtype=torch.bool)

    def loss(pred, gamma=2.0):
        return global_focal_relative_loss(pred, gt, valid, grid=4, gamma=gamma,
                                          generator=torch.Generator().manual_seed(0)).item()

    ordered = loss(4 * gt)                     # same order, well separated
    assert ordered < 1e-3
    assert loss(-gt) > 1.0                     # every pair in the wrong order
    assert loss(4 * gt, gamma=0.0) > 5 * ordered   # without the focal weight the easy pairs still count


def test_berhu_is_continuous_at_c():
    gt = torch.zeros(1, 1, 1, 3)
    valid = torch.ones_like(gt, dtype=torch.bool)
    # Errors 1, x, 10: c = 0.2 * 10 = 2. Just below and above c the per-pixel cost meets at c.
    below = berhu_loss(torch.tensor([[[[1.0, 2.0 - 1e-4, 10.0]]]]), gt, valid)
    above = berhu_loss(torch.tensor([[[[1.0, 2.0 + 1e-4, 10.0]]]]), gt, valid)
    assert abs(below.item() - above.item()) < 1e-3
    assert berhu_loss(torch.tensor([[[[0.5, 1.0, 10.0]]]]), gt, valid).item() == pytest.approx(
        (0.5 + 1.0 + (100 + 4) / 4) / 3)


def test_z_score_normalisation_inverts_exactly():
    M = torch.rand(2, 1, 16, 20, dtype=torch.float64) * 0.5 + 0.1
    valid = torch.rand(2, 1, 16, 20) > 0.2
    N, mu, sigma = z_score(M, valid)
    torch.testing.assert_close(z_score_inverse(N, mu, sigma)[valid], M[valid], rtol=0, atol=1e-12)
    assert abs(float(N[0][valid[0]].mean())) < 1e-12 and abs(float(N[0][valid[0]].std(unbiased=False)) - 1) < 1e-6


def test_gradients_flow_through_every_loss_without_nan():
    gt = _surface(2) * 2
    valid = torch.rand_like(gt) > 0.1
    pred = (gt * 1.1 + 0.2 * torch.rand_like(gt)).requires_grad_()
    conf = torch.rand_like(gt).requires_grad_()
    weights = edge_weights(gt)
    assert weights.max() == 5.0 and weights.min() == 1.0
    losses = [
        berhu_loss(pred, gt, valid, weights), scale_invariant_gradient_loss(pred, gt, valid, weights),
        normal_loss(pred, gt, valid, weights), global_focal_relative_loss(pred, gt, valid),
        normalized_hessian_loss(pred, gt, valid), sparse_loss(pred, gt, valid, (torch.rand_like(gt) < 0.05) & valid),
        depth_confidence_loss(pred, conf, gt, valid, epoch=3),
    ]
    out = {"G": torch.randn(1, 2, 48, 64, requires_grad=True), "N": torch.randn(1, 1, 48, 64, requires_grad=True),
           "M": torch.rand(1, 1, 48, 64, requires_grad=True), "mu": torch.rand(1, 1, 1, 1, requires_grad=True)}
    losses += list(decomposition_losses(out, gt * valid).values())
    total = sum(losses)
    total.backward()
    assert all(torch.isfinite(x) for x in losses)
    for t in (pred, conf, *out.values()):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    relative_only = decomposition_losses(out, gt * valid, metric=False)
    assert set(relative_only) == {"L_G", "L_N", "L_Ngrad"}

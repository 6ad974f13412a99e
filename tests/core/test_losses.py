from __future__ import annotations

import math

import pytest
import torch

from depth_core.losses import multiscale_silog, san_loss, silog_loss


def test_silog_matches_equation_3_by_hand():
    pred = torch.tensor([1.0, 2.0, 4.0, 9.0]).view(1, 1, 2, 2)
    gt = torch.tensor([2.0, 2.0, 3.0, 0.0]).view(1, 1, 2, 2)    # the last pixel has no ground truth
    d = [math.log(2 / 1), math.log(2 / 2), math.log(3 / 4)]
    n = 3
    expected = sum(x * x for x in d) / n - 0.85 * (sum(d) ** 2) / n**2
    assert silog_loss(pred, gt).item() == pytest.approx(expected, rel=1e-6)


def test_silog_with_lambda_one_is_invariant_to_a_global_scale():
    torch.manual_seed(0)
    pred = torch.rand(3, 1, 16, 16) * 10 + 0.5
    gt = torch.rand(3, 1, 16, 16) * 10 + 0.5
    base = silog_loss(pred, gt, lam=1.0)
    for scale in (0.1, 3.0, 250.0):
        assert silog_loss(pred * scale, gt, lam=1.0).item() == pytest.approx(base.item(), abs=1e-5)
    assert silog_loss(pred * 3.0, gt, lam=0.85).item() != pytest.approx(base.item(), abs=1e-3)
    assert silog_loss(gt, gt).item() == pytest.approx(0.0, abs=1e-7)


def test_silog_masks_invalid_ground_truth_and_gives_finite_gradients():
    pred = (torch.rand(2, 1, 8, 8) * 5 + 1).requires_grad_()
    gt = torch.rand(2, 1, 8, 8) * 5 + 1
    gt[0, 0, :4] = float("nan")
    gt[1] = 0.0                       # an image without any ground truth contributes 0
    loss = silog_loss(pred, gt)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    assert pred.grad[1].abs().sum() == 0 and pred.grad[0, 0, :4].abs().sum() == 0


def test_san_objective_is_the_sum_over_both_passes_and_all_scales():
    gt = torch.full((1, 1, 16, 16), 5.0)   # constant, so the coarse scale upsamples exactly
    gt[..., :2, :] = 0.0                    # (and some pixels without ground truth)
    exact = [torch.full((1, 1, 16, 16), 0.2), torch.full((1, 1, 8, 8), 0.2)]
    off = [torch.rand(1, 1, 16, 16) + 0.1, torch.rand(1, 1, 8, 8) + 0.1]
    assert multiscale_silog(exact, gt).item() == pytest.approx(0.0, abs=1e-6)
    both = san_loss({"inv_depths": off}, {"inv_depths": exact}, gt)
    assert both.item() == pytest.approx(multiscale_silog(off, gt).item(), rel=1e-6)


def test_scale_loss_measures_the_global_scale_error_only():
    from depth_core.losses import scale_loss

    gt = torch.rand(2, 1, 8, 12) * 20 + 1
    assert float(scale_loss(gt, gt)) == pytest.approx(0.0, abs=1e-6)
    assert float(scale_loss(gt * 2.0, gt)) == pytest.approx(math.log(2.0), rel=1e-5)
    assert float(scale_loss(gt / 2.0, gt)) == pytest.approx(math.log(2.0), rel=1e-5)
    # Structure errors that keep the mean log error at 0 cost nothing here (SILog sees them).
    wobble = gt * torch.exp(0.3 * torch.tensor([1.0, -1.0]).repeat(48)[:96].view(1, 1, 8, 12))
    assert float(scale_loss(wobble, gt)) == pytest.approx(0.0, abs=1e-5)
    mask = torch.zeros_like(gt, dtype=torch.bool)
    assert float(scale_loss(gt * 3, gt, mask)) == 0.0   # no valid pixel: no loss

from __future__ import annotations

import math

import pytest
import torch

from depth_core.losses import held_out_log_error, multiscale_silog, san_loss, silog_loss


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


def test_held_out_log_error_weighs_each_sample_by_its_own_error():
    lidar = torch.zeros(2, 1, 4, 6)
    lidar[:, :, 1, :] = 10.0                        # a ring of 6 points per sample
    sparse = torch.zeros_like(lidar)
    sparse[:, :, 1, :2] = 10.0                      # 2 given as input, 4 held out
    factor = torch.tensor([1.005, 1.05]).view(2, 1, 1, 1)   # 0.5 % and 5 % off everywhere
    depth = (torch.full_like(lidar, 7.0) * factor).requires_grad_(True)
    depth.data[:, :, 1, :] = 10.0 * factor.view(2, 1, 1)
    depth.data[:, :, 1, :2] = 99.0                  # the input points' own values are not scored
    loss = held_out_log_error(depth, lidar, sparse)
    expected = (math.log(1e-3 + math.log(1.005)) + math.log(1e-3 + math.log(1.05))) / 2
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    g = depth.grad[:, 0, 1, 2:].abs().mean(1)       # per sample, at its held-out points
    assert float(g[0] / g[1]) == pytest.approx((1e-3 + math.log(1.05)) / (1e-3 + math.log(1.005)) * 1.05 / 1.005,
                                               rel=1e-4)   # the precise sample pulls ~9x harder
    assert float(depth.grad[:, 0, 1, :2].abs().max()) == 0 and float(depth.grad[:, 0, 0].abs().max()) == 0
    # A sample without held-out points is left out; none at all gives 0 with a gradient.
    sparse[1] = lidar[1]
    one = held_out_log_error(depth, lidar, sparse).detach()
    assert float(one) == pytest.approx(math.log(1e-3 + math.log(1.005)), rel=1e-5)
    zero = held_out_log_error(depth, lidar, lidar.clone())
    assert zero.requires_grad and float(zero.detach()) == 0


def test_held_out_log_error_per_point_weighs_each_point_relative_to_its_own_error():
    lidar = torch.zeros(1, 1, 3, 6)
    lidar[:, :, 1, :] = 10.0
    sparse = torch.zeros_like(lidar)
    sparse[:, :, 1, :2] = 10.0                      # 4 points held out
    factor = torch.tensor([1.0, 1.0, 1.005, 1.005, 1.3, 1.3])   # two on a smooth surface, two at an edge
    depth = torch.full_like(lidar, 7.0)
    depth[0, 0, 1] = 10.0 * factor
    depth.requires_grad_(True)
    loss = held_out_log_error(depth, lidar, sparse, per_point=True)
    expected = (math.log(1e-3 + math.log(1.005)) + math.log(1e-3 + math.log(1.3))) / 2
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    loss.backward()
    g = depth.grad[0, 0, 1]
    # The point 0.5 % off pulls harder than the one 30 % off: by the ratio of their log errors
    # (plus the floor), times that of their depths (d log depth / d depth = 1 / depth).
    assert float(g[2] / g[4]) == pytest.approx((1e-3 + math.log(1.3)) / (1e-3 + math.log(1.005)) * 1.3 / 1.005,
                                               rel=1e-4)
    assert float(g[:2].abs().max()) == 0 and float(depth.grad[0, 0, 0].abs().max()) == 0
    # Without per_point the sample's mean error is logged once: a different figure.
    assert float(held_out_log_error(depth, lidar, sparse).detach()) != pytest.approx(expected, rel=1e-3)
    zero = held_out_log_error(depth, lidar, lidar.clone(), per_point=True)
    assert zero.requires_grad and float(zero.detach()) == 0
    # Averaged per sample, then over the samples that have held-out points: a sample with 1 point
    # weighs as much as one with 4, and one with none is left out.
    pair = torch.cat([depth.detach(), depth.detach(), depth.detach()])
    pair_lidar, pair_sparse = torch.cat([lidar] * 3), torch.cat([sparse, sparse, lidar])
    pair_sparse[1, 0, 1, 2:5] = 10.0                # sample 1: only its last point held out
    got = held_out_log_error(pair, pair_lidar, pair_sparse, per_point=True)
    last = math.log(1e-3 + math.log(1.3))
    assert float(got) == pytest.approx((expected + last) / 2, rel=1e-5)

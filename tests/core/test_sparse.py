"""The masked dense sparse layers equal an explicit gather/scatter sparse implementation."""

from __future__ import annotations

import copy

import pytest
import sparse_reference as ref
import torch

from depth_core.models.layers.sparse import SparseAuxiliaryNetwork, SparseResidualBlock, sparse_max_pool


def _random_sparse(seed: int, b=2, c=3, h=13, w=17, density=0.12):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(b, 1, h, w, generator=g) < density).double()
    x = torch.rand(b, c, h, w, generator=g, dtype=torch.float64) * 5 * mask  # non-negative, like depths
    return x, mask


def _assert_same(dense: torch.Tensor, mask: torch.Tensor, sparse: ref.Sparse):
    active = {tuple(p) for p in (mask[:, 0] > 0).nonzero().tolist()}
    assert active == set(sparse), "active sites differ"
    torch.testing.assert_close(dense, ref.to_dense(sparse, dense.shape), rtol=1e-9, atol=1e-9)


def test_max_pool_matches_minkowski_semantics_including_odd_sizes():
    for seed in range(5):
        x, mask = _random_sparse(seed)
        y, m = sparse_max_pool(x, mask)
        _assert_same(y, m, ref.max_pool(ref.from_dense(x, mask)))


@pytest.mark.parametrize("training", [True, False])
def test_sparse_residual_block_matches_the_reference(training):
    torch.manual_seed(0)
    block = SparseResidualBlock(3, 4, kernel_size=3, hidden_ratio=2).double()
    for bn in [m for m in block.modules() if hasattr(m, "running_mean")]:   # non-trivial running stats
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    block.train(training)
    reference_block = copy.deepcopy(block)
    x, mask = _random_sparse(1, c=3, h=16, w=20, density=0.2)
    y, m = block(x, mask)
    _assert_same(y, m, ref.residual_block(ref.from_dense(x, mask), reference_block, training))


def test_batch_norm_running_statistics_come_from_active_sites_only():
    torch.manual_seed(0)
    block = SparseResidualBlock(3, 4, kernel_size=3).double().train()
    reference_block = copy.deepcopy(block)
    x, mask = _random_sparse(2, c=3, h=16, w=20, density=0.2)
    block(x, mask)
    pre_norm = []
    ref.residual_block(ref.from_dense(x, mask), reference_block, True, pre_norm)
    feats = torch.stack(list(pre_norm[0].values()))        # active sites only
    momentum = block.norm.momentum
    torch.testing.assert_close(block.norm.running_mean, momentum * feats.mean(0))
    torch.testing.assert_close(block.norm.running_var, (1 - momentum) + momentum * feats.var(0, unbiased=True))
    assert int(block.norm.num_batches_tracked) == 1


def test_san_with_empty_input_leaves_skips_exactly_unchanged_and_points_change_them():
    torch.manual_seed(0)
    san = SparseAuxiliaryNetwork([8, 8, 16, 16, 32], channels=(4, 8, 8, 16, 16), kernels=(5, 5, 3, 3, 3)).eval()
    skips = [torch.randn(2, c, 128 // 2**i, 192 // 2**i) for i, c in enumerate([8, 8, 16, 16, 32], start=1)]
    sparse = torch.zeros(2, 1, 128, 192)
    sparse[1, 0, 10:100:9, 5:190:13] = 12.5
    sparse[0, 0, 3, 3] = float("nan")      # NaN, inf and negatives count as missing
    sparse[0, 0, 4, 4] = float("inf")
    sparse[0, 0, 5, 5] = -3.0
    with torch.no_grad():
        out = san.inject(skips, sparse)
    for k, o in zip(skips, out):
        assert torch.equal(o[0], k[0])             # sample 0 has no valid point: untouched, bit for bit
        assert not torch.equal(o[1], k[1])         # sample 1 does

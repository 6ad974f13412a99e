"""An explicit sparse-tensor implementation (coordinates + features, gather/scatter with a hash
map), written the way MinkowskiEngine defines its operations, to check the masked dense layers of
``depth_core.models.layers.sparse`` against. Slow and obvious on purpose."""

from __future__ import annotations

import torch

Sparse = dict[tuple[int, int, int], torch.Tensor]   # (batch, row, col) -> feature [C]


def from_dense(x: torch.Tensor, mask: torch.Tensor) -> Sparse:
    return {(b, y, c): x[b, :, y, c].clone() for b, y, c in (mask[:, 0] > 0).nonzero().tolist()}


def to_dense(s: Sparse, shape) -> torch.Tensor:
    out = torch.zeros(shape, dtype=torch.float64)
    for (b, y, c), f in s.items():
        out[b, :, y, c] = f
    return out


def conv(s: Sparse, weight: torch.Tensor) -> Sparse:
    """Submanifold convolution: output sites = input sites; sum over active neighbours only."""
    k = weight.shape[-1]
    r = k // 2
    out = {}
    for (b, y, c) in s:
        acc = torch.zeros(weight.shape[0], dtype=torch.float64)
        for i in range(k):
            for j in range(k):
                neighbour = s.get((b, y + i - r, c + j - r))
                if neighbour is not None:
                    acc += weight[:, :, i, j].double() @ neighbour
        out[(b, y, c)] = acc
    return out


def batch_norm(s: Sparse, bn, training: bool) -> Sparse:
    feats = torch.stack(list(s.values()))
    if training:
        mean, var = feats.mean(0), feats.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean.double(), bn.running_var.double()
    norm = (feats - mean) / torch.sqrt(var + bn.eps) * bn.weight.double() + bn.bias.double()
    return dict(zip(s.keys(), norm))


def relu(s: Sparse) -> Sparse:
    return {k: torch.relu(v) for k, v in s.items()}


def add(*tensors: Sparse) -> Sparse:
    return {k: sum(t[k] for t in tensors) for k in tensors[0]}


def max_pool(s: Sparse) -> Sparse:
    """Kernel 3, stride 2: output sites are the input coordinates floored onto the stride-2 grid;
    each takes the max over active inputs in the 3x3 window centred on 2*site."""
    out_sites = {(b, y // 2, c // 2) for (b, y, c) in s}
    out = {}
    for (b, Y, X) in out_sites:
        vals = [s[(b, y, c)] for y in (2 * Y - 1, 2 * Y, 2 * Y + 1) for c in (2 * X - 1, 2 * X, 2 * X + 1)
                if (b, y, c) in s]
        out[(b, Y, X)] = torch.stack(vals).amax(0)
    return out


def residual_block(s: Sparse, block, training: bool, pre_norm: list | None = None) -> Sparse:
    """SparseResidualBlock, operation by operation, with the block's own parameters. The summed
    branches (the final norm's input) are appended to ``pre_norm`` when given."""
    s = max_pool(s)
    outs = []
    for branch in block.branches:
        x = s
        for i, c in enumerate(branch.convs):
            x = conv(x, c.weight.detach())
            if i < len(branch.norms):
                x = relu(batch_norm(x, branch.norms[i], training))
        outs.append(x)
    summed = add(*outs)
    if pre_norm is not None:
        pre_norm.append(summed)
    return relu(batch_norm(summed, block.norm, training))

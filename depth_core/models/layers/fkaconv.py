"""FKAConv (Boulch, Puy and Marlet, ACCV 2020), the point convolution of FuSaNet's 3D branch,
on the active pixels of a sparse map.

Each active pixel becomes a 3D point. Its ``k`` nearest neighbours (in 3D) are centred on it and
scaled by their largest distance; a small network maps each neighbour's relative position to a
soft assignment over ``kernel_size`` kernel elements (the "alignment"); the neighbours' features,
weighted by that assignment, are summed per kernel element and projected by one linear layer.

Pixels carry no 3D coordinates of their own here (the network sees no intrinsics), so a pixel
``(u, v)`` with depth ``z`` becomes ``(z * (u - W/2) / W, z * (v - H/2) / W, z)``: a nominal camera
whose focal length equals the image width. The shapes it gives are those of the scene up to a
horizontal/vertical stretch, which the learned alignment absorbs.

Not exportable: the neighbour search gathers a data-dependent number of points, which neither
ONNX nor TensorRT can express efficiently. FuSaNet therefore uses a sparse (masked dense) 3x3
convolution by default and this layer only as ``arch.point_conv: fkaconv`` (docs/models.md
compares the two).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FKAConv", "pixel_points"]


def pixel_points(mask: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The active pixels of ``mask`` [H,W] as indices [N] into the flattened map and 3D points
    [N,3] from ``depth`` [H,W] metres (see the module doc for the nominal camera)."""
    h, w = mask.shape
    index = torch.nonzero(mask.flatten() > 0).squeeze(1)
    v = torch.div(index, w, rounding_mode="floor").to(depth.dtype)
    u = (index % w).to(depth.dtype)
    z = depth.flatten()[index]
    points = torch.stack([z * (u - w / 2) / w, z * (v - h / 2) / w, z], dim=1)
    return index, points


class FKAConv(nn.Module):
    """``(x [B,C,H,W], mask [B,1,H,W], depth [B,1,H,W]) -> [B,out,H,W]``, zero off the mask."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 16, neighbours: int = 16) -> None:
        super().__init__()
        self.kernel_size, self.neighbours = kernel_size, neighbours
        # The alignment network (FKAConv's three-layer MLP with max-pooled context).
        self.align1 = nn.Linear(3, kernel_size)
        self.align2 = nn.Linear(2 * kernel_size, kernel_size)
        self.align3 = nn.Linear(2 * kernel_size, kernel_size)
        self.project = nn.Linear(in_ch * kernel_size, out_ch, bias=False)

    def _alignment(self, rel: torch.Tensor) -> torch.Tensor:
        """[N,k,3] normalised relative positions -> [N,k,kernel] soft assignments."""
        a = torch.relu(self.align1(rel))
        a = torch.relu(self.align2(torch.cat([a, a.amax(dim=1, keepdim=True).expand_as(a)], -1)))
        return self.align3(torch.cat([a, a.amax(dim=1, keepdim=True).expand_as(a)], -1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        out = x.new_zeros(b, self.project.out_features, h * w)
        for i in range(b):
            index, points = pixel_points(mask[i, 0], depth[i, 0].float())
            n = index.numel()
            if n == 0:
                continue
            k = min(self.neighbours, n)
            nearest = torch.cdist(points, points).topk(k, dim=1, largest=False).indices      # [N,k], self first
            rel = points[nearest] - points[:, None]
            rel = rel / rel.norm(dim=-1).amax(dim=1).clamp(min=1e-6)[:, None, None]
            align = self._alignment(rel.to(x.dtype))                                       # [N,k,K]
            feats = x[i].flatten(1)[:, index].t()[nearest]                                 # [N,k,C]
            aligned = torch.einsum("nkc,nkm->ncm", feats, align) / k                        # [N,C,K]
            out[i, :, index] = self.project(aligned.flatten(1)).t().to(out.dtype)
        return out.view(b, -1, h, w)

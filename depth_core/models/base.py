"""What every depth network shares: the forward contract, input normalisation, padding to a
multiple of 32 and back, and inverse depth <-> metres."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

__all__ = ["DepthModel"]


class DepthModel(nn.Module):
    """``model(image [B,3,H,W] in [0,1], sparse_depth [B,1,H,W] metres or None) -> dict``.

    The dict always has ``'depth'`` [B,1,H,W] in metres (> 0, finite) at the input resolution.
    In training mode it also has ``'inv_depths'``: inverse depth (1/m) at four scales, finest first.
    Any H, W is accepted: inputs are padded to a multiple of 32 and outputs cropped back.
    """

    #: whether the network uses ``sparse_depth`` (SAN); others ignore it.
    uses_sparse_depth = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("_mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    @property
    def input_names(self) -> frozenset[str]:
        """The inputs it consumes, as its exported graph names them: ``image`` (and ``sparse_depth``)."""
        return frozenset({"image", "sparse_depth"} if self.uses_sparse_depth else {"image"})

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self._mean) / self._std

    @staticmethod
    def pad_to(x: torch.Tensor, multiple: int = 32, mode: str = "replicate") -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % multiple, (-w) % multiple
        # While exporting, always pad (possibly by 0): a Python branch on the trace's sample size
        # would be frozen into a dynamic-size graph, which then fails at other sizes.
        if ph == 0 and pw == 0 and not torch.jit.is_tracing():
            return x
        return F.pad(x, [0, pw, 0, ph], mode=mode) if mode != "constant" else F.pad(x, [0, pw, 0, ph])

    def inv_to_depth(self, inv_depth: torch.Tensor) -> torch.Tensor:
        """Metres from inverse depth, clamped to the configured range (finite and positive)."""
        c = self.config
        return 1.0 / torch.clamp(inv_depth, min=1.0 / c.max_depth, max=1.0 / c.min_depth)

    def forward_passes(self, image: torch.Tensor, sparse_depth: torch.Tensor | None,
                       passes: tuple[str, ...]) -> dict[str, dict]:
        """The outputs of the training passes named in ``passes``: ``'prediction'`` (image only)
        and ``'completion'`` (with ``sparse_depth``). Models that can share work between the two
        (SAN: one RGB encoding) override this."""
        out = {}
        if "prediction" in passes:
            out["prediction"] = self(image)
        if "completion" in passes:
            out["completion"] = self(image, sparse_depth)
        return out

    def components(self) -> dict[str, list[str]]:
        """Named groups of parameter-name prefixes that training stages can freeze."""
        return {}

    def check_inputs(self, image: torch.Tensor, sparse_depth: torch.Tensor | None) -> None:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"{self.config.name}: image must be [B,3,H,W], got {tuple(image.shape)}")
        if sparse_depth is not None and (sparse_depth.dim() != 4 or sparse_depth.shape[1] != 1
                                         or sparse_depth.shape[0] != image.shape[0]
                                         or sparse_depth.shape[-2:] != image.shape[-2:]):
            raise ValueError(f"{self.config.name}: sparse_depth must be [B,1,H,W] matching the image "
                             f"{tuple(image.shape)}, got {tuple(sparse_depth.shape)}")

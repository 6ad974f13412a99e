"""DenseNet encoders (Huang et al., CVPR 2017) with torchvision's parameter names
(``features.conv0``, ``features.denseblock1.denselayer1.norm1``, ``features.transition1.conv``,
``features.norm5``...), so ImageNet checkpoints saved by torchvision load from a local file.
Written here because there is no CPU torchvision on our machines; the classifier is left out."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DENSENET_CONFIGS", "DenseNetEncoder", "load_densenet_weights"]

# name: (growth rate, block config, initial features)
DENSENET_CONFIGS = {121: (32, (6, 12, 24, 16), 64), 169: (32, (6, 12, 32, 32), 64), 201: (32, (6, 12, 48, 32), 64)}


class _DenseLayer(nn.Module):
    def __init__(self, in_ch: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], 1)


class _DenseBlock(nn.Sequential):
    def __init__(self, layers: int, in_ch: int, growth: int, bn_size: int) -> None:
        super().__init__(OrderedDict((f"denselayer{i + 1}", _DenseLayer(in_ch + i * growth, growth, bn_size))
                                     for i in range(layers)))


class _Transition(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(OrderedDict([("norm", nn.BatchNorm2d(in_ch)), ("relu", nn.ReLU(inplace=True)),
                                      ("conv", nn.Conv2d(in_ch, out_ch, 1, bias=False)),
                                      ("pool", nn.AvgPool2d(2, 2))]))


class DenseNetEncoder(nn.Module):
    """Returns DenseDepth's skips for an input of H x W:
    ``[relu0 @1/2 (64), pool0 @1/4 (64), transition1 @1/8, transition2 @1/16, relu(norm5) @1/32]``
    (for DenseNet-169: 64, 64, 128, 256, 1664 channels)."""

    def __init__(self, depth: int = 169, bn_size: int = 4) -> None:
        super().__init__()
        if depth not in DENSENET_CONFIGS:
            raise ValueError(f"DenseNet depth must be one of {sorted(DENSENET_CONFIGS)}, got {depth}")
        growth, blocks, init = DENSENET_CONFIGS[depth]
        self.depth = depth
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, init, 7, 2, 3, bias=False)), ("norm0", nn.BatchNorm2d(init)),
            ("relu0", nn.ReLU(inplace=True)), ("pool0", nn.MaxPool2d(3, 2, 1))]))
        ch = init
        self.channels = [init, init]
        for i, n in enumerate(blocks):
            self.features.add_module(f"denseblock{i + 1}", _DenseBlock(n, ch, growth, bn_size))
            ch += n * growth
            if i < len(blocks) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(ch, ch // 2))
                ch //= 2
                if i < 2:
                    self.channels.append(ch)
        self.features.add_module("norm5", nn.BatchNorm2d(ch))
        self.channels.append(ch)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = {}
        for name, module in self.features.named_children():
            x = module(x)
            if name in ("relu0", "pool0", "transition1", "transition2"):
                skips[name] = x
        return [skips["relu0"], skips["pool0"], skips["transition1"], skips["transition2"], F.relu(x)]


def load_densenet_weights(encoder: DenseNetEncoder, path: str | Path) -> None:
    """Load a torchvision DenseNet checkpoint (``.pth`` via ``torch.load(weights_only=True)`` or
    ``.safetensors``). Old torchvision files name layers ``norm.1`` instead of ``norm1``; both work."""
    import re

    from .resnet import _read_state_dict

    path = Path(path)
    state = _read_state_dict(path)
    state = {re.sub(r"\.(norm|relu|conv)\.(\d)", r".\1\2", k): v for k, v in state.items()
             if not k.startswith("classifier.")}
    own = encoder.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(f"{path}: not a torchvision DenseNet-{encoder.depth} checkpoint: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    encoder.load_state_dict(state)

"""ResNet-18/34/50 encoders with torchvision's parameter names, so an ImageNet checkpoint saved
by torchvision (``resnet18-f37072fd.pth`` and friends) loads from a local file.

Written here because there is no CPU torchvision on our machines. The layout follows He et al.
(2016) and torchvision exactly: ``conv1 bn1 relu maxpool layer1..layer4`` of ``BasicBlock`` or
``Bottleneck`` with ``downsample.0`` (1x1 conv) / ``downsample.1`` (BN). The classifier ``fc`` is
left out; its keys are ignored on load.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["RESNET_LAYERS", "ResNetEncoder", "load_imagenet_weights"]

RESNET_LAYERS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
                 101: ("bottleneck", (3, 4, 23, 3))}


class GlobalContextBlock(nn.Module):
    """GCNet's global context block (Cao et al. 2019), as Chen et al. (ECCV 2020) insert it in every residual
    block: softmax attention pooling over all positions, a bottleneck transform
    (1x1 conv, LayerNorm, ReLU, 1x1 conv), added back to every position."""

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        hidden = max(channels // ratio, 1)
        self.attention = nn.Conv2d(channels, 1, 1)
        self.transform = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.LayerNorm([hidden, 1, 1]),
                                       nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))
        self.start_as_identity()

    def start_as_identity(self) -> None:
        """Zero the last transform conv, as GCNet initialises it: the block adds nothing at first."""
        nn.init.zeros_(self.transform[-1].weight)
        nn.init.zeros_(self.transform[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        weights = torch.softmax(self.attention(x).flatten(2), dim=-1)          # [B,1,HW]
        context = torch.bmm(x.flatten(2), weights.transpose(1, 2)).view(b, c, 1, 1)
        return x + self.transform(context)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1, gcb_ratio: int | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.downsample = _downsample(in_ch, ch * self.expansion, stride)
        self.gcb = GlobalContextBlock(ch, gcb_ratio) if gcb_ratio else None   # as in Bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.gcb is not None:
            out = self.gcb(out)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int = 1, gcb_ratio: int | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride, 1, bias=False)  # stride on the 3x3 (torchvision v1.5)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv3 = nn.Conv2d(ch, ch * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(ch * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_ch, ch * self.expansion, stride)
        # Optional GCB after the last conv + BN, before the residual addition (GCNet's placement).
        self.gcb = GlobalContextBlock(ch * self.expansion, gcb_ratio) if gcb_ratio else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.gcb is not None:
            out = self.gcb(out)
        return self.relu(out + identity)


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class ResNetEncoder(nn.Module):
    """Returns the five feature maps used as skips by depth decoders:
    ``[relu(bn1(conv1)) @1/2, layer1 @1/4, layer2 @1/8, layer3 @1/16, layer4 @1/32]``."""

    def __init__(self, depth: int = 18, gcb_ratio: int | None = None) -> None:
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
        kind, blocks = RESNET_LAYERS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        extra = {"gcb_ratio": gcb_ratio} if gcb_ratio else {}
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for i, (n, ch) in enumerate(zip(blocks, (64, 128, 256, 512)), start=1):
            layers = []
            for j in range(n):
                layers.append(block(in_ch, ch, 2 if (j == 0 and i > 1) else 1, **extra))
                in_ch = ch * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.channels = [64] + [c * block.expansion for c in (64, 128, 256, 512)]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():   # after the loop above, which would overwrite the zeros
            if isinstance(m, GlobalContextBlock):
                m.start_as_identity()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [f0, f1, f2, f3, f4]


def _read_state_dict(path: Path) -> dict:
    """A checkpoint's tensors: ``.safetensors``, or ``.pth`` / ``.pt`` through
    ``torch.load(weights_only=True)`` (never a full unpickle). ``module.`` prefixes are dropped."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ImageNet weights not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign files: say which file
        raise ValueError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_imagenet_weights(encoder: ResNetEncoder, path: str | Path) -> None:
    """Load a torchvision ImageNet checkpoint (``.pth`` / ``.pt`` via ``torch.load(weights_only=True)``,
    or ``.safetensors``) into ``encoder``. Raises ``ValueError`` naming the file and the keys when
    it is not a ResNet-``encoder.depth`` state dict."""
    path = Path(path)
    state = {k: v for k, v in _read_state_dict(path).items() if not k.startswith("fc.")}
    own = encoder.state_dict()
    # Global context blocks are not part of torchvision's ResNets: they keep their initialisation.
    missing = sorted(k for k in set(own) - set(state) if ".gcb." not in k)
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(f"{path}: not a torchvision ResNet-{encoder.depth} checkpoint: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    encoder.load_state_dict(state, strict=False)

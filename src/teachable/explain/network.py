"""EfficientNet-Lite0 in NumPy, for heatmaps: the forward pass of one picture, and the gradient
from the last features back to the 14 x 14 layer, without a deep-learning framework.

The network is :mod:`teachable.embed.efficientnet_lite`'s, with the batch norms folded into the
convolutions (as the ONNX file has them, :mod:`teachable.embed.backbone_graph`), in channels-first
layout for one picture. A heatmap needs the gradient of a class's evidence through the last five
blocks and the head convolution only; everything is written out: 1 x 1 convolutions are matrix
products, a depthwise k x k convolution is k² shifted products, ReLU6's gradient is its mask.
``tests/test_explain.py`` checks the heatmap against PyTorch's autograd where PyTorch is installed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..embed.backbone_graph import STAGES, _same, fold, read_state


@dataclass
class Conv:
    """A convolution with its batch norm folded in: weight [out, in/groups, k, k], bias [out]."""

    weight: np.ndarray
    bias: np.ndarray
    stride: int
    depthwise: bool
    relu6: bool


def _fold(state: dict, conv: str, bn: str, stride: int, depthwise: bool, relu6: bool) -> Conv:
    return Conv(*fold(state, conv, bn), stride, depthwise, relu6)


@dataclass
class Block:
    convs: list[Conv]
    residual: bool


class Network:
    """The folded network; :meth:`forward` keeps what :meth:`backward` needs."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.stem = _fold(state, "_conv_stem", "_bn0", 2, False, True)
        self.blocks: list[Block] = []
        index, cin = 0, 32
        for repeats, kernel, first_stride, expand, cout in STAGES:
            for i in range(repeats):
                stride, name = (first_stride if i == 0 else 1), f"_blocks.{index}"
                convs = [_fold(state, f"{name}._expand_conv", f"{name}._bn0", 1, False, True)] if expand != 1 else []
                convs += [_fold(state, f"{name}._depthwise_conv", f"{name}._bn1", stride, True, True),
                          _fold(state, f"{name}._project_conv", f"{name}._bn2", 1, False, False)]
                self.blocks.append(Block(convs, stride == 1 and cin == cout))
                index, cin = index + 1, cout
        self.head = _fold(state, "_conv_head", "_bn1", 1, False, True)

    # -- forward --------------------------------------------------------------------------------
    @staticmethod
    def _conv(conv: Conv, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(output, ReLU6 mask or None) of one convolution on [C, H, W]."""
        k = conv.weight.shape[-1]
        if k == 1 and not conv.depthwise:
            channels, height, width = x.shape
            y = (conv.weight[:, :, 0, 0] @ x.reshape(channels, -1)).reshape(-1, height, width)
        elif conv.depthwise:
            y = _depthwise(x, conv.weight[:, 0], conv.stride)
        else:  # the stem: a full k x k convolution, as k² shifted products
            y = _full(x, conv.weight, conv.stride)
        y = y + conv.bias[:, None, None]
        if not conv.relu6:
            return y, None
        mask = (y > 0) & (y < 6)
        return np.clip(y, 0, 6), mask

    def first_blocks(self, x: np.ndarray, blocks: int) -> np.ndarray:
        """The stem and the first ``blocks`` blocks on one picture [3, 224, 224]."""
        x, _ = self._conv(self.stem, x)
        for block in self.blocks[:blocks]:
            x = self._block(block, x)[0]
        return x

    def _block(self, block: Block, x: np.ndarray) -> tuple[np.ndarray, list]:
        trace, y = [], x
        for conv in block.convs:
            out, mask = self._conv(conv, y)
            trace.append((conv, y.shape, mask))
            y = out
        return (x + y if block.residual else y), trace

    def last_from(self, x: np.ndarray, blocks: int) -> tuple[np.ndarray, list]:
        """The last features [1280, 7, 7] from the output of the first ``blocks`` blocks, and the
        trace :meth:`backward` reads."""
        traces = []
        for block in self.blocks[blocks:]:
            x, trace = self._block(block, x)
            traces.append((block, trace))
        places, mask = self._conv(self.head, x)
        traces.append((None, [(self.head, x.shape, mask)]))
        return places, traces

    # -- backward -------------------------------------------------------------------------------
    def backward(self, gradient: np.ndarray, traces: list) -> np.ndarray:
        """The gradient at the input of :meth:`last_from` from the one at its output."""
        for block, trace in reversed(traces):
            upstream = gradient
            for conv, shape, mask in reversed(trace):
                if mask is not None:
                    gradient = gradient * mask
                gradient = _conv_input_gradient(conv, gradient, shape)
            if block is not None and block.residual:
                gradient = gradient + upstream
        return gradient


def _shifted(x: np.ndarray, k: int, stride: int):
    """The k² shifted, strided views of ``x`` [C, H, W] "SAME"-padded that a k x k convolution
    sums over, each as (u, v, view [C, out, out])."""
    before, after, out = _same(x.shape[1], k, stride)
    padded = np.pad(x, ((0, 0), (before, after), (before, after)))
    for u in range(k):
        for v in range(k):
            yield u, v, padded[:, u:u + stride * out:stride, v:v + stride * out:stride]


def _depthwise(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    out = _same(x.shape[1], weight.shape[-1], stride)[2]
    y = np.zeros((x.shape[0], out, out), np.float32)
    for u, v, view in _shifted(x, weight.shape[-1], stride):
        y += view * weight[:, u, v][:, None, None]
    return y


def _full(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    out = _same(x.shape[1], weight.shape[-1], stride)[2]
    y = np.zeros((weight.shape[0], out * out), np.float32)
    for u, v, view in _shifted(x, weight.shape[-1], stride):
        y += weight[:, :, u, v] @ view.reshape(x.shape[0], -1)
    return y.reshape(-1, out, out)


def _conv_input_gradient(conv: Conv, gradient: np.ndarray, shape: tuple) -> np.ndarray:
    """The gradient at a convolution's input [C, H, W] from the one at its output (bias-free part)."""
    channels, size, _ = shape
    k = conv.weight.shape[-1]
    if k == 1 and not conv.depthwise:
        out_channels, height, width = gradient.shape
        return (conv.weight[:, :, 0, 0].T @ gradient.reshape(out_channels, -1)).reshape(channels, height, width)
    if not conv.depthwise:
        raise NotImplementedError("the stem is never differentiated here")
    before, after, out = _same(size, k, conv.stride)
    padded = np.zeros((channels, size + before + after, size + before + after), np.float32)
    s = conv.stride
    for u in range(k):
        for v in range(k):
            padded[:, u:u + s * out:s, v:v + s * out:s] += gradient * conv.weight[:, 0, u, v][:, None, None]
    return padded[:, before:before + size, before:before + size]


_network: Network | None = None
_lock = threading.Lock()


def network() -> Network:
    """The shared network, its weights read from the weights package (once)."""
    global _network
    with _lock:
        if _network is None:
            from ..embed.spec import weights_path

            _network = Network(read_state(weights_path()))
        return _network


def evidence_gradient(classifier, embedding: np.ndarray, c: int) -> tuple[float, np.ndarray]:
    """(the evidence for class ``c``, its gradient with respect to the embedding), as
    heatmap.py defines evidence: the log-odds of ``c`` against the others for the head; for kNN the
    contrast of the class means' similarity to the query."""
    e = np.asarray(embedding, np.float64)
    x = e - classifier.center if classifier.center is not None else e
    if getattr(classifier, "scale", None) is not None:
        x = x * classifier.scale
    length = max(float(np.linalg.norm(x)), 1e-12)
    if classifier.kind == "head":
        w = {name: value.astype(np.float64) for name, value in classifier.weights.items()}
        unit = classifier.input_norm == "l2"
        z = x / length if unit else x
        pre = z @ w["w1"] + w["b1"]
        hidden = np.maximum(pre, 0)
        logits = hidden @ w["w2"] + w["b2"]
        logp = logits - _logsumexp(logits)
        others = np.delete(np.arange(len(logp)), c)
        value = float(logp[c] - _logsumexp(logp[others]))
        g_logp = np.zeros_like(logp)
        g_logp[c] = 1.0
        g_logp[others] = -np.exp(logp[others] - _logsumexp(logp[others]))
        g_logits = g_logp - np.exp(logp) * g_logp.sum()
        g_z = ((g_logits @ w["w2"].T) * (pre > 0)) @ w["w1"].T
        g_x = (g_z - z * (z @ g_z)) / length if unit else g_z
    else:
        query = x / length
        examples, labels = classifier.examples.astype(np.float64), classifier.labels
        means = np.stack([examples[labels == label].mean(axis=0) for label in range(classifier.num_classes)])
        scores = means @ query
        others = np.delete(np.arange(len(scores)), c)
        other = others[int(np.argmax(scores[others]))]
        value = float(scores[c] - scores[other])
        g_q = means[c] - means[other]
        g_x = (g_q - query * (query @ g_q)) / length
    if getattr(classifier, "scale", None) is not None:
        g_x = g_x * classifier.scale
    return value, g_x.astype(np.float32)


def _logsumexp(values: np.ndarray) -> float:
    peak = float(values.max())
    return peak + float(np.log(np.exp(values - peak).sum()))

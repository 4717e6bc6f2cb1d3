"""The tfjs-layers / Keras vocabulary: read a model topology into a flat graph, run it, write one.

Teachable Machine's exports are Keras models: a ``model.json`` (tfjs-layers) or ``keras_model.h5``
whose ``model_config`` nests a ``Model`` (MobileNet) inside ``Sequential`` containers. Reading one
flattens the nesting into a list of :class:`Node` s in the order they run; :class:`Graph` then runs
them with PyTorch in channels-last layout, exactly as TensorFlow defines each layer. Writing goes the
other way for our own TF.js export: a flat functional ``Model`` of layers that tfjs 1.3.1 already knew,
so every version of TensorFlow.js since loads it.

Only the layers image classifiers are built of are known; any other layer is refused by name
(:class:`UnknownLayerError`) rather than guessed at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..budget import MAX_BATCH_ACTIVATION_BYTES, MAX_IMAGE_ACTIVATION_BYTES, MAX_INPUT_SIDE
from ..errors import ModelFileError

KERAS_VERSION = "tfjs-layers 1.3.1"  # what Teachable Machine writes, and the oldest reader we promise
MAX_LAYERS = 2000
MAX_DEPTH = 8
# Every layer parameter is bounded: what image classifiers use, with room to spare. A model that
# asks for more is refused when it is read, before anything is allocated.
MAX_WINDOW = 64  # kernel size, stride, dilation rate, depth multiplier
MAX_PADDING = 256
MAX_UNITS = 65_536  # filters, dense units, channels of any layer output
MAX_CHANNELS_IN = 4
MAX_FEATURES_IN = 1 << 20  # a flat (non-image) input


class UnknownLayerError(ModelFileError):
    """A model uses a layer (or option) this reader does not implement."""


@dataclass
class Node:
    """One layer in a flat graph: its name, Keras class, config and the nodes feeding it."""

    name: str
    class_name: str
    config: dict[str, Any]
    inputs: list[str] = field(default_factory=list)


def _check_name(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ModelFileError("The model names a layer with an empty, overlong or non-text name.")
    return value


class _Flattener:
    """Walks nested Sequential / Model configs, renaming nothing, aliasing nested inputs."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.alias: dict[str, str] = {}

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        if name not in self.names:
            raise ModelFileError(f"The model's layer graph refers to a layer '{name}' it does not define.")
        return name

    def add(self, node: Node) -> str:
        if not isinstance(node.config, dict):
            raise ModelFileError(f"The layer '{node.name}' has no config.")
        if node.name in self.names or node.name in self.alias:
            raise ModelFileError(f"The model defines the layer name '{node.name}' twice.")
        if len(self.nodes) >= MAX_LAYERS:
            raise ModelFileError(f"The model has more than {MAX_LAYERS} layers.")
        self.names.add(node.name)
        self.nodes.append(node)
        return node.name

    def input_node(self, config: dict, name: str) -> str:
        shape = config.get("batch_input_shape") or config.get("batch_shape")
        if not isinstance(shape, list) or not 2 <= len(shape) <= 4:
            raise ModelFileError("The model does not say the shape of its input.")
        return self.add(Node(name, "InputLayer", {"batch_input_shape": shape}))

    def container(self, spec: dict, inputs: list[str] | None, depth: int) -> list[str]:
        if depth > MAX_DEPTH:
            raise ModelFileError("The model nests containers too deeply.")
        if not isinstance(spec, dict):
            raise ModelFileError("The model's topology is not a Keras model configuration.")
        kind = spec.get("class_name")
        config = spec.get("config")
        if kind == "Sequential":
            layers = config if isinstance(config, list) else (config or {}).get("layers")
            if not isinstance(layers, list) or not layers:
                raise ModelFileError("A Sequential container in the model has no layers.")
            return self.sequential(layers, inputs, depth)
        if kind in ("Model", "Functional"):
            if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
                raise ModelFileError("A Model container in the model has no layers.")
            return self.functional(config, inputs, depth)
        raise UnknownLayerError(f"The model's top level is a '{kind}', not a Sequential or Model.")

    def sequential(self, layers: list, inputs: list[str] | None, depth: int) -> list[str]:
        current = inputs
        for layer in layers:
            if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict | list):
                raise ModelFileError("A layer in the model has no config.")
            kind = layer.get("class_name")
            if kind in ("Sequential", "Model", "Functional"):
                current = self.container(layer, current, depth + 1)
                continue
            config = layer["config"]
            name = _check_name(config.get("name") or layer.get("name"))
            if kind == "InputLayer":
                if current is None:
                    current = [self.input_node(config, name)]
                else:
                    self.alias[name] = current[0]
                continue
            if current is None:
                current = [self.input_node(config, f"{name}_input")]
            current = [self.add(Node(name, str(kind), config, list(current)))]
        if current is None:
            raise ModelFileError("A Sequential container in the model has no layers.")
        return current

    def functional(self, config: dict, inputs: list[str] | None, depth: int) -> list[str]:
        declared_inputs = [_check_name(entry[0]) for entry in config.get("input_layers") or []]
        if inputs is not None:
            if len(declared_inputs) != len(inputs):
                raise ModelFileError("A nested model takes a different number of inputs than it is given.")
            self.alias.update(zip(declared_inputs, inputs))
        for layer in config["layers"]:
            if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
                raise ModelFileError("A layer in the model has no config.")
            kind = layer.get("class_name")
            name = _check_name(layer.get("name") or layer["config"].get("name"))
            if kind == "InputLayer":
                if inputs is None:
                    self.input_node(layer["config"], name)
                continue
            inbound = layer.get("inbound_nodes") or []
            if kind in ("Sequential", "Model", "Functional"):
                sources = [self.resolve(_check_name(entry[0])) for entry in (inbound[0] if inbound else [])]
                outputs = self.container(layer, sources, depth + 1)
                self.alias[name] = outputs[0]
                continue
            if len(inbound) != 1:
                raise UnknownLayerError(f"The layer '{name}' is shared or unconnected; only plain graphs are read.")
            sources = [self.resolve(_check_name(entry[0])) for entry in inbound[0]]
            self.add(Node(name, str(kind), layer["config"], sources))
        outputs = [self.resolve(_check_name(entry[0])) for entry in config.get("output_layers") or []]
        if len(outputs) != 1:
            raise UnknownLayerError("Only models with one output are read.")
        return outputs


def read_topology(topology: dict) -> "Graph":
    """The flat graph of a Keras / tfjs-layers ``model_config`` (or a tfjs ``modelTopology``)."""
    if not isinstance(topology, dict):
        raise ModelFileError("The model's topology is not a JSON object.")
    spec = topology.get("model_config", topology)
    flattener = _Flattener()
    try:
        outputs = flattener.container(spec, None, 0)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:  # a config of the wrong JSON type
        raise ModelFileError(f"The model's layer configuration is malformed ({type(exc).__name__}).") from None
    inputs = [n.name for n in flattener.nodes if n.class_name == "InputLayer"]
    if len(inputs) != 1 or flattener.nodes[0].class_name != "InputLayer":
        raise UnknownLayerError("Only models with one input are read.")
    for node in flattener.nodes:
        if node.class_name != "InputLayer" and node.class_name not in LAYERS:
            raise UnknownLayerError(f"The model uses a '{node.class_name}' layer ('{node.name}'), which Teachable cannot run.")
    return Graph(flattener.nodes, outputs[0])


# ---------------------------------------------------------------- running

def _activation(name: object) -> Callable:
    import torch
    from torch.nn import functional as F

    table: dict[str, Callable] = {
        "linear": lambda x: x,
        "relu": torch.relu,
        "relu6": lambda x: torch.clamp(x, 0.0, 6.0),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda x: torch.softmax(x, dim=-1),
        "elu": F.elu,
        "selu": F.selu,
        "softplus": F.softplus,
        "softsign": F.softsign,
        "swish": F.silu,
        "hard_sigmoid": lambda x: torch.clamp(0.2 * x + 0.5, 0.0, 1.0),
        "hardSigmoid": lambda x: torch.clamp(0.2 * x + 0.5, 0.0, 1.0),
    }
    if isinstance(name, dict):  # Keras 3 writes {"class_name": ..., "config": {"name": ...}}
        config = name.get("config")
        name = config.get("name", name.get("class_name")) if isinstance(config, dict) else name.get("class_name")
    if name is None:
        name = "linear"
    if not isinstance(name, str) or name not in table:
        raise UnknownLayerError(f"The model uses the activation {show_value(name)}, which Teachable cannot run.")
    return table[name]


def show_value(value: object) -> str:
    """A short picture of a config value for a message (a 500,000-digit number included)."""
    try:
        text = repr(value)
    except ValueError:
        text = "a number too long to print"
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: object, what: str, low: int, high: int) -> int:
    """An integer config value within [low, high] (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelFileError(f"The model gives an invalid {what}: {show_value(value)} (Teachable reads {low} to {high}).")
    return value


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelFileError(f"The model gives an invalid {what}: {show_value(value)}.")
    return float(value)


def _pair(value: object, what: str, low: int = 1, high: int = MAX_WINDOW) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return _int(value[0], what, low, high), _int(value[1], what, low, high)
    return _int(value, what, low, high), _int(value, what, low, high)


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding along one axis (before, after): the odd pixel goes after."""
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _channels_last(config: dict) -> None:
    if config.get("data_format", "channels_last") != "channels_last":
        raise UnknownLayerError("Only channels-last image models are read.")


def _conv(x, kernel, bias, config: dict, groups: int):
    """A 2-D convolution on NHWC ``x`` with a torch-layout kernel, TensorFlow padding rules."""
    import torch.nn.functional as F

    _channels_last(config)
    stride = _pair(config.get("strides", 1), "stride")
    dilation = _pair(config.get("dilation_rate", 1), "dilation rate")
    x = x.permute(0, 3, 1, 2)
    padding = config.get("padding", "valid")
    if padding == "same":
        top, bottom = same_pads(x.shape[2], kernel.shape[2], stride[0], dilation[0])
        left, right = same_pads(x.shape[3], kernel.shape[3], stride[1], dilation[1])
        x = F.pad(x, (left, right, top, bottom))
    elif padding != "valid":
        raise UnknownLayerError(f"The model uses '{padding}' padding, which Teachable cannot run.")
    y = F.conv2d(x, kernel, bias, stride=stride, dilation=dilation, groups=groups)
    return y.permute(0, 2, 3, 1)


class Weights:
    """Named arrays by ``layer/param``, handed to each layer as a float32 tensor of the shape it needs."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def get(self, layer: str, param: str, shape: tuple[int, ...] | None = None, optional: bool = False):
        import torch

        array = self.arrays.get(f"{layer}/{param}")
        if array is None:
            if optional:
                return None
            raise ModelFileError(f"The model's weights have no '{layer}/{param}'.")
        if shape is not None and tuple(array.shape) != shape:
            raise ModelFileError(f"The weight '{layer}/{param}' has shape {list(array.shape)}; the layer needs {list(shape)}.")
        return torch.from_numpy(np.ascontiguousarray(array, np.float32))


def _run_conv2d(node: Node, xs, w: Weights):
    c = node.config
    x = xs[0]
    kh, kw = _pair(c.get("kernel_size"), "kernel size")
    kernel = w.get(node.name, "kernel", (kh, kw, x.shape[-1], int(c["filters"])))
    bias = w.get(node.name, "bias", (int(c["filters"]),)) if c.get("use_bias", True) else None
    return _activation(c.get("activation"))(_conv(x, kernel.permute(3, 2, 0, 1), bias, c, 1))


def _run_depthwise(node: Node, xs, w: Weights):
    c = node.config
    x = xs[0]
    kh, kw = _pair(c.get("kernel_size"), "kernel size")
    channels, multiplier = x.shape[-1], int(c.get("depth_multiplier", 1))
    kernel = w.get(node.name, "depthwise_kernel", (kh, kw, channels, multiplier))
    kernel = kernel.permute(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw)
    bias = w.get(node.name, "bias", (channels * multiplier,)) if c.get("use_bias", True) else None
    return _activation(c.get("activation"))(_conv(x, kernel, bias, c, channels))


def _run_batchnorm(node: Node, xs, w: Weights):
    import torch

    c = node.config
    x = xs[0]
    axis = c.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if axis not in (-1, x.dim() - 1):
        raise UnknownLayerError(f"The batch normalisation '{node.name}' is not over the channels.")
    n = x.shape[-1]
    gamma = w.get(node.name, "gamma", (n,)) if c.get("scale", True) else torch.ones(n)
    beta = w.get(node.name, "beta", (n,)) if c.get("center", True) else torch.zeros(n)
    mean, var = w.get(node.name, "moving_mean", (n,)), w.get(node.name, "moving_variance", (n,))
    return (x - mean) / torch.sqrt(var + float(c.get("epsilon", 1e-3))) * gamma + beta


def _run_relu(node: Node, xs, w: Weights):
    import torch

    c, x = node.config, xs[0]
    slope, threshold = float(c.get("negative_slope") or 0.0), float(c.get("threshold") or 0.0)
    y = torch.where(x >= threshold, x, slope * (x - threshold))
    return torch.clamp(y, max=float(c["max_value"])) if c.get("max_value") is not None else y


def _run_rescaling(node: Node, xs, w: Weights):
    return xs[0] * float(node.config.get("scale", 1.0)) + float(node.config.get("offset", 0.0))


def _paddings(padding: object) -> tuple[tuple[int, int], tuple[int, int]]:
    """ZeroPadding2D's padding: n, [rows, cols] or [[top, bottom], [left, right]]."""
    if isinstance(padding, list | tuple) and len(padding) == 2 and all(isinstance(p, list | tuple) for p in padding):
        return _pair(padding[0], "padding", 0, MAX_PADDING), _pair(padding[1], "padding", 0, MAX_PADDING)
    rows, cols = _pair(padding, "padding", 0, MAX_PADDING)
    return (rows, rows), (cols, cols)


def _run_zero_padding(node: Node, xs, w: Weights):
    from torch.nn import functional as F

    (top, bottom), (left, right) = _paddings(node.config.get("padding", 1))
    return F.pad(xs[0], (0, 0, left, right, top, bottom))


def _run_dense(node: Node, xs, w: Weights):
    c, x = node.config, xs[0]
    units = int(c["units"])
    kernel = w.get(node.name, "kernel", (x.shape[-1], units))
    y = x @ kernel
    if c.get("use_bias", True):
        y = y + w.get(node.name, "bias", (units,))
    return _activation(c.get("activation"))(y)


def _run_global_average(node: Node, xs, w: Weights):
    _channels_last(node.config)
    return xs[0].mean(dim=(1, 2), keepdim=bool(node.config.get("keepdims", False)))


def _run_global_max(node: Node, xs, w: Weights):
    _channels_last(node.config)
    return xs[0].amax(dim=(1, 2), keepdim=bool(node.config.get("keepdims", False)))


def _run_concatenate(node: Node, xs, w: Weights):
    import torch

    return torch.cat(xs, dim=int(node.config.get("axis", -1)))  # checked by _concatenate_shape


def _run_reshape(node: Node, xs, w: Weights):
    return xs[0].reshape(xs[0].shape[0], *node.config["target_shape"])  # checked by _reshape_shape


def _elementwise(op: Callable) -> Callable:
    def run(node: Node, xs, w: Weights):
        if len(xs) < 2:
            raise ModelFileError(f"The merge layer '{node.name}' has fewer than two inputs.")
        y = xs[0]
        for x in xs[1:]:
            y = op(y, x)
        return y
    return run


LAYERS: dict[str, Callable] = {
    "Conv2D": _run_conv2d,
    "DepthwiseConv2D": _run_depthwise,
    "BatchNormalization": _run_batchnorm,
    "ReLU": _run_relu,
    "Rescaling": _run_rescaling,  # Teachable's own Keras export puts one in front
    "Activation": lambda node, xs, w: _activation(node.config.get("activation"))(xs[0]),
    "ZeroPadding2D": _run_zero_padding,
    "Dense": _run_dense,
    "GlobalAveragePooling2D": _run_global_average,
    "GlobalMaxPooling2D": _run_global_max,
    "Add": _elementwise(lambda a, b: a + b),
    "Multiply": _elementwise(lambda a, b: a * b),
    "Concatenate": _run_concatenate,
    "Flatten": lambda node, xs, w: xs[0].reshape(xs[0].shape[0], -1),
    "Reshape": _run_reshape,
    "Dropout": lambda node, xs, w: xs[0],
    "SpatialDropout2D": lambda node, xs, w: xs[0],
}


# ---------------------------------------------------------------- planning
# Each layer's output shape (one picture, no batch axis) from its inputs' shapes and its config,
# every parameter checked: a model is planned when it is read, so a config that would allocate
# gigabytes, or that no layer can run, is refused with a sentence before anything runs.

Shape = tuple[int, ...]


def _image(node: Node, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise ModelFileError(f"The layer '{node.name}' needs a picture (height, width, channels); it is given {list(shape)}.")
    _channels_last(node.config)
    return shape


def _window_shape(node: Node, shape: Shape, channels_out: int) -> Shape:
    """Conv2D and DepthwiseConv2D: TensorFlow's output size for 'same' and 'valid' padding."""
    c = node.config
    height, width, _ = _image(node, shape)
    kernel = _pair(c.get("kernel_size"), "kernel size")
    stride = _pair(c.get("strides", 1), "stride")
    dilation = _pair(c.get("dilation_rate", 1), "dilation rate")
    padding = c.get("padding", "valid")
    if padding not in ("same", "valid"):
        raise UnknownLayerError(f"The model uses {show_value(padding)} padding, which Teachable cannot run.")
    _activation(c.get("activation"))
    out = []
    for size, k, s, d in zip((height, width), kernel, stride, dilation):
        effective = (k - 1) * d + 1
        out.append(math.ceil(size / s) if padding == "same" else (size - effective) // s + 1)
    if min(out) < 1:
        raise ModelFileError(f"The layer '{node.name}' has a window larger than its input {list(shape)}.")
    return out[0], out[1], _int(channels_out, "number of output channels", 1, MAX_UNITS)


def _conv_shape(node: Node, shapes: list[Shape]) -> Shape:
    if node.config.get("groups", 1) != 1:
        raise UnknownLayerError(f"The convolution '{node.name}' is grouped, which Teachable cannot run.")
    return _window_shape(node, shapes[0], node.config.get("filters"))


def _depthwise_shape(node: Node, shapes: list[Shape]) -> Shape:
    multiplier = _int(node.config.get("depth_multiplier", 1), "depth multiplier", 1, MAX_WINDOW)
    return _window_shape(node, shapes[0], _image(node, shapes[0])[2] * multiplier)


def _batchnorm_shape(node: Node, shapes: list[Shape]) -> Shape:
    axis = node.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if isinstance(axis, bool) or axis not in (-1, len(shapes[0])):
        raise UnknownLayerError(f"The batch normalisation '{node.name}' is not over the channels.")
    if _number(node.config.get("epsilon", 1e-3), "epsilon") < 0:
        raise ModelFileError(f"The batch normalisation '{node.name}' has a negative epsilon.")
    return shapes[0]


def _relu_shape(node: Node, shapes: list[Shape]) -> Shape:
    for key in ("negative_slope", "threshold", "max_value"):
        if node.config.get(key) is not None:
            _number(node.config[key], key.replace("_", " "))
    return shapes[0]


def _rescaling_shape(node: Node, shapes: list[Shape]) -> Shape:
    for key in ("scale", "offset"):  # numbers only: Keras also allows per-channel lists, which we never write
        _number(node.config.get(key, 0.0), key)
    return shapes[0]


def _activation_shape(node: Node, shapes: list[Shape]) -> Shape:
    _activation(node.config.get("activation"))
    return shapes[0]


def _zero_padding_shape(node: Node, shapes: list[Shape]) -> Shape:
    height, width, channels = _image(node, shapes[0])
    (top, bottom), (left, right) = _paddings(node.config.get("padding", 1))
    return height + top + bottom, width + left + right, channels


def _dense_shape(node: Node, shapes: list[Shape]) -> Shape:
    _activation(node.config.get("activation"))
    return (*shapes[0][:-1], _int(node.config.get("units"), "number of units", 1, MAX_UNITS))


def _global_pool_shape(node: Node, shapes: list[Shape]) -> Shape:
    channels = _image(node, shapes[0])[2]
    return (1, 1, channels) if node.config.get("keepdims") else (channels,)


def _merge_shape(node: Node, shapes: list[Shape]) -> Shape:
    if len(shapes) < 2:
        raise ModelFileError(f"The merge layer '{node.name}' has fewer than two inputs.")
    if any(shape != shapes[0] for shape in shapes):
        raise ModelFileError(f"The merge layer '{node.name}' joins outputs of different shapes: {[list(s) for s in shapes]}.")
    return shapes[0]


def _concatenate_shape(node: Node, shapes: list[Shape]) -> Shape:
    rank = len(shapes[0])
    axis = _int(node.config.get("axis", -1), "concatenation axis", -rank - 1, rank)
    axis = axis + rank + 1 if axis < 0 else axis
    if axis == 0:
        raise ModelFileError(f"The layer '{node.name}' concatenates along the batch axis.")
    rest = [s[:axis - 1] + s[axis:] for s in shapes]
    if any(len(s) != rank or r != rest[0] for s, r in zip(shapes, rest)):
        raise ModelFileError(f"The layer '{node.name}' concatenates outputs of mismatched shapes: {[list(s) for s in shapes]}.")
    return (*shapes[0][:axis - 1], sum(s[axis - 1] for s in shapes), *shapes[0][axis:])


def _reshape_shape(node: Node, shapes: list[Shape]) -> Shape:
    target = node.config.get("target_shape")
    size = math.prod(shapes[0])
    if not isinstance(target, list) or not 1 <= len(target) <= 4:
        raise ModelFileError(f"The reshape '{node.name}' has no valid target shape.")
    dims = [_int(v, "reshape dimension", -1, size) for v in target]
    if 0 in dims or dims.count(-1) > 1:
        raise ModelFileError(f"The reshape '{node.name}' has an invalid target shape {show_value(target)}.")
    known = math.prod(d for d in dims if d != -1)
    if (-1 in dims and size % known) or (-1 not in dims and known != size):
        raise ModelFileError(f"The reshape '{node.name}' cannot turn {list(shapes[0])} into {show_value(target)}.")
    return tuple(size // known if d == -1 else d for d in dims)


def _same_shape(node: Node, shapes: list[Shape]) -> Shape:
    return shapes[0]


SHAPES: dict[str, Callable[[Node, list[Shape]], Shape]] = {
    "Conv2D": _conv_shape,
    "DepthwiseConv2D": _depthwise_shape,
    "BatchNormalization": _batchnorm_shape,
    "ReLU": _relu_shape,
    "Rescaling": _rescaling_shape,
    "Activation": _activation_shape,
    "ZeroPadding2D": _zero_padding_shape,
    "Dense": _dense_shape,
    "GlobalAveragePooling2D": _global_pool_shape,
    "GlobalMaxPooling2D": _global_pool_shape,
    "Add": _merge_shape,
    "Multiply": _merge_shape,
    "Concatenate": _concatenate_shape,
    "Flatten": lambda node, shapes: (math.prod(shapes[0]),),
    "Reshape": _reshape_shape,
    "Dropout": _same_shape,
    "SpatialDropout2D": _same_shape,
}


def input_shape(batch_shape: object) -> Shape:
    """A model input's shape without the batch axis, bounded: a picture up to MAX_INPUT_SIDE on a
    side with at most 4 channels, or a flat vector."""
    if not isinstance(batch_shape, list) or not 2 <= len(batch_shape) <= 4:
        raise ModelFileError("The model does not say the shape of its input.")
    if batch_shape[0] is not None:
        _int(batch_shape[0], "batch size", 1, 1 << 16)
    dims = batch_shape[1:]
    if len(dims) == 3:
        return (_int(dims[0], "input height", 1, MAX_INPUT_SIDE), _int(dims[1], "input width", 1, MAX_INPUT_SIDE),
                _int(dims[2], "number of input channels", 1, MAX_CHANNELS_IN))
    shape = tuple(_int(d, "input size", 1, MAX_FEATURES_IN) for d in dims)
    if math.prod(shape) > MAX_FEATURES_IN:
        raise ModelFileError(f"The model's input {list(shape)} is larger than any classifier's Teachable reads.")
    return shape


def plan(nodes: list[Node]) -> tuple[dict[str, Shape], int]:
    """Every node's output shape, and the float32 values one picture makes over all layers."""
    shapes: dict[str, Shape] = {}
    values = 0
    for node in nodes:
        if node.class_name == "InputLayer":
            shape = input_shape(node.config.get("batch_input_shape"))
        else:
            shape = tuple(SHAPES[node.class_name](node, [shapes[i] for i in node.inputs]))
        values += math.prod(shape)
        if max(shape) > MAX_FEATURES_IN or values * 4 > MAX_IMAGE_ACTIVATION_BYTES:
            raise ModelFileError(f"The model is too large to run: its layers up to '{node.name}' make more than "
                                 f"{MAX_IMAGE_ACTIVATION_BYTES // 2**20} MB of values for one picture.")
        shapes[node.name] = shape
    return shapes, values


class Graph:
    """A flat layer graph with one input and one output, runnable on NHWC float32 batches. Made
    from a planned list of nodes: every shape is known and bounded before anything runs."""

    def __init__(self, nodes: list[Node], output: str) -> None:
        self.nodes = nodes
        self.output = output
        self.shapes, self.values_per_image = plan(nodes)
        # The last node that reads each value, so a run frees what no later layer needs.
        self._last_use = {source: index for index, node in enumerate(nodes) for source in node.inputs}

    @property
    def input_shape(self) -> list:
        """The input's batch shape as the model declares it, e.g. ``[None, 224, 224, 3]``."""
        return list(self.nodes[0].config["batch_input_shape"])

    @property
    def output_node(self) -> Node:
        return next(n for n in self.nodes if n.name == self.output)

    def run(self, x: np.ndarray, weights: Weights, stop_at: str | None = None) -> np.ndarray:
        """The output (or the output of the layer ``stop_at``) for an NHWC float32 batch, run in
        pieces whose layer outputs stay within the memory budget."""
        x = np.ascontiguousarray(x, np.float32)
        try:
            import torch  # noqa: F401  (the layers run on PyTorch)
        except ImportError:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("Running a Teachable Machine model file needs PyTorch, which is not installed: "
                                         "pip install 'teachable[torch]'.") from None
        if tuple(x.shape[1:]) != self.shapes[self.nodes[0].name]:
            raise ModelFileError(f"The model takes inputs of shape {list(self.shapes[self.nodes[0].name])}, "
                                 f"not {list(x.shape[1:])}.")
        step = max(1, MAX_BATCH_ACTIVATION_BYTES // (4 * self.values_per_image))
        parts = [self._run(x[start:start + step], weights, stop_at) for start in range(0, max(len(x), 1), step)]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _run(self, x: np.ndarray, weights: Weights, stop_at: str | None) -> np.ndarray:
        import torch

        target = stop_at or self.output
        values: dict[str, Any] = {}
        try:
            with torch.inference_mode():
                for index, node in enumerate(self.nodes):
                    if node.class_name == "InputLayer":
                        values[node.name] = torch.from_numpy(x)
                    else:
                        values[node.name] = LAYERS[node.class_name](node, [values[i] for i in node.inputs], weights)
                    if node.name == target:
                        return values[node.name].numpy()
                    for source in node.inputs:
                        if self._last_use[source] == index:
                            values.pop(source, None)
        except (RuntimeError, ValueError, TypeError, IndexError, KeyError) as exc:
            raise ModelFileError(f"The model could not be run: {str(exc)[:200]}") from None
        raise ModelFileError(f"The model has no layer '{target}'.")

    def check(self, weights: Weights) -> None:
        """Run once on zeros so a weight missing or misshapen is found at load time, not at first use."""
        self.run(np.zeros((1, *self.shapes[self.nodes[0].name]), np.float32), weights)

    # ------------------------------------------------------------ writing

    def to_topology(self, name: str) -> dict:
        """A tfjs-layers ``modelTopology``: one flat functional ``Model`` (what tfjs 1.3.1 reads)."""
        layers = []
        for node in self.nodes:
            config = {**node.config, "name": node.name}
            if node.class_name != "InputLayer":
                config.setdefault("trainable", True)
            inbound = [[[source, 0, 0, {}] for source in node.inputs]] if node.inputs else []
            layers.append({"name": node.name, "class_name": node.class_name, "config": config, "inbound_nodes": inbound})
        inputs = [[n.name, 0, 0] for n in self.nodes if n.class_name == "InputLayer"]
        return {
            "class_name": "Model",
            "config": {"name": name, "layers": layers, "input_layers": inputs, "output_layers": [[self.output, 0, 0]]},
            "keras_version": KERAS_VERSION,
            "backend": "tensor_flow.js",
        }

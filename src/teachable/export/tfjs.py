"""TensorFlow.js export of image models, shaped like Teachable Machine's own "Tensorflow.js" download.

Existing code loads it unchanged (``tmImage.load(URL + "model.json", URL + "metadata.json")``,
``ml5.imageClassifier(URL)``, ``tf.loadLayersModel``): a flat functional ``Model`` of layers tfjs 1.3.1
already knew, taking ``[null, 224, 224, 3]`` pixels scaled as Teachable Machine scales them
(``x / 127 - 1``) and giving ``[null, classes]`` probabilities.

How EfficientNet-Lite0 becomes those layers, exactly:

- each BatchNorm is folded into the convolution before it (kernel scaled, bias added);
- EfficientNet-Lite's own scaling, ``(x - 127) / 128``, is ``127/128`` times Teachable Machine's, so the
  stem kernel is multiplied by ``127/128`` (zero padding stays zero: nothing else changes);
- TensorFlow's "SAME" padding of stride-2 layers (the odd pixel after) is an explicit ``ZeroPadding2D``
  and a ``valid`` convolution; stride-1 layers use ``same``, which is symmetric there;
- the trained head is two ``Dense`` layers (ReLU, softmax); its centring is folded into the first bias.

kNN models are refused: their top-k vote needs a sort (no tfjs-layers layer has one) and their query
is L2-normalised (no layer in tfjs 1.3.1 does that), so no exact expression exists in this vocabulary.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np

from ..classify.head import HeadClassifier
from ..embed.spec import INPUT_MEAN, INPUT_SIZE, INPUT_STD
from ..errors import TeachableError
from ..kinds import get_kind
from ..model import Model
from ..tm.layers import Graph, Node, same_pads
from ..tm.tfjs_files import model_json
from ..version import __version__

TM_SCALE = 127.0  # Teachable Machine feeds x / 127 - 1
TFJS_VERSION = "1.3.1"
TM_VERSION = "2.4.10"
TM_PACKAGE_VERSION = "0.8.5"


class NotExportableError(TeachableError):
    """This model cannot be written in the requested format (say how to get one that can)."""

    http_status = 422


class _Builder:
    """Appends layers and their weights, tracking the current tensor and its spatial size."""

    def __init__(self) -> None:
        self.nodes: list[Node] = [Node("image", "InputLayer", {
            "batch_input_shape": [None, INPUT_SIZE, INPUT_SIZE, 3], "dtype": "float32", "sparse": False})]
        self.weights: list[tuple[str, np.ndarray]] = []
        self.current = "image"
        self.size = INPUT_SIZE

    def add(self, name: str, class_name: str, config: dict, inputs: list[str] | None = None, **arrays) -> str:
        self.nodes.append(Node(name, class_name, config, inputs or [self.current]))
        for param, array in arrays.items():
            self.weights.append((f"{name}/{param}", array))
        self.current = name
        return name

    def conv(self, name: str, folded: tuple[np.ndarray, np.ndarray], stride: int, depthwise: bool, relu: bool) -> str:
        """A convolution with its batch norm folded in (backbone_graph.fold), as Keras layers."""
        weight, bias = folded
        kernel = weight.shape[-1]
        padding = "valid"
        if kernel > 1:
            before, after = same_pads(self.size, kernel, stride)
            if before == after:
                padding = "same"
            else:
                self.add(f"{name}_pad", "ZeroPadding2D", {"padding": [[before, after], [before, after]], "data_format": "channels_last"})
        common = {"kernel_size": [kernel, kernel], "strides": [stride, stride], "padding": padding,
                  "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear", "use_bias": True}
        if depthwise:  # PyTorch layout [C, 1, k, k] -> Keras [k, k, C, 1]
            self.add(name, "DepthwiseConv2D", {**common, "depth_multiplier": 1},
                     depthwise_kernel=weight.transpose(2, 3, 0, 1), bias=bias)
        else:  # PyTorch layout [out, in, k, k] -> Keras [k, k, in, out]
            self.add(name, "Conv2D", {**common, "filters": int(weight.shape[0])}, kernel=weight.transpose(2, 3, 1, 0), bias=bias)
        self.size = -(-self.size // stride)
        if relu:
            self.add(f"{name}_relu", "ReLU", {"max_value": 6})
        return self.current


def _backbone(builder: _Builder, stem_scale: float = TM_SCALE / INPUT_STD) -> None:
    """EfficientNet-Lite0 as layers; ``stem_scale``: what the input is multiplied by to be ours.
    The weights are read from the weights package without PyTorch (backbone_graph.read_state)."""
    from ..embed.backbone_graph import STAGES, fold, read_state
    from ..embed.spec import weights_path

    state = read_state(weights_path())
    # Both scalings are zero at 127, so one factor on the stem kernel turns ours into TM's, padding included.
    assert INPUT_MEAN == TM_SCALE
    builder.conv("stem_conv", fold(state, "_conv_stem", "_bn0", stem_scale), 2, False, relu=True)
    index, cin = 0, 32
    for repeats, kernel, first_stride, expand, cout in STAGES:
        for repeat in range(repeats):
            stride, name, block_input = (first_stride if repeat == 0 else 1), f"_blocks.{index}", builder.current
            if expand != 1:
                builder.conv(f"block{index}_expand", fold(state, f"{name}._expand_conv", f"{name}._bn0"), 1, False, relu=True)
            builder.conv(f"block{index}_depthwise", fold(state, f"{name}._depthwise_conv", f"{name}._bn1"), stride, True,
                         relu=True)
            builder.conv(f"block{index}_project", fold(state, f"{name}._project_conv", f"{name}._bn2"), 1, False, relu=False)
            if stride == 1 and cin == cout:
                builder.add(f"block{index}_add", "Add", {}, [block_input, builder.current])
            index, cin = index + 1, cout
    builder.conv("top_conv", fold(state, "_conv_head", "_bn1"), 1, False, relu=True)
    builder.add("avg_pool", "GlobalAveragePooling2D", {"data_format": "channels_last"})


def _head(builder: _Builder, head: HeadClassifier) -> None:
    w = head.weights
    if head.input_norm != "none":
        raise NotExportableError("This model's head normalises its input, which TensorFlow.js layers cannot express; train again to export it.")
    b1 = w["b1"] - (head.center @ w["w1"] if head.center is not None else 0.0)
    builder.add("dense_hidden", "Dense", {"units": int(w["w1"].shape[1]), "activation": "relu", "use_bias": True},
                kernel=w["w1"], bias=b1.astype(np.float32))
    builder.add("probabilities", "Dense", {"units": int(w["w2"].shape[1]), "activation": "softmax", "use_bias": True},
                kernel=w["w2"], bias=w["b2"])


def check_exportable(model: Model, format_name: str = "TensorFlow.js") -> None:
    """Raise :class:`NotExportableError` with what to do when ``model`` has no layers form
    (TensorFlow.js, Keras)."""
    if get_kind(model.kind).export_input != "image":
        raise NotExportableError(f"{format_name} export is for image models; export {model.kind} models as ONNX.")
    if not isinstance(model.classifier, HeadClassifier):
        raise NotExportableError(
            f"{format_name} export needs a model trained with the trained head: a kNN model's vote cannot be "
            f"written as {format_name} layers. Train again with the classifier set to 'head' "
            "(the web app's Trained head, or --classifier head), then export."
        )


def tfjs_graph(model: Model) -> tuple[Graph, list[tuple[str, np.ndarray]]]:
    """The whole pipeline as a flat layer graph and its named float32 weights."""
    check_exportable(model)
    builder = _Builder()
    _backbone(builder)
    _head(builder, model.classifier)
    return Graph(builder.nodes, builder.current), builder.weights


def tm_metadata(model: Model, model_name: str) -> dict:
    """``metadata.json`` with every field Teachable Machine writes; Teachable's own facts under ``teachable``."""
    created = model.created or datetime.now(timezone.utc).isoformat()
    try:
        stamp = datetime.fromisoformat(created).astimezone(timezone.utc)
    except ValueError:
        stamp = datetime.now(timezone.utc)
    meta = model.metadata()
    return {
        "tfjsVersion": TFJS_VERSION,
        "tmVersion": TM_VERSION,
        "packageVersion": TM_PACKAGE_VERSION,
        "packageName": "@teachablemachine/image",
        "timeStamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "userMetadata": {},
        "modelName": model_name,
        "labels": list(model.labels),
        "imageSize": INPUT_SIZE,
        "teachable": {
            "version": __version__,
            "kind": model.kind,
            "backbone": meta["backbone"]["id"],
            "classifier": meta["classifier"],
            "created": meta["created"],
            "input": {"layout": "NHWC", "size": INPUT_SIZE, "scaling": "x / 127 - 1",
                      "recipe": "centre square, resized to 224x224, RGB"},
        },
    }


def tfjs_files(model: Model, model_name: str = "teachable-image-model") -> dict[str, bytes]:
    """``model.json``, ``weights.bin`` and ``metadata.json``, as Teachable Machine's download has them."""
    graph, weights = tfjs_graph(model)
    document, data = model_json(graph, weights, "teachable_model", f"Teachable {__version__}")
    return {
        "model.json": json.dumps(document, separators=(",", ":")).encode(),
        "weights.bin": data,
        "metadata.json": json.dumps(tm_metadata(model, model_name), indent=2, ensure_ascii=False).encode(),
    }


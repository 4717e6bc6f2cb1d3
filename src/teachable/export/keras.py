"""Keras export of image models, shaped like Teachable Machine's "Tensorflow → Keras" download:
``keras_model.h5`` + ``labels.txt`` ("0 name" lines), for its most copied Python snippet::

    model = load_model("keras_model.h5", compile=False)
    class_names = open("labels.txt").readlines()
    data[0] = (image_array.astype(np.float32) / 127.5) - 1   # 224x224 RGB
    prediction = model.predict(data)

The network is the TensorFlow.js export's flat graph (tfjs.py: BatchNorms folded, explicit padding,
the head as two Dense layers) with one layer in front: ``Rescaling`` turns the snippet's
``x / 127.5 - 1`` into EfficientNet-Lite's ``(x - 127) / 128`` exactly, so the stem sees what it
sees in Teachable (the border's zero padding included). Every layer is one that Keras 2 (tf.keras,
TensorFlow 2.x) and Keras 3 both build from its config — no ``groups`` in DepthwiseConv2D, the
argument that keeps Teachable Machine's own files out of Keras 3 — written by h5py in the legacy
HDF5 layout both read (``model_config`` plus ``model_weights/<layer>/<layer>/<weight>:0``).
Teachable never imports TensorFlow or Keras to write it; the tests load it in both.
"""

from __future__ import annotations

import io
import json

import numpy as np

from ..embed.spec import INPUT_MEAN, INPUT_STD
from ..model import Model
from ..tm.layers import Graph
from .tfjs import _backbone, _Builder, _head, check_exportable

KERAS_SCALE = 127.5  # the snippet feeds x / 127.5 - 1
KERAS_VERSION = "2.15.0"  # the layout written: Keras 2's HDF5, which Keras 3 also reads
H5_FILE, LABELS_FILE = "keras_model.h5", "labels.txt"


def keras_graph(model: Model) -> tuple[Graph, list[tuple[str, np.ndarray]]]:
    """The whole pipeline for ``x / 127.5 - 1`` input, as a flat layer graph and its weights."""
    check_exportable(model, "Keras")
    builder = _Builder()
    # (x - 127) / 128 = (127.5 / 128) * (x / 127.5 - 1) + (127.5 - 127) / 128
    builder.add("input_scaling", "Rescaling", {"scale": KERAS_SCALE / INPUT_STD,
                                               "offset": (KERAS_SCALE - INPUT_MEAN) / INPUT_STD})
    _backbone(builder, stem_scale=1.0)
    _head(builder, model.classifier)
    return Graph(builder.nodes, builder.current), builder.weights


def keras_config(graph: Graph, name: str) -> dict:
    """The functional model's config, as Keras writes it into ``model_config``."""
    topology = graph.to_topology(name)
    for layer in topology["config"]["layers"]:
        layer["config"]["dtype"] = "float32"
        if layer["class_name"] == "InputLayer":
            layer["config"]["name"] = layer["name"]
    return {"class_name": "Functional", "config": topology["config"]}


def keras_h5(model: Model, name: str = "teachable_model") -> bytes:
    """``keras_model.h5``: Keras's legacy HDF5 model file (config and weights; no optimizer)."""
    import h5py

    graph, weights = keras_graph(model)
    by_layer: dict[str, list[tuple[str, np.ndarray]]] = {}
    for full_name, array in weights:
        layer, param = full_name.split("/", 1)
        by_layer.setdefault(layer, []).append((f"{layer}/{param}:0", np.asarray(array, np.float32)))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(keras_config(graph, name))
        group = f.create_group("model_weights")
        group.attrs["keras_version"] = KERAS_VERSION
        group.attrs["backend"] = "tensorflow"
        group.attrs["layer_names"] = np.array([node.name.encode() for node in graph.nodes])
        for node in graph.nodes:
            layer = group.create_group(node.name)
            named = by_layer.get(node.name, [])
            layer.attrs["weight_names"] = np.array([weight_name.encode() for weight_name, _ in named])
            for weight_name, array in named:
                layer.create_dataset(weight_name, data=array)
    return buffer.getvalue()


def keras_files(model: Model) -> dict[str, bytes]:
    """``keras_model.h5`` and ``labels.txt``, as Teachable Machine's Keras download has them."""
    return {H5_FILE: keras_h5(model), LABELS_FILE: "".join(f"{i} {label}\n" for i, label in enumerate(model.labels)).encode()}

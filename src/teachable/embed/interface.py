"""What every backbone offers, and the ``embed_many`` most of them use: chunks of samples through
``embed_frames``, the answers gathered in order."""

from __future__ import annotations

import threading
from typing import Callable, Iterable

import numpy as np

from ..errors import InvalidImageError
from .queue import LIVE, REQUEST, InferenceQueue

ProgressCallback = Callable[[int], None]
ErrorCallback = Callable[[int, Exception], None]


def chunks(items: Iterable, size: int) -> Iterable[list]:
    """``items`` in lists of ``size`` (the last one shorter), read as they are needed."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= max(1, size):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def gather(batches: Iterable[list], dim: int, on_progress: ProgressCallback | None = None,
           on_error: ErrorCallback | None = None) -> tuple[np.ndarray, list[int]]:
    """(embeddings, positions) from batches of answers (an embedding or the InvalidImageError of
    each source, in order): what every batched ``embed_many`` returns. An error goes to
    ``on_error(position, error)``, or raises without it; ``on_progress`` hears every batch."""
    vectors: list[np.ndarray] = []
    kept: list[int] = []
    position = 0
    for results in batches:
        for offset, result in enumerate(results):
            if isinstance(result, InvalidImageError):
                if on_error is None:
                    raise result
                on_error(position + offset, result)
            else:
                vectors.append(result)
                kept.append(position + offset)
        position += len(results)
        if on_progress:
            on_progress(len(results))
    embeddings = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    return embeddings, kept


class Backbone:
    """A backbone turns samples into embeddings. Subclasses give ``id``, ``dim`` and
    ``embed_one``; the image backbone replaces ``embed_many`` with batches on every core (or a
    GPU)."""

    id: str = ""
    dim: int = 0
    # Live frames (and REST predictions) per network call when they come from many streams.
    queue_batch: int = 8
    _queue: InferenceQueue | None = None
    _queue_lock = threading.Lock()

    def embed_one(self, source) -> np.ndarray:
        raise NotImplementedError

    def embed_many(self, sources: Iterable, batch_size: int = 32, on_progress: ProgressCallback | None = None,
                   on_error: ErrorCallback | None = None) -> tuple[np.ndarray, list[int]]:
        """(embeddings, positions they belong to). A sample that cannot be read (any
        InvalidImageError, invalid sounds and nobody-in-the-picture included) goes to
        ``on_error``, or raises without it; ``on_progress`` hears every ``batch_size`` samples.
        Each chunk goes through ``embed_frames`` (one sample at a time here; a backbone that runs
        elsewhere sends the chunk at once)."""
        batches = (self.embed_frames(chunk, REQUEST) for chunk in chunks(sources, batch_size))
        return gather(batches, self.dim, on_progress, on_error)

    def embed_frames(self, sources: list, priority: int = LIVE) -> list:
        """The embedding of each source, or the InvalidImageError that says why it has none
        (what the inference queue runs; a backbone that gains from batches replaces it)."""
        results: list = []
        for source in sources:
            try:
                results.append(self.embed_one(source))
            except InvalidImageError as exc:
                results.append(exc)
        return results

    @property
    def queue(self) -> InferenceQueue:
        """The one inference queue of this backbone: live streams and REST predictions share it."""
        with self._queue_lock:
            if self._queue is None:
                self._queue = InferenceQueue(self.embed_frames, self.queue_batch, name=f"teachable-queue-{self.id}")
            return self._queue

    def embed(self, sources: Iterable, batch_size: int = 32, on_progress: ProgressCallback | None = None) -> np.ndarray:
        """Embeddings (N x dim, float32); the first unreadable sample raises its error."""
        return self.embed_many(sources, batch_size, on_progress)[0]

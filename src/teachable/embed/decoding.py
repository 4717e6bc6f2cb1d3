"""Decoding photos in worker processes, so a GPU is fed faster than one Python process could.

A GPU embeds EfficientNet-Lite0 inputs by the thousand per second; decoding a JPEG, cropping
and resizing it costs a CPU core a few milliseconds. The pool spreads that work over worker
processes (no GIL between them) and keeps several batches in flight, so the next batch is
being decoded while the GPU runs the current one. Workers return 224x224x3 uint8 pixels
(150 KB each, a quarter of the float input); scaling to the network's range happens on the GPU.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator

import numpy as np

from ..errors import InvalidImageError
from .preprocess import ImageInput, pixels


def pixels_or_error(source: ImageInput) -> np.ndarray | InvalidImageError:
    """The picture's uint8 pixels, or the error that says why it cannot be read."""
    try:
        return pixels(source)
    except InvalidImageError as exc:
        return exc


def _pixels_or_errors(sources: list[ImageInput]) -> list[np.ndarray | InvalidImageError]:
    """Runs in a worker: one piece of a batch; errors go back to the parent to report or raise."""
    return [pixels_or_error(source) for source in sources]


def default_workers() -> int:
    """Every core but one (the one that drives the GPU and the project file), at least one."""
    return max(1, min((os.cpu_count() or 2) - 1, 32))


class DecodePool:
    """Worker processes that turn batches of image sources into uint8 pixels, in order."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        # spawn, not fork: the parent holds CUDA state and threads that must not be copied.
        context = multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(self.workers, mp_context=context)

    def decode(
        self, batches: Iterable[list[ImageInput]], depth: int = 3
    ) -> Iterator[tuple[list[ImageInput], list[np.ndarray | InvalidImageError]]]:
        """(batch, pixels or error per source), batch by batch, with ``depth`` batches in flight."""
        pending: deque[tuple[list[ImageInput], list[Future]]] = deque()
        for batch in batches:
            pending.append((batch, self._submit(batch)))
            if len(pending) >= max(1, depth):
                yield self._collect(*pending.popleft())
        while pending:
            yield self._collect(*pending.popleft())

    def _submit(self, batch: list[ImageInput]) -> list[Future]:
        # A few pieces per worker: big enough that pickling overhead stays small, small
        # enough that every worker gets a share of each batch.
        piece = max(1, -(-len(batch) // (self.workers * 2)))
        return [self._executor.submit(_pixels_or_errors, batch[i : i + piece]) for i in range(0, len(batch), piece)]

    @staticmethod
    def _collect(batch: list[ImageInput], futures: list[Future]) -> tuple[list, list]:
        results: list[np.ndarray | InvalidImageError] = []
        for future in futures:
            results.extend(future.result())
        return batch, results

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

"""One inference queue per backbone, and one network at a time: how a classroom shares two cores.

A live preview sends a frame, waits for its answer, sends the next. Thirty of them, each run on
its own, put thirty single pictures through the network one after another; the network is much
faster per picture in batches (docs/benchmarks.md, "A classroom on one laptop"). So every stream's
frame goes into one queue, and a worker thread takes up to ``max_batch`` of them at a time:

- **fair**: each stream (``key``) holds at most one place; a newer frame from the same stream
  replaces the waiting one in its place (newest wins, and a stream sending 30 frames a second
  takes no more of a batch than one sending 5);
- **live first**: requests of a lower priority (REST predictions) run when no live frame waits,
  or once one has waited ``patience`` seconds, so they are slowed, never starved.

``NetworkGate`` does the same for bulk work outside the queue (embedding uploads, training): it
takes the network in small batches and lets any waiting live batch go first.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Callable, Hashable

LIVE, REQUEST = 0, 1
PRIORITIES = (LIVE, REQUEST)


class Superseded(Exception):
    """A newer frame from the same stream took this one's place before it ran."""


class InferenceQueue:
    """Batches items from many streams for one ``process(items, priority) -> results`` function;
    a result that is an exception is raised to the item's caller."""

    def __init__(self, process: Callable[[list[Any], int], list[Any]], max_batch: int = 16,
                 patience: float = 0.5, name: str = "teachable-inference") -> None:
        self.process = process
        self.max_batch = max(1, max_batch)
        self.patience = patience
        self.batches = 0  # how many batches ran (for tests and benchmarks)
        self.largest_batch = 0
        self._waiting: dict[int, dict[Hashable, tuple[Any, Future, float]]] = {p: {} for p in PRIORITIES}
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any, key: Hashable | None = None, priority: int = LIVE) -> Future:
        """A future for ``item``'s result. With a ``key`` (a stream), an item of that key still
        waiting is replaced, keeping its place, and its future fails with ``Superseded``."""
        future: Future = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the inference queue is closed")
            waiting = self._waiting[priority]
            key = key if key is not None else object()
            previous = waiting.get(key)
            # Assigning to a key already there keeps its position in the dict: its place in line.
            waiting[key] = (item, future, previous[2] if previous else time.monotonic())
            self._changed.notify()
        if previous is not None:
            previous[1].set_exception(Superseded())
        return future

    def _take(self) -> tuple[int, list[tuple[Any, Future, float]]] | None:
        with self._changed:
            self._changed.wait_for(lambda: self._closed or any(self._waiting.values()))
            if self._closed:
                return None
            live, requests = self._waiting[LIVE], self._waiting[REQUEST]
            overdue = requests and time.monotonic() - next(iter(requests.values()))[2] >= self.patience
            priority = LIVE if live and not overdue else REQUEST
            waiting = self._waiting[priority]
            keys = list(waiting)[: self.max_batch]
            return priority, [waiting.pop(key) for key in keys]

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            priority, entries = taken
            entries = [e for e in entries if e[1].set_running_or_notify_cancel()]
            if not entries:
                continue
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(entries))
            try:
                results = self.process([item for item, _, _ in entries], priority)
            except Exception as exc:  # the whole batch failed: each caller hears why
                results = [exc] * len(entries)
            for (_, future, _), result in zip(entries, results):
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            pending = [entry for waiting in self._waiting.values() for entry in waiting.values()]
            for waiting in self._waiting.values():
                waiting.clear()
            self._changed.notify_all()
        for _, future, _ in pending:
            future.cancel()


class NetworkGate:
    """One network call at a time (each already uses every core); a live call waiting goes before
    any bulk one."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._live_waiting = 0

    @contextmanager
    def hold(self, live: bool = False):
        with self._changed:
            self._live_waiting += live
            self._changed.wait_for(lambda: not self._busy and (live or self._live_waiting == 0))
            self._live_waiting -= live
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()

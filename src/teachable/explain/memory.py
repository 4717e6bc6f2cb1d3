"""What a model remembers of the samples it learnt from, so a prediction can say which of them it
resembles most: each sample's embedding (centred where the kind centres them, L2-normalised,
then int8 with one scale per row: 1,284 bytes for a photo), its class and where it came from.

Cosine similarity through int8 differs from float32 by at most ~0.01 (tested), far below what
tells two samples apart; the nearest sample of a training photo is that photo, similarity ≈ 1.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from ..classify.knn import CHUNK, l2_normalise

DEFAULT_NEIGHBOURS = 3
# Up to this many examples a float32 copy is kept (at most 100 MB for photos) rather than
# converting the int8 codes on every prediction.
FLOAT_COPY_MAX = 20_000
MAX_NEIGHBOURS = 20
MAX_SOURCE_CHARS = 300
SAMPLE_SOURCE = re.compile(r"^sample:(\d{1,18})$")


@dataclass(frozen=True)
class Neighbour:
    """One training sample a prediction resembles: its class, cosine similarity and source
    (``sample:<id>`` in a project; a path relative to the training folder for ``teachable train``)."""

    label: str
    similarity: float
    source: str

    @property
    def sample_id(self) -> int | None:
        return sample_id_of(self.source)

    def to_dict(self) -> dict:
        out = {"label": self.label, "similarity": round(self.similarity, 4), "source": self.source}
        if self.sample_id is not None:
            out["sample_id"] = self.sample_id
        return out


def sample_source(sample_id: int) -> str:
    return f"sample:{int(sample_id)}"


def sample_id_of(source: str | None) -> int | None:
    """The project sample a source names (``sample:12`` -> 12), or None for a file path."""
    match = SAMPLE_SOURCE.match(source or "")
    return int(match.group(1)) if match else None


class ExampleMemory:
    """Quantised embeddings with classes and sources; ``nearest`` finds the most similar."""

    def __init__(self, codes: np.ndarray, scales: np.ndarray, labels: np.ndarray, sources: list[str],
                 center: np.ndarray | None = None, weights: np.ndarray | None = None) -> None:
        self.codes = np.ascontiguousarray(codes, np.int8)
        self.scales = np.asarray(scales, np.float32)
        self.labels = np.asarray(labels, np.int64)
        self.sources = [str(s)[:MAX_SOURCE_CHARS] for s in sources]
        self.center = None if center is None else np.asarray(center, np.float32)
        self.weights = None if weights is None else np.asarray(weights, np.float32)  # per number, after centring
        if not (len(self.codes) == len(self.scales) == len(self.labels) == len(self.sources)):
            raise ValueError("explanation examples, scales, labels and sources differ in number")
        self._floats: np.ndarray | None = None

    @classmethod
    def from_embeddings(cls, embeddings: np.ndarray, labels: np.ndarray, sources: list[str],
                        centre: bool = False, weights: np.ndarray | None = None) -> "ExampleMemory":
        """``weights``: the classifiers' per-number scale after centring (sound: the backbones' mix)."""
        embeddings = np.atleast_2d(np.asarray(embeddings, np.float32))
        center = embeddings.mean(axis=0) if centre and len(embeddings) else None
        memory = cls(np.zeros((0, embeddings.shape[1]), np.int8), np.zeros(0, np.float32), np.zeros(0, np.int64), [],
                     center, weights)
        unit = memory.unit(embeddings)
        peak = np.maximum(np.abs(unit).max(axis=1, keepdims=True), 1e-12)
        codes = np.round(unit / peak * 127).astype(np.int8)
        return cls(codes, (peak[:, 0] / 127).astype(np.float32), labels, sources, center, weights)

    def __len__(self) -> int:
        return len(self.labels)

    def unit(self, embeddings: np.ndarray) -> np.ndarray:
        """Queries as the memory compares them: centred like the examples, unit length."""
        x = np.atleast_2d(np.asarray(embeddings, np.float32))
        x = x - self.center if self.center is not None else x
        return l2_normalise(x * self.weights if self.weights is not None else x)

    def vectors(self) -> np.ndarray:
        """The examples back as float32 (kept once made: every prediction reuses them)."""
        if self._floats is None:
            self._floats = self.codes.astype(np.float32) * self.scales[:, None]
        return self._floats

    def nearest(self, embeddings: np.ndarray, k: int = DEFAULT_NEIGHBOURS) -> list[list[tuple[int, float]]]:
        """For each query, the k most similar examples as (position, cosine similarity), best first."""
        if not len(self):
            return [[] for _ in range(len(np.atleast_2d(embeddings)))]
        queries = self.unit(embeddings)
        k = max(1, min(int(k), MAX_NEIGHBOURS, len(self)))
        best_sim = np.full((len(queries), 0), -np.inf, np.float32)
        best_idx = np.zeros((len(queries), 0), np.int64)
        kept = self.vectors() if len(self) <= FLOAT_COPY_MAX else None  # small memories: float once, reused
        for start in range(0, len(self), CHUNK):
            block = kept[start:start + CHUNK] if kept is not None else (
                self.codes[start:start + CHUNK].astype(np.float32) * self.scales[start:start + CHUNK, None])
            sims = queries @ block.T
            kk = min(k, sims.shape[1])
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            best_sim = np.concatenate([best_sim, np.take_along_axis(sims, part, axis=1)], axis=1)
            best_idx = np.concatenate([best_idx, part + start], axis=1)
        order = np.argsort(-best_sim, axis=1, kind="stable")[:, :k]
        best_idx, best_sim = np.take_along_axis(best_idx, order, axis=1), np.take_along_axis(best_sim, order, axis=1)
        return [[(int(i), float(min(s, 1.0))) for i, s in zip(row_i, row_s)] for row_i, row_s in zip(best_idx, best_sim)]

    def neighbours(self, embeddings: np.ndarray, names: list[str], k: int = DEFAULT_NEIGHBOURS) -> list[list[Neighbour]]:
        return [[Neighbour(names[int(self.labels[i])], s, self.sources[i]) for i, s in row]
                for row in self.nearest(embeddings, k)]

    # -- in a model file ----------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        state = {"explain_codes": self.codes, "explain_scales": self.scales, "explain_labels": self.labels,
                 "explain_sources": np.frombuffer(json.dumps(self.sources, ensure_ascii=False).encode(), np.uint8)}
        if self.center is not None:
            state["explain_center"] = self.center
        if self.weights is not None:
            state["explain_weights"] = self.weights
        return state

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], num_classes: int, dim: int) -> "ExampleMemory":
        sources = json.loads(bytes(arrays["explain_sources"]).decode("utf-8"))
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ValueError("explanation sources are not a list of text")
        memory = cls(arrays["explain_codes"], arrays["explain_scales"], arrays["explain_labels"], sources,
                     arrays.get("explain_center"), arrays.get("explain_weights"))
        if memory.codes.ndim != 2 or (len(memory) and memory.codes.shape[1] != dim):
            raise ValueError("explanation examples have the wrong size")
        if len(memory) and (memory.labels.min() < 0 or memory.labels.max() >= num_classes):
            raise ValueError("explanation labels out of range")
        if (not np.isfinite(memory.scales).all() or (memory.center is not None and memory.center.shape != (dim,))
                or (memory.weights is not None and (memory.weights.shape != (dim,) or not np.isfinite(memory.weights).all()))):
            raise ValueError("explanation scales or centre invalid")
        return memory

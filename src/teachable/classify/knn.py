"""Cosine k-nearest-neighbours: Teachable Machine's instant classifier, no training step.

Examples are stored L2-normalised, so the cosine similarity of a query to every example is
one matrix product. The k most similar examples vote, each with weight
exp((similarity - best similarity) / temperature): the nearest counts 1, one 0.02 less
similar counts 0.37. The class with the largest vote wins (exact ties: the class whose voters
are more similar in sum); confidences are the vote shares. On real photos and hand gestures
this beat equal votes at every training-set size measured (docs/benchmarks.md, "Defaults").
Models saved before weighting existed load with temperature 0: equal votes, as trained.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import NotEnoughClassesError, TeachableError

DEFAULT_K = 5
# Votes weighted by exp((sim - best) / DEFAULT_TEMPERATURE); 0 means one equal vote each.
DEFAULT_TEMPERATURE = 0.02
# Vote shares this close count as a tie (float rounding), broken by summed similarity.
TIE = 1e-6
# Similarities are computed in chunks of this many examples, so memory stays bounded
# however many examples there are.
CHUNK = 65_536
# From this many examples on, a few queries at a time go through the int8 index first
# (int8_search.py): the same answer, a quarter of the memory read per query.
INDEX_MIN_EXAMPLES = 20_000
INDEX_MAX_QUERIES = 8
# Where the bounds cannot separate the examples (vectors unlike real embeddings), the index
# only adds work: after this many misses in a row it is tried again only every RETRY queries.
INDEX_MISSES_TO_PAUSE = 4
INDEX_RETRY = 64


def check_scale(state: dict[str, np.ndarray], dim: int | None) -> np.ndarray | None:
    """A stored per-number scale (None when there is none), checked against ``dim``."""
    if "scale" not in state:
        return None
    scale = np.asarray(state["scale"], np.float32)
    if scale.ndim != 1 or (dim is not None and scale.shape != (dim,)) or not np.isfinite(scale).all():
        raise ValueError("the classifier's scale has the wrong shape or invalid values")
    return scale


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class KNNClassifier:
    """Holds normalised examples with their class indices; predicts by top-k vote."""

    kind = "knn"

    def __init__(self, num_classes: int, k: int = DEFAULT_K, dim: int | None = None,
                 centre: bool = False, temperature: float = DEFAULT_TEMPERATURE, scale: np.ndarray | None = None) -> None:
        if k < 1:
            raise TeachableError("k must be at least 1.")
        if not (np.isfinite(temperature) and temperature >= 0):
            raise TeachableError("The kNN temperature must be 0 (equal votes) or more.")
        self.num_classes = num_classes
        self.k = int(k)
        self.temperature = float(temperature)
        # With ``centre``, fit learns the mean subtracted from every embedding first (sound
        # embeddings share a large common part).
        self.centre = centre
        self.center: np.ndarray | None = None
        # Given, not learnt: a weight per number applied after centring (two backbones' blocks, classify/blocks.py).
        self.scale = None if scale is None else np.asarray(scale, np.float32)
        self.examples = np.zeros((0, dim or 0), np.float32)
        self.labels = np.zeros(0, np.int64)
        self._index = None  # (examples it is for, Int8Index or None until built, Event set when done)
        self._index_lock = threading.Lock()
        self._index_misses = 0

    # -- examples -----------------------------------------------------------------------------
    def add(self, embeddings: np.ndarray, labels: np.ndarray | list[int]) -> None:
        """Add examples; no training step, the next prediction uses them."""
        embeddings = self._normalise(embeddings)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(embeddings) != len(labels):
            raise TeachableError("There must be one label per example.")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise TeachableError("A label is outside the classifier's classes.")
        if self.examples.shape[0] == 0:
            self.examples = embeddings.copy()
        else:
            self.examples = np.concatenate([self.examples, embeddings])
        self.labels = np.concatenate([self.labels, labels])

    def _normalise(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(embeddings, np.float32))
        x = x - self.center if self.center is not None else x
        return l2_normalise(x * self.scale if self.scale is not None else x)

    def as_queries(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings as the examples are compared with them (centred if fitted so, unit length)."""
        return self._normalise(embeddings)

    def remove(self, indices: list[int] | np.ndarray) -> None:
        """Forget the examples at these positions."""
        keep = np.ones(len(self.labels), bool)
        keep[np.asarray(indices, dtype=np.int64)] = False
        self.examples, self.labels = self.examples[keep], self.labels[keep]

    def fit(self, embeddings: np.ndarray, labels: np.ndarray | list[int]) -> "KNNClassifier":
        """Keep these examples (and learn the centre, if asked to); returns the classifier."""
        self.center = np.asarray(embeddings, np.float32).mean(axis=0) if self.centre else None
        self.examples = np.zeros((0, np.atleast_2d(embeddings).shape[-1]), np.float32)
        self.labels = np.zeros(0, np.int64)
        self.add(embeddings, labels)
        present = np.unique(self.labels)
        if len(present) < 2:
            raise NotEnoughClassesError("kNN needs examples of at least two classes.")
        self.prepare_index(wait=False)  # ready by the time the first frames arrive
        return self

    # -- prediction ---------------------------------------------------------------------------
    def prepare_index(self, wait: bool = True) -> None:
        """Build the int8 index for the current examples now (a few seconds at 100,000) rather
        than in the background after the first query; ``wait=False`` starts it in the background."""
        examples = self.examples
        if len(examples) < INDEX_MIN_EXAMPLES:
            return
        with self._index_lock:
            current = self._index
            if current is None or current[0] is not examples:
                current = self._index = (examples, None, threading.Event())
                self._index_misses = 0
                start = True
            else:
                start = False
        if start and wait:
            self._build_index(current)
        elif start:
            threading.Thread(target=self._build_index, args=(current,), name="teachable-knn-index", daemon=True).start()
        if wait:
            current[2].wait()

    def _build_index(self, entry: tuple) -> None:
        examples, _, done = entry
        index = None
        try:
            from .int8_search import Int8Index

            index = Int8Index(examples)
        except (ImportError, RuntimeError, AttributeError):  # no int8 kernel on this platform
            pass
        finally:
            with self._index_lock:
                if self._index is entry:
                    self._index = (examples, index, done)
            done.set()

    def _int8_index(self):
        """The int8 index of the current examples, or None while it is being built, where it
        does not pay, or where this platform has no int8 kernel. Queries never wait for it."""
        examples = self.examples
        if len(examples) < INDEX_MIN_EXAMPLES:
            return None
        self.prepare_index(wait=False)
        with self._index_lock:
            return self._index[1] if self._index is not None and self._index[0] is examples else None

    def _top_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and similarities of the k most similar examples for each query."""
        index = self._int8_index() if len(queries) <= INDEX_MAX_QUERIES else None
        paused = self._index_misses >= INDEX_MISSES_TO_PAUSE and self._index_misses % INDEX_RETRY != 0
        if index is not None and not paused:
            found = [index.top_k(q, k) for q in queries]
            if all(f is not None for f in found):
                self._index_misses = 0
                return np.stack([f[0] for f in found]), np.stack([f[1] for f in found])
        if index is not None:
            self._index_misses += 1
        return self._full_top_k(queries, k)

    def _full_top_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar examples by one matrix product with every example."""
        best_sim = np.full((len(queries), 0), -np.inf, np.float32)
        best_idx = np.zeros((len(queries), 0), np.int64)
        for start in range(0, len(self.examples), CHUNK):
            sims = queries @ self.examples[start : start + CHUNK].T
            kk = min(k, sims.shape[1])
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            best_sim = np.concatenate([best_sim, np.take_along_axis(sims, part, axis=1)], axis=1)
            best_idx = np.concatenate([best_idx, part + start], axis=1)
            if best_sim.shape[1] > k:
                keep = np.argpartition(-best_sim, k - 1, axis=1)[:, :k]
                best_sim = np.take_along_axis(best_sim, keep, axis=1)
                best_idx = np.take_along_axis(best_idx, keep, axis=1)
        return best_idx, best_sim

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Vote shares (N x classes); the argmax (with the similarity tie-break) is :meth:`predict`."""
        return self.votes(embeddings)[0]

    def votes(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vote shares, summed similarity of the voters) per class, each N x classes."""
        if len(self.labels) == 0:
            raise NotEnoughClassesError("The kNN classifier has no examples yet.")
        queries = self._normalise(embeddings)
        k = min(self.k, len(self.labels))
        idx, sims = self._top_k(queries, k)
        voter_labels = self.labels[idx]
        sims = sims.astype(np.float64)
        if self.temperature > 0:
            weights = np.exp((sims - sims.max(axis=1, keepdims=True)) / self.temperature)
        else:
            weights = np.ones_like(sims)
        counts = np.zeros((len(queries), self.num_classes), np.float64)
        sim_sums = np.zeros((len(queries), self.num_classes), np.float64)
        rows = np.repeat(np.arange(len(queries)), k)
        np.add.at(counts, (rows, voter_labels.ravel()), weights.ravel())
        np.add.at(sim_sums, (rows, voter_labels.ravel()), sims.ravel())
        return counts / weights.sum(axis=1, keepdims=True), sim_sums

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Winning class index per query: the largest vote, then the larger summed similarity."""
        return self.classify(embeddings)[0]

    def classify(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(winning class per query, vote shares) from one search over the examples."""
        shares, sim_sums = self.votes(embeddings)
        tied = shares >= shares.max(axis=1, keepdims=True) - TIE
        return np.argmax(np.where(tied, sim_sums, -np.inf), axis=1), shares

    # -- persistence --------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        return int(self.examples.shape[1])

    def state(self) -> dict[str, np.ndarray]:
        state = {"examples": self.examples.astype(np.float32), "labels": self.labels.astype(np.int64)}
        if self.center is not None:
            state["center"] = self.center
        if self.scale is not None:
            state["scale"] = self.scale
        return state

    def params(self) -> dict:
        return {"k": self.k, "temperature": self.temperature}

    @classmethod
    def from_state(cls, num_classes: int, params: dict, state: dict[str, np.ndarray]) -> "KNNClassifier":
        center = np.asarray(state["center"], np.float32) if "center" in state else None
        # A model saved before weighted votes has no temperature: it keeps its equal votes.
        model = cls(num_classes, k=int(params.get("k", DEFAULT_K)), centre=center is not None,
                    temperature=float(params.get("temperature", 0.0)), scale=check_scale(state, None))
        model.center = center
        examples = np.asarray(state["examples"], np.float32)
        labels = np.asarray(state["labels"], np.int64)
        if examples.ndim != 2 or labels.shape != (examples.shape[0],):
            raise ValueError("kNN examples and labels have inconsistent shapes")
        if labels.size == 0:
            raise ValueError("kNN has no examples")
        if not np.isfinite(examples).all():
            raise ValueError("kNN examples contain NaN or infinity")
        if center is not None and (center.shape != (examples.shape[1],) or not np.isfinite(center).all()):
            raise ValueError("kNN centre has the wrong shape or invalid values")
        check_scale(state, examples.shape[1])
        model.examples, model.labels = examples, labels
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError("kNN labels out of range")
        model.prepare_index(wait=False)
        return model

"""The trained head: dense(100, ReLU) -> dense(classes, softmax) on frozen embeddings, Adam.

This is Teachable Machine's classifier (and the Alpha ML paper's). Training is seeded and
reproducible; classes with fewer samples weigh more in the loss, so a big class does not
drown a small one. Training and inference are plain NumPy: no deep-learning framework.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..embed.runtime import one_blas_thread
from ..errors import NotEnoughClassesError, TeachableError
from ..wording import counted
from .knn import check_scale, l2_normalise

HIDDEN_UNITS = 100
# One epoch at a time in this process: thirty heads trained at once in threads took 4.4 s of wall
# time against 1.6 s one after another (the threads fight over the cores); taking turns by the
# epoch keeps every training moving.
_EPOCH_TURN = threading.Lock()
DEFAULTS = {"epochs": 50, "batch_size": 16, "learning_rate": 0.001, "validation_split": 0.15, "seed": 0}


@dataclass(frozen=True)
class EpochStats:
    """What the per-epoch callback receives; validation fields are None when there is no split."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None

    def to_dict(self) -> dict:
        return asdict(self)


EpochCallback = Callable[[EpochStats], None]


@dataclass
class Split:
    """Indices of the training and validation examples, and why there is no validation if so."""

    train: np.ndarray
    validation: np.ndarray
    note: str | None = None


def smallest_splittable(fraction: float) -> int:
    """The fewest samples a class needs for ``fraction`` of it to be held out: at least one held
    out and one kept, as the split below rounds (4 at 15%)."""
    return next(n for n in range(2, 1_000_000) if 1 <= round(n * fraction) <= n - 1)


def stratified_split(labels: np.ndarray, fraction: float, seed: int, names: list[str] | None = None) -> Split:
    """Hold out ``fraction`` of each class; skip validation when any class is too small for it."""
    labels = np.asarray(labels)
    everything = np.arange(len(labels))
    if fraction <= 0:
        return Split(everything, np.zeros(0, np.int64), None)
    if fraction >= 1:
        raise TeachableError("validation_split must be below 1.")
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(len(members) * fraction))
        if n_val < 1 or len(members) - n_val < 1:
            name = names[cls] if names else str(cls)
            need = smallest_splittable(fraction)
            note = (
                f"No validation split: class '{name}' has {counted(len(members), 'sample')}; "
                f"each class needs at least {need} for a {fraction:.0%} split. All samples were used for training."
            )
            return Split(everything, np.zeros(0, np.int64), note)
        validation.append(members[:n_val])
        train.append(members[n_val:])
    return Split(np.sort(np.concatenate(train)), np.sort(np.concatenate(validation)), None)


class HeadClassifier:
    """A two-layer softmax classifier on embeddings.

    Like every classifier here: the constructor stores the hyperparameters, :meth:`fit` learns
    (the weights, and with ``centre`` the mean subtracted from every embedding) and returns the
    classifier; ``classify`` / ``predict`` use it; ``state`` / ``params`` / ``from_state``
    save and restore it.
    """

    kind = "head"

    def __init__(self, num_classes: int, epochs: int = DEFAULTS["epochs"], batch_size: int = DEFAULTS["batch_size"],
                 learning_rate: float = DEFAULTS["learning_rate"], seed: int = DEFAULTS["seed"],
                 input_norm: str = "none", centre: bool = False, scale: np.ndarray | None = None) -> None:
        if input_norm not in ("none", "l2"):
            raise TeachableError("input_norm must be 'none' or 'l2'.")
        if epochs < 1 or batch_size < 1 or not learning_rate > 0:
            raise TeachableError("epochs and batch_size must be at least 1 and learning_rate above 0.")
        self.num_classes = num_classes
        self.input_norm = input_norm
        self.centre = centre
        self.hyper = {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate), "seed": int(seed)}
        # Learned by fit: subtracted from every embedding first (sound embeddings share a large
        # common part), the weights, and the per-epoch history.
        self.center: np.ndarray | None = None
        # Given, not learnt: a weight per number applied after centring (two backbones' blocks, classify/blocks.py).
        self.scale = None if scale is None else np.asarray(scale, np.float32)
        self.weights: dict[str, np.ndarray] = {}
        self.history: list[EpochStats] = []

    def _inputs(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if self.center is not None:
            x = x - self.center
        if self.scale is not None:
            x = x * self.scale
        return l2_normalise(x) if self.input_norm == "l2" else x

    def fit(
        self,
        embeddings: np.ndarray,
        labels: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> "HeadClassifier":
        """Train from scratch; the per-epoch history is kept in ``history`` (and sent to ``on_epoch``).

        NumPy only (no deep-learning framework): PyTorch's initialisation (uniform in ±1/√fan_in),
        class-weighted cross-entropy, the gradients of dense-ReLU-dense written out, Adam with
        PyTorch's defaults. ``tests/test_head.py`` checks a step against PyTorch's autograd and Adam."""
        labels = np.asarray(labels, dtype=np.int64)
        if len(np.unique(labels)) < 2:
            raise NotEnoughClassesError("Training needs samples in at least two classes.")
        epochs, batch_size, learning_rate, seed = (self.hyper[k] for k in ("epochs", "batch_size", "learning_rate", "seed"))
        self.center = np.asarray(embeddings, np.float32).mean(axis=0) if self.centre else None

        rng = np.random.default_rng(seed)
        x = np.ascontiguousarray(self._inputs(embeddings), np.float32)
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.float64)
        class_weight = np.where(counts > 0, len(labels) / (np.maximum(counts, 1) * np.count_nonzero(counts)), 0.0)
        optimiser = Adam(initial_weights(x.shape[1], HIDDEN_UNITS, self.num_classes, rng), learning_rate)
        params = optimiser.params
        weight = class_weight.astype(np.float32)
        if validation is not None and len(validation[1]):
            vx = np.ascontiguousarray(self._inputs(validation[0]), np.float32)
            vy = np.asarray(validation[1], dtype=np.int64)
        else:
            vx = vy = None

        history: list[EpochStats] = []
        for epoch in range(1, epochs + 1):
            # One BLAS thread: the matrices are small, and idle BLAS threads spinning between them slowed
            # everything else (2.8 s against 2.0 s for 1,000 embeddings on 2 cores).
            with _EPOCH_TURN, one_blas_thread():
                history.append(_epoch(params, optimiser, weight, x, labels, vx, vy, batch_size, rng, epoch, epochs))
            if on_epoch:
                on_epoch(history[-1])

        w1, b1, w2, b2 = params
        self.weights = {"w1": w1.copy(), "b1": b1.copy(), "w2": w2.copy(), "b2": b2.copy()}
        self.history = history
        return self

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        if not self.weights:
            raise TeachableError("The head has not been trained.")
        w = self.weights
        hidden = np.maximum(self._inputs(embeddings) @ w["w1"] + w["b1"], 0.0)
        return hidden @ w["w2"] + w["b2"]

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        logits = self.logits(embeddings).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(embeddings), axis=1)

    def classify(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(winning class per input, probabilities)."""
        probabilities = self.predict_proba(embeddings)
        return np.argmax(probabilities, axis=1), probabilities

    # -- persistence --------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        return int(self.weights["w1"].shape[0])

    def state(self) -> dict[str, np.ndarray]:
        state = {name: value.astype(np.float32) for name, value in self.weights.items()}
        if self.center is not None:
            state["center"] = self.center
        if self.scale is not None:
            state["scale"] = self.scale
        return state

    def params(self) -> dict:
        return {**self.hyper, "hidden_units": HIDDEN_UNITS, "input_norm": self.input_norm}

    @classmethod
    def from_state(cls, num_classes: int, params: dict, state: dict[str, np.ndarray]) -> "HeadClassifier":
        center = np.asarray(state["center"], np.float32) if "center" in state else None
        model = cls(num_classes, input_norm=params.get("input_norm", "none"), centre=center is not None,
                    scale=check_scale(state, None))
        model.center = center
        model.hyper = {k: params[k] for k in ("epochs", "batch_size", "learning_rate", "seed") if k in params}
        weights = {name: np.asarray(state[name], np.float32) for name in ("w1", "b1", "w2", "b2")}
        w1, b1, w2, b2 = weights["w1"], weights["b1"], weights["w2"], weights["b2"]
        if not (w1.ndim == 2 and b1.shape == (w1.shape[1],) and w2.shape == (w1.shape[1], num_classes) and b2.shape == (num_classes,)):
            raise ValueError("head weights have inconsistent shapes")
        if not all(np.isfinite(v).all() for v in weights.values()):
            raise ValueError("head weights contain NaN or infinity")
        if center is not None and (center.shape != (w1.shape[0],) or not np.isfinite(center).all()):
            raise ValueError("head centre has the wrong shape or invalid values")
        check_scale(state, w1.shape[0])
        model.weights = weights
        return model


def initial_weights(inputs: int, hidden: int, classes: int, rng: np.random.Generator) -> list[np.ndarray]:
    """[w1 (inputs x hidden), b1, w2 (hidden x classes), b2], as PyTorch's nn.Linear starts them:
    uniform in ±1/√fan_in (weights and biases alike)."""
    first, second = 1 / np.sqrt(inputs), 1 / np.sqrt(hidden)
    return [rng.uniform(-first, first, (inputs, hidden)).astype(np.float32),
            rng.uniform(-first, first, hidden).astype(np.float32),
            rng.uniform(-second, second, (hidden, classes)).astype(np.float32),
            rng.uniform(-second, second, classes).astype(np.float32)]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _epoch(params, optimiser, weight, x, y, vx, vy, batch_size, rng, epoch, epochs) -> EpochStats:
    """One pass over the shuffled training data (class-weighted cross-entropy, the gradients of
    dense-ReLU-dense written out), then the validation measure.

    Per step only the unavoidable work runs; everything that can be done for the whole epoch at
    once is (the shuffle, targets, per-batch loss weights, the training loss and accuracy, from
    the logits each batch saw before its update).
    """
    w1, b1, w2, b2 = params
    n = len(y)
    order = rng.permutation(n)
    xs, ys = x[order], y[order]  # batches are then plain slices
    targets = np.eye(len(weight), dtype=np.float32)[ys]
    sample_weight = weight[ys]
    # Within each batch, sample weights normalised to sum to 1 (CrossEntropyLoss's weighted mean).
    batch_of = np.arange(n) // batch_size
    batch_total = np.bincount(batch_of, weights=sample_weight)
    shares = (sample_weight / batch_total[batch_of]).astype(np.float32)[:, None]
    seen_logits = np.empty((n, len(weight)), np.float32)
    for start in range(0, n, batch_size):
        end = start + batch_size
        xb = xs[start:end]
        hidden = np.maximum(xb @ w1 + b1, 0)
        logits = hidden @ w2 + b2
        seen_logits[start:end] = logits
        # d loss / d logits = w_y (softmax - onehot) / sum(w_y)
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        d = (probabilities - targets[start:end]) * shares[start:end]
        d_hidden = (d @ w2.T) * (hidden > 0)
        gw1, gb1, gw2, gb2 = optimiser.grads
        np.matmul(xb.T, d_hidden, out=gw1)
        d_hidden.sum(0, out=gb1)
        np.matmul(hidden.T, d, out=gw2)
        d.sum(0, out=gb2)
        optimiser.step()
    batch_size_of = np.minimum(batch_size, n - batch_of * batch_size)
    per_sample = -(_log_softmax(seen_logits) * targets).sum(1) * shares[:, 0]
    train_loss = float((per_sample * batch_size_of).sum()) / n
    train_acc = float((seen_logits.argmax(1) == ys).mean())
    val_loss = val_acc = None
    if vx is not None:
        v_logits = np.maximum(vx @ w1 + b1, 0) @ w2 + b2
        val_loss = float(-_log_softmax(v_logits)[np.arange(len(vy)), vy].mean())
        val_acc = float((v_logits.argmax(1) == vy).mean())
    return EpochStats(epoch, epochs, train_loss, train_acc, val_loss, val_acc)


class Adam:
    """Adam with PyTorch's defaults (betas 0.9/0.999, eps 1e-8), updating NumPy arrays in place.

    All parameters live in one flat buffer (``params`` are views of it) and so do their gradients
    (``grads``: the caller writes each step's into them), so a step is a dozen whole-buffer NumPy
    calls made in buffers allocated once (fresh 0.5 MB temporaries cost page faults: 1.8 ms a step
    instead of 0.3)."""

    def __init__(self, params: list[np.ndarray], learning_rate: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        sizes = [p.size for p in params]
        self.flat = np.concatenate([p.ravel() for p in params]).astype(np.float32)
        self.flat_grads = np.zeros_like(self.flat)
        ends = np.cumsum(sizes)
        self.params = [self.flat[e - n:e].reshape(p.shape) for p, n, e in zip(params, sizes, ends)]
        self.grads = [self.flat_grads[e - n:e].reshape(p.shape) for p, n, e in zip(params, sizes, ends)]
        self.learning_rate, self.beta1, self.beta2, self.eps = float(learning_rate), beta1, beta2, eps
        self.avg = np.zeros_like(self.flat)
        self.avg_sq = np.zeros_like(self.flat)
        self._work = np.empty_like(self.flat)
        self.steps = 0

    def step(self) -> None:
        """One update from what was written into ``self.grads``."""
        self.steps += 1
        g, m, v, work = self.flat_grads, self.avg, self.avg_sq, self._work
        root_correction2 = np.sqrt(1 - self.beta2 ** self.steps)
        size = self.learning_rate / (1 - self.beta1 ** self.steps) * root_correction2
        np.multiply(g, 1 - self.beta1, out=work)  # m = beta1 m + (1 - beta1) g
        m *= self.beta1
        m += work
        np.multiply(g, g, out=work)  # v = beta2 v + (1 - beta2) g²
        work *= 1 - self.beta2
        v *= self.beta2
        v += work
        # p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with sqrt(1 - beta2^t) moved over
        np.sqrt(v, out=work)
        work += self.eps * root_correction2
        np.divide(m, work, out=work)
        work *= size
        self.flat -= work

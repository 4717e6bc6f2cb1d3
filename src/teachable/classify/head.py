"""The trained head: dense(100, ReLU) -> dense(classes, softmax) on frozen embeddings, Adam.

This is Teachable Machine's classifier (and the Alpha ML paper's). Training is seeded and
reproducible; classes with fewer samples weigh more in the loss, so a big class does not
drown a small one. Inference is plain NumPy: no PyTorch needed to use a trained model.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..errors import NotEnoughClassesError, TeachableError
from ..wording import counted
from .knn import check_scale, l2_normalise

HIDDEN_UNITS = 100
# The matrices are small: past two threads, waking more threads costs more than they save.
TRAIN_THREADS = max(1, min(2, os.cpu_count() or 1))
# One epoch at a time in this process: thirty heads trained at once in threads took 4.4 s of wall
# time against 1.6 s one after another (the threads fight over the cores and torch's thread count,
# which is process-wide); taking turns by the epoch keeps every training moving.
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
        """Train from scratch; the per-epoch history is kept in ``history`` (and sent to ``on_epoch``)."""
        import torch
        from torch import nn

        labels = np.asarray(labels, dtype=np.int64)
        if len(np.unique(labels)) < 2:
            raise NotEnoughClassesError("Training needs samples in at least two classes.")
        epochs, batch_size, learning_rate, seed = (self.hyper[k] for k in ("epochs", "batch_size", "learning_rate", "seed"))
        self.center = np.asarray(embeddings, np.float32).mean(axis=0) if self.centre else None

        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(self._inputs(embeddings))
        y = torch.from_numpy(labels)
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.float64)
        class_weight = np.where(counts > 0, len(labels) / (np.maximum(counts, 1) * np.count_nonzero(counts)), 0.0)
        net = nn.Sequential(nn.Linear(x.shape[1], HIDDEN_UNITS), nn.ReLU(), nn.Linear(HIDDEN_UNITS, self.num_classes))
        params = [p.detach() for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias)]
        # Fused Adam, gradients written by hand, at most two threads: for a network this small
        # the per-step overhead of autograd, of the optimiser's bookkeeping and of many threads
        # dominates (measured 2x faster than nn + torch.optim.Adam(fused=True) on one thread).
        optimiser = FusedAdam(params, learning_rate)
        weight = torch.tensor(class_weight, dtype=torch.float32)
        if validation is not None and len(validation[1]):
            vx = torch.from_numpy(self._inputs(validation[0]))
            vy = torch.from_numpy(np.asarray(validation[1], dtype=np.int64))
        else:
            vx = vy = None

        history: list[EpochStats] = []
        for epoch in range(1, epochs + 1):
            with _EPOCH_TURN:
                threads = torch.get_num_threads()
                torch.set_num_threads(TRAIN_THREADS)
                try:
                    history.append(_epoch(params, optimiser, weight, x, y, vx, vy, batch_size, generator, epoch, epochs))
                finally:
                    torch.set_num_threads(threads)
            if on_epoch:
                on_epoch(history[-1])

        w1, b1, w2, b2 = (p.detach().numpy() for p in params)
        self.weights = {"w1": w1.T.copy(), "b1": b1.copy(), "w2": w2.T.copy(), "b2": b2.copy()}
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


def _epoch(params, optimiser, weight, x, y, vx, vy, batch_size, generator, epoch, epochs) -> EpochStats:
    """One pass over the shuffled training data (class-weighted cross-entropy, the gradients of
    dense-ReLU-dense written out), then the validation measure.

    Per step only the unavoidable work runs; everything that can be done for the whole epoch at
    once is (the shuffle, targets, per-batch loss weights, the training loss and accuracy, from
    the logits each batch saw before its update).
    """
    import torch

    w1, b1, w2, b2 = params
    n = len(y)
    order = torch.randperm(n, generator=generator)
    xs, ys = x[order], y[order]  # batches are then plain slices
    targets = torch.eye(len(weight))[ys]
    sample_weight = weight[ys]
    # Within each batch, sample weights normalised to sum to 1 (CrossEntropyLoss's weighted mean).
    batch_of = torch.arange(n) // batch_size
    batch_total = torch.zeros(int(batch_of[-1]) + 1).index_add_(0, batch_of, sample_weight)
    shares = (sample_weight / batch_total[batch_of])[:, None]
    seen_logits = torch.empty(n, len(weight))
    with torch.no_grad():
        for start in range(0, n, batch_size):
            end = start + batch_size
            xb = xs[start:end]
            hidden = torch.addmm(b1, xb, w1.T).relu_()
            logits = seen_logits[start:end]
            torch.addmm(b2, hidden, w2.T, out=logits)
            # d loss / d logits = w_y (softmax - onehot) / sum(w_y)
            d = torch.softmax(logits, dim=1).sub_(targets[start:end]).mul_(shares[start:end])
            d_hidden = (d @ w2).mul_(hidden > 0)
            optimiser.step((d_hidden.T @ xb, d_hidden.sum(0), d.T @ hidden, d.sum(0)))
        batch_size_of = torch.minimum(torch.full((n,), batch_size), n - batch_of * batch_size)
        per_sample = -(torch.log_softmax(seen_logits, dim=1) * targets).sum(1) * shares[:, 0]
        train_loss = float((per_sample * batch_size_of).sum()) / n
        train_acc = float((seen_logits.argmax(1) == ys).float().mean())
    val_loss = val_acc = None
    if vx is not None:
        with torch.no_grad():
            v_logits = torch.addmm(b2, torch.addmm(b1, vx, w1.T).relu_(), w2.T)
            val_loss = float(torch.nn.functional.cross_entropy(v_logits, vy))
            val_acc = float((v_logits.argmax(1) == vy).float().mean())
    return EpochStats(epoch, epochs, train_loss, train_acc, val_loss, val_acc)


class FusedAdam:
    """Adam (PyTorch's defaults: betas 0.9/0.999, eps 1e-8) as one fused kernel call per step.

    ``torch.optim.Adam(fused=True)`` runs the same kernel, but its per-step bookkeeping costs as
    much as the kernel itself for a network this small. Falls back to it where the kernel is
    not exposed. ``tests/test_head.py`` checks both give the same weights.
    """

    def __init__(self, params, learning_rate: float) -> None:
        import torch

        self.params = params
        self.learning_rate = float(learning_rate)
        self._direct = hasattr(torch, "_fused_adam_")
        if self._direct:
            self.avg = [torch.zeros_like(p) for p in params]
            self.avg_sq = [torch.zeros_like(p) for p in params]
            self.steps = [torch.zeros((), dtype=torch.float32) for _ in params]
        else:
            self._leaves = [p.requires_grad_() for p in params]
            self._optimiser = torch.optim.Adam(self._leaves, lr=self.learning_rate)

    def step(self, grads) -> None:
        import torch

        if not self._direct:
            for p, g in zip(self._leaves, grads):
                p.grad = g
            self._optimiser.step()
            return
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(self.params, list(grads), self.avg, self.avg_sq, [], self.steps, lr=self.learning_rate,
                           beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)

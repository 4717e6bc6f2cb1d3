"""The trained head: dense(100, ReLU) -> dense(classes, softmax) on frozen embeddings, Adam.

This is Teachable Machine's classifier (and the Alpha ML paper's). Training is seeded and
reproducible; classes with fewer samples weigh more in the loss, so a big class does not
drown a small one. Inference is plain NumPy: no PyTorch needed to use a trained model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..errors import NotEnoughClassesError, TeachableError
from .knn import l2_normalise

HIDDEN_UNITS = 100
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
            need = int(np.ceil(0.5 / fraction)) + 1
            note = (
                f"No validation split: class '{name}' has {len(members)} sample(s); "
                f"each class needs at least {need} for a {fraction:.0%} split. All samples were used for training."
            )
            return Split(everything, np.zeros(0, np.int64), note)
        validation.append(members[:n_val])
        train.append(members[n_val:])
    return Split(np.sort(np.concatenate(train)), np.sort(np.concatenate(validation)), None)


class HeadClassifier:
    """A two-layer softmax classifier on embeddings."""

    kind = "head"

    def __init__(self, num_classes: int, input_norm: str = "none", center: np.ndarray | None = None) -> None:
        if input_norm not in ("none", "l2"):
            raise TeachableError("input_norm must be 'none' or 'l2'.")
        self.num_classes = num_classes
        self.input_norm = input_norm
        # Subtracted from every embedding first (sound embeddings share a large common part).
        self.center = None if center is None else np.asarray(center, np.float32)
        self.weights: dict[str, np.ndarray] = {}
        self.hyper: dict = {}

    def _inputs(self, embeddings: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if self.center is not None:
            x = x - self.center
        return l2_normalise(x) if self.input_norm == "l2" else x

    def fit(
        self,
        embeddings: np.ndarray,
        labels: np.ndarray,
        epochs: int = DEFAULTS["epochs"],
        batch_size: int = DEFAULTS["batch_size"],
        learning_rate: float = DEFAULTS["learning_rate"],
        seed: int = DEFAULTS["seed"],
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> list[EpochStats]:
        """Train from scratch; returns the per-epoch history (also sent to ``on_epoch``)."""
        import torch
        from torch import nn

        if epochs < 1 or batch_size < 1 or not learning_rate > 0:
            raise TeachableError("epochs and batch_size must be at least 1 and learning_rate above 0.")
        labels = np.asarray(labels, dtype=np.int64)
        if len(np.unique(labels)) < 2:
            raise NotEnoughClassesError("Training needs samples in at least two classes.")
        self.hyper = {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate), "seed": int(seed)}

        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(self._inputs(embeddings))
        y = torch.from_numpy(labels)
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.float64)
        class_weight = np.where(counts > 0, len(labels) / (np.maximum(counts, 1) * np.count_nonzero(counts)), 0.0)
        loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(class_weight, dtype=torch.float32))
        net = nn.Sequential(nn.Linear(x.shape[1], HIDDEN_UNITS), nn.ReLU(), nn.Linear(HIDDEN_UNITS, self.num_classes))
        # Fused Adam on one thread: for a network this small, per-step overhead dominates and
        # extra threads only add synchronisation (measured ~2x faster than the defaults).
        optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate, fused=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        if validation is not None and len(validation[1]):
            vx = torch.from_numpy(self._inputs(validation[0]))
            vy = torch.from_numpy(np.asarray(validation[1], dtype=np.int64))
        else:
            vx = vy = None

        history: list[EpochStats] = []
        try:
            for epoch in range(1, epochs + 1):
                history.append(self._epoch(net, optimiser, loss_fn, x, y, vx, vy, batch_size, generator, epoch, epochs))
                if on_epoch:
                    on_epoch(history[-1])
        finally:
            torch.set_num_threads(threads)

        first, second = net[0], net[2]
        self.weights = {
            "w1": first.weight.detach().numpy().T.copy(),
            "b1": first.bias.detach().numpy().copy(),
            "w2": second.weight.detach().numpy().T.copy(),
            "b2": second.bias.detach().numpy().copy(),
        }
        return history

    @staticmethod
    def _epoch(net, optimiser, loss_fn, x, y, vx, vy, batch_size, generator, epoch, epochs) -> EpochStats:
        """One pass over the shuffled training data, then the validation measure."""
        import torch
        from torch import nn

        net.train()
        order = torch.randperm(len(y), generator=generator)
        total_loss = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            logits = net(x[idx])
            loss = loss_fn(logits, y[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                total_loss += loss.detach() * len(idx)
                correct += (logits.argmax(1) == y[idx]).sum()
        val_loss = val_acc = None
        if vx is not None:
            net.eval()
            with torch.no_grad():
                v_logits = net(vx)
                val_loss = float(nn.functional.cross_entropy(v_logits, vy))
                val_acc = float((v_logits.argmax(1) == vy).float().mean())
        return EpochStats(epoch, epochs, float(total_loss) / len(y), int(correct) / len(y), val_loss, val_acc)

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
        return state

    def params(self) -> dict:
        return {**self.hyper, "hidden_units": HIDDEN_UNITS, "input_norm": self.input_norm}

    @classmethod
    def from_state(cls, num_classes: int, params: dict, state: dict[str, np.ndarray]) -> "HeadClassifier":
        center = np.asarray(state["center"], np.float32) if "center" in state else None
        model = cls(num_classes, input_norm=params.get("input_norm", "none"), center=center)
        model.hyper = {k: params[k] for k in ("epochs", "batch_size", "learning_rate", "seed") if k in params}
        weights = {name: np.asarray(state[name], np.float32) for name in ("w1", "b1", "w2", "b2")}
        w1, b1, w2, b2 = weights["w1"], weights["b1"], weights["w2"], weights["b2"]
        if not (w1.ndim == 2 and b1.shape == (w1.shape[1],) and w2.shape == (w1.shape[1], num_classes) and b2.shape == (num_classes,)):
            raise ValueError("head weights have inconsistent shapes")
        if not all(np.isfinite(v).all() for v in weights.values()):
            raise ValueError("head weights contain NaN or infinity")
        if center is not None and (center.shape != (w1.shape[0],) or not np.isfinite(center).all()):
            raise ValueError("head centre has the wrong shape or invalid values")
        model.weights = weights
        return model

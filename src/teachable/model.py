"""A trained model: a backbone id, a classifier on its embeddings, labels, and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from . import modelfile
from .version import __version__
from .classify.head import EpochStats, HeadClassifier
from .classify.knn import KNNClassifier
from .classify.metrics import Report
from .dataset import Dataset
from .embed.preprocess import ImageInput
from .errors import ModelFileError
from .kinds import KINDS, get_kind

Classifier = Union[HeadClassifier, KNNClassifier]
CLASSIFIERS = {"head": HeadClassifier, "knn": KNNClassifier}


@dataclass(frozen=True)
class Prediction:
    """The winning label and the confidence of every class (summing to 1)."""

    label: str
    confidences: dict[str, float]

    @property
    def confidence(self) -> float:
        return self.confidences[self.label]

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "confidences": dict(self.confidences)}


@dataclass
class Model:
    """Use :func:`teachable.train` or :func:`teachable.load` to get one."""

    labels: list[str]
    classifier: Classifier
    backbone_id: str
    kind: str = "image"
    report: Report | None = None
    history: list[EpochStats] = field(default_factory=list)
    training_counts: dict[str, int] = field(default_factory=dict)
    created: str = ""
    notes: list[str] = field(default_factory=list)
    device: str = "auto"

    @property
    def backbone(self):
        kind = get_kind(self.kind)
        kind.check_backbone(self.backbone_id)
        return kind.backbone(self.device)

    # -- prediction ---------------------------------------------------------------------------
    def predict_embeddings(self, embeddings: np.ndarray) -> list[Prediction]:
        """Predictions for embeddings already computed by this model's backbone."""
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if len(embeddings) == 0:
            return []
        winners, probabilities = self.classifier.classify(embeddings)
        return [
            Prediction(self.labels[int(w)], {name: float(p) for name, p in zip(self.labels, row)})
            for w, row in zip(winners, probabilities)
        ]

    def predict(self, x: ImageInput) -> Prediction:
        """Classify one image: a path, bytes, a PIL image or an HxWx3 array."""
        return self.predict_embeddings(self.backbone.embed_one(x)[None])[0]

    def predict_batch(self, xs: Iterable[ImageInput]) -> list[Prediction]:
        return self.predict_embeddings(self.backbone.embed(list(xs)))

    def evaluate(self, dataset: Dataset, on_progress=None) -> Report:
        """Accuracy, per-class accuracy and confusion matrix on a labelled dataset.

        Classes are matched by name; dataset classes the model does not know are refused.
        """
        from .errors import DatasetError

        unknown = [name for name in dataset.classes if name not in self.labels]
        if unknown:
            raise DatasetError(f"The dataset has classes the model does not know: {', '.join(unknown)}.")
        embeddings, labels = dataset.embed(self.backbone, on_progress)
        truth = np.array([self.labels.index(dataset.classes[i]) for i in labels], dtype=np.int64)
        predicted = self.classifier.predict(embeddings) if len(embeddings) else np.zeros(0, np.int64)
        report = Report.from_predictions(self.labels, truth, predicted)
        report.notes += [f"skipped {s.path}: {s.reason}" for s in dataset.skipped]
        return report

    # -- state and files ----------------------------------------------------------------------
    def metadata(self) -> dict:
        """Everything about the model but its arrays: labels, backbone and recipe, classifier,
        report, history (metadata.json of a model file, and of every export)."""
        return {
            "format": modelfile.FORMAT,
            "format_version": modelfile.FORMAT_VERSION,
            "teachable_version": __version__,
            "kind": self.kind,
            "labels": list(self.labels),
            "backbone": {"id": self.backbone_id, "preprocessing": get_kind(self.kind).recipe()},
            "classifier": {"type": self.classifier.kind, "params": self.classifier.params()},
            "metrics": self.report.to_dict() if self.report else None,
            "history": [h.to_dict() for h in self.history],
            "training_counts": dict(self.training_counts),
            "notes": list(self.notes),
            "created": self.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(metadata, arrays): all a model is, for :mod:`teachable.modelfile` to pack."""
        return self.metadata(), self.classifier.state()

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], device: str = "auto") -> "Model":
        """The model that :meth:`to_state` described (as checked by :func:`modelfile.unpack`)."""
        labels = meta["labels"]
        try:
            classifier = CLASSIFIERS[meta["classifier"]["type"]].from_state(len(labels), meta["classifier"]["params"], arrays)
            report = Report.from_dict(meta["metrics"]) if meta.get("metrics") else None
            history = [EpochStats(**h) for h in meta.get("history") or []]
            counts = {str(k): int(v) for k, v in (meta.get("training_counts") or {}).items()}
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
            raise ModelFileError(f"The model file's contents are inconsistent: {exc}.") from None
        dim = KINDS[meta["kind"]].dim
        if classifier.input_dim != dim:
            raise ModelFileError(f"The model file's contents are inconsistent: its classifier takes "
                                 f"{classifier.input_dim} numbers, the backbone gives {dim}.")
        return cls(labels=list(labels), classifier=classifier, backbone_id=meta["backbone"]["id"], kind=meta["kind"],
                   report=report, history=history, training_counts=counts, created=str(meta.get("created", "")),
                   notes=[str(n) for n in meta.get("notes") or []], device=device)

    def to_bytes(self) -> bytes:
        """The bytes of a ``.teachable`` file (a zip: metadata.json + weights.npz)."""
        return modelfile.pack(*self.to_state())

    @classmethod
    def from_bytes(cls, data: bytes, device: str = "auto") -> "Model":
        return cls.from_state(*modelfile.unpack(data), device=device)

    def save(self, path: str | Path) -> Path:
        """Write a ``.teachable`` file, atomically."""
        return modelfile.write(self.to_bytes(), Path(path))

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> "Model":
        """Open a ``.teachable`` file; any problem is a ModelFileError with a clear message."""
        return cls.from_bytes(modelfile.read(path), device)

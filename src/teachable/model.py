"""A trained model: a backbone id, a classifier on its embeddings, labels, and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from .classify.head import EpochStats, HeadClassifier
from .classify.knn import KNNClassifier
from .classify.metrics import Report
from .dataset import Dataset
from .embed import backbone_for
from .embed.preprocess import ImageInput

Classifier = Union[HeadClassifier, KNNClassifier]


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
        return backbone_for(self.kind, self.backbone_id, self.device)

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

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write a ``.teachable`` file (a zip: metadata.json + weights.npz)."""
        from .modelfile import write_model

        return write_model(self, Path(path))

    def to_bytes(self) -> bytes:
        from .modelfile import model_to_bytes

        return model_to_bytes(self)

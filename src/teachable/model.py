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
from .dataset import Dataset, recording_of
from .embed.preprocess import ImageInput
from .errors import ExplanationUnavailableError, ModelFileError, NothingDetectedError
from .explain.memory import DEFAULT_NEIGHBOURS, ExampleMemory, Neighbour
from .embed import BACKBONE_DIMS
from .kinds import KINDS, get_kind

Classifier = Union[HeadClassifier, KNNClassifier]
CLASSIFIERS = {"head": HeadClassifier, "knn": KNNClassifier}


NO_EXAMPLES = ("This model file was made before Teachable kept its training examples in models (file format 1): "
               "retrain it to see which examples a prediction resembles.")


@dataclass(frozen=True)
class Prediction:
    """The winning label and the confidence of every class (summing to 1); asked to explain,
    the training samples it resembles most (``neighbours``), or why it cannot say
    (``unexplained``)."""

    label: str
    confidences: dict[str, float]
    neighbours: tuple[Neighbour, ...] | None = None
    unexplained: str | None = None
    # A sound recording longer than 1.5 s: each one-second window's own answer, by start time.
    windows: tuple[tuple[float, "Prediction"], ...] | None = None

    @property
    def confidence(self) -> float:
        return self.confidences[self.label]

    def to_dict(self) -> dict:
        out = {"label": self.label, "confidence": self.confidence, "confidences": dict(self.confidences)}
        if self.windows is not None:
            out["windows"] = [{"start": round(start, 3), "label": w.label, "confidence": w.confidence,
                               "confidences": dict(w.confidences)} for start, w in self.windows]
        if self.neighbours is not None:
            out["neighbours"] = [n.to_dict() for n in self.neighbours]
        if self.unexplained is not None:
            out["neighbours"], out["unexplained"] = None, self.unexplained
        return out


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
    examples: ExampleMemory | None = None  # what it learnt from, for explanations (None: an older file)
    # pose/hand: how the frames with nobody in view were labelled (each class's share), or None
    nobody: dict[str, float] | None = None

    @property
    def nobody_class(self) -> str | None:
        """The class a frame with nobody in view gets: the one most such training frames were in."""
        return max(self.nobody, key=self.nobody.get) if self.nobody else None

    @property
    def backbone(self):
        kind = get_kind(self.kind)
        kind.check_backbone(self.backbone_id)
        return kind.backbone(self.device, self.backbone_id)

    # -- prediction ---------------------------------------------------------------------------
    def predict_embeddings(self, embeddings: np.ndarray, explain: bool = False,
                           k: int = DEFAULT_NEIGHBOURS) -> list[Prediction]:
        """Predictions for embeddings already computed by this model's backbone; with
        ``explain``, each names the ``k`` training samples it resembles most."""
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if len(embeddings) == 0:
            return []
        self._check_nobody(embeddings)
        winners, probabilities = self._classify(embeddings)
        found: list = [None] * len(embeddings)
        if explain and self.examples is not None:
            found = [tuple(row) for row in self.examples.neighbours(embeddings, self.labels, k)]
        why = NO_EXAMPLES if explain and self.examples is None else None
        return [
            Prediction(self.labels[int(w)], {name: float(p) for name, p in zip(self.labels, row)}, near, why)
            for w, row, near in zip(winners, probabilities, found)
        ]

    def _classify(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(winners, probabilities): the classifier's, but a frame with nobody in view gets the class
        such frames were given, as sure as they were labelled."""
        winners, probabilities = self.classifier.classify(embeddings)
        if self.nobody:
            from .embed.keypoints import is_nobody

            rows = is_nobody(embeddings)
            probabilities = np.array(probabilities, dtype=np.float64)
            probabilities[rows] = [self.nobody.get(label, 0.0) for label in self.labels]
            winners = np.where(rows, self.labels.index(self.nobody_class), winners)
        return winners, probabilities

    def _nobody_rows(self, embeddings: np.ndarray) -> np.ndarray:
        """Which rows are frames with nobody in view that this model has no class for."""
        if self.nobody or not get_kind(self.kind).keypoints or not len(embeddings):
            return np.zeros(len(embeddings), bool)
        from .embed.keypoints import is_nobody

        return is_nobody(embeddings)

    def _check_nobody(self, embeddings: np.ndarray) -> None:
        """A pose or hand frame with nobody in view gets the class trained on such frames; a model
        that learnt none says so instead of guessing among the others."""
        if self._nobody_rows(embeddings).any():
            who = "No hand is" if self.kind == "hand" else "Nobody is"
            raise NothingDetectedError(f"{who} in view, and this model learnt no class for that: record such frames "
                                       "into a class of their own (\"nobody\" or \"background\") and train again.")

    def neighbours(self, embeddings: np.ndarray, k: int = DEFAULT_NEIGHBOURS) -> list[list[Neighbour]]:
        """The ``k`` training samples most like each embedding (ExplanationUnavailableError for a
        model file made before models kept their examples)."""
        if self.examples is None:
            raise ExplanationUnavailableError(NO_EXAMPLES)
        return self.examples.neighbours(embeddings, self.labels, k)

    def predict(self, x: ImageInput, explain: bool = False, k: int = DEFAULT_NEIGHBOURS) -> Prediction:
        """Classify one image: a path, bytes, a PIL image or an HxWx3 array (with ``explain``, name
        the ``k`` training samples it resembles most). A sound model answers a whole recording:
        see :meth:`predict_recording`."""
        if get_kind(self.kind).audio:
            return self.predict_recording(*self.backbone.recording_embeddings(x), explain=explain, k=k)
        return self.predict_embeddings(self.backbone.embed_one(x)[None], explain, k)[0]

    def predict_recording(self, embeddings: np.ndarray, starts: list[float], explain: bool = False,
                          k: int = DEFAULT_NEIGHBOURS) -> Prediction:
        """One answer for a recording from its one-second windows' embeddings: the mean of their
        class shares (per-recording accuracy on real recordings: docs/benchmarks.md), with each
        window's own answer in ``windows`` when there are several."""
        windows = self.predict_embeddings(embeddings)
        if len(windows) == 1:
            return self.predict_embeddings(embeddings, explain, k)[0] if explain else windows[0]
        shares = np.mean([[w.confidences[name] for name in self.labels] for w in windows], axis=0)
        label = self.labels[int(np.argmax(shares))]
        neighbours, unexplained = None, None
        if explain:  # the training samples most like the window that is surest of the answer
            surest = max(range(len(windows)), key=lambda i: windows[i].confidences[label])
            single = self.predict_embeddings(embeddings[surest:surest + 1], True, k)[0]
            neighbours, unexplained = single.neighbours, single.unexplained
        return Prediction(label, {name: float(p) for name, p in zip(self.labels, shares)}, neighbours, unexplained,
                          tuple(zip(starts, windows)))

    def predict_batch(self, xs: Iterable[ImageInput], explain: bool = False, k: int = DEFAULT_NEIGHBOURS) -> list[Prediction]:
        return self.predict_embeddings(self.backbone.embed(list(xs)), explain, k)

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
        unanswerable = self._nobody_rows(embeddings)  # nobody in view, and no class learnt for it
        embeddings, truth = embeddings[~unanswerable], truth[~unanswerable]
        predicted, probabilities = self._classify(embeddings) if len(embeddings) else (np.zeros(0, np.int64), None)
        predicted = np.asarray(predicted, np.int64)
        counted = None
        if get_kind(self.kind).audio and len(embeddings):
            recordings = [recording_of(source) for source in dataset.sources(self.backbone)]
            if len(set(recordings)) < len(recordings):  # some files are longer than one window
                truth, predicted = per_recording(recordings, truth, np.asarray(probabilities))
                counted = (f"counted recordings, not windows: {len(truth)} recordings ({len(recordings)} one-second "
                           "windows), each answered as the mean of its windows' class shares")
        report = Report.from_predictions(self.labels, truth, predicted)
        if counted:
            report.notes.append(counted)
        report.notes += [f"skipped {s.path}: {s.reason}" for s in dataset.skipped]
        if unanswerable.any():
            report.notes.append(f"skipped {int(unanswerable.sum())} pictures with nobody in view: the model learnt no "
                                "class for them")
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
            "backbone": {"id": self.backbone_id, "preprocessing": get_kind(self.kind).recipe(self.backbone_id)},
            "classifier": {"type": self.classifier.kind, "params": self.classifier.params()},
            "metrics": self.report.to_dict() if self.report else None,
            "history": [h.to_dict() for h in self.history],
            "training_counts": dict(self.training_counts),
            "nobody": self.nobody,
            "notes": list(self.notes),
            "created": self.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(metadata, arrays): all a model is, for :mod:`teachable.modelfile` to pack."""
        meta, arrays = self.metadata(), self.classifier.state()
        if self.examples is not None:
            explain = self.examples.state()
            meta["explain"] = {"examples": len(self.examples), "source_bytes": int(explain["explain_sources"].size),
                               "centred": "explain_center" in explain, "weighted": "explain_weights" in explain}
            arrays = {**arrays, **explain}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray], device: str = "auto") -> "Model":
        """The model that :meth:`to_state` described (as checked by :func:`modelfile.unpack`)."""
        labels = meta["labels"]
        kind = KINDS[meta["kind"]]
        kind.check_backbone(meta["backbone"]["id"])
        dim = BACKBONE_DIMS[meta["backbone"]["id"]]
        try:
            classifier = CLASSIFIERS[meta["classifier"]["type"]].from_state(len(labels), meta["classifier"]["params"], arrays)
            report = Report.from_dict(meta["metrics"]) if meta.get("metrics") else None
            history = [EpochStats(**h) for h in meta.get("history") or []]
            counts = {str(k): int(v) for k, v in (meta.get("training_counts") or {}).items()}
            examples = (ExampleMemory.from_state(arrays, len(labels), dim)
                        if meta.get("explain") is not None else None)
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError, RecursionError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"The model file's contents are inconsistent: {exc}.") from None
        if classifier.input_dim != dim:
            raise ModelFileError(f"The model file's contents are inconsistent: its classifier takes "
                                 f"{classifier.input_dim} numbers, the backbone gives {dim}.")
        return cls(labels=list(labels), classifier=classifier, backbone_id=meta["backbone"]["id"], kind=meta["kind"],
                   report=report, history=history, training_counts=counts, created=str(meta.get("created", "")),
                   notes=[str(n) for n in meta.get("notes") or []], device=device, examples=examples,
                   nobody=_nobody_shares(meta.get("nobody"), labels))

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


def per_recording(recordings: list[str], truth: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(truth, answer) per recording: the windows of one file answered together, as
    :meth:`Model.predict_recording` answers a file."""
    position: dict[str, int] = {}
    first: list[int] = []
    for i, recording in enumerate(recordings):
        if recording not in position:
            position[recording] = len(first)
            first.append(i)
    shares = np.zeros((len(first), probabilities.shape[1]))
    np.add.at(shares, np.array([position[r] for r in recordings]), probabilities)
    return truth[np.array(first)], shares.argmax(axis=1).astype(np.int64)


def _nobody_shares(value: object, labels: list[str]) -> dict[str, float] | None:
    """A model file's "nobody" entry, kept only when it is what :func:`training.nobody_shares` writes."""
    if not isinstance(value, dict) or not value or not set(value) <= set(labels):
        return None
    try:
        shares = {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        return None
    return shares if all(0.0 <= v <= 1.0 for v in shares.values()) else None

"""From embeddings and labels to a trained :class:`Model`: the one place training happens.

Datasets on disk, projects and the web app all end up here with embeddings already computed,
so every caller gets the same split, the same defaults and the same report.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

import numpy as np

from .classify.blocks import choose_mix
from .classify.head import EpochCallback, HeadClassifier, stratified_split
from .classify.knn import KNNClassifier
from .classify.metrics import Report
from .embed import BACKBONE_BLOCKS
from .errors import NotEnoughClassesError, TeachableError
from .explain.memory import ExampleMemory
from .kinds import get_kind
from .model import Model
from .settings import DEFAULT_SETTINGS

ClassifierName = Literal["head", "knn"]


def check_trainable(labels: list[str], y: np.ndarray) -> None:
    """At least two classes must have samples; every named class must have at least one."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(labels))
    if len(labels) < 2:
        raise NotEnoughClassesError(f"Training needs at least two classes; there is {len(labels)}.")
    empty = [name for name, n in zip(labels, counts) if n == 0]
    if empty:
        raise NotEnoughClassesError(f"Every class needs at least one sample; these have none: {', '.join(empty)}.")


def fit(
    embeddings: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    backbone_id: str,
    kind: str = "image",
    classifier: ClassifierName = "head",
    epochs: int = DEFAULT_SETTINGS["epochs"],
    batch_size: int = DEFAULT_SETTINGS["batch_size"],
    learning_rate: float = DEFAULT_SETTINGS["learning_rate"],
    k: int = DEFAULT_SETTINGS["k"],
    validation_split: float = DEFAULT_SETTINGS["validation_split"],
    seed: int = DEFAULT_SETTINGS["seed"],
    on_epoch: EpochCallback | None = None,
    device: str = "auto",
    sources: list[str] | None = None,
) -> Model:
    """Train a classifier on embeddings; report metrics on a stratified validation split. The
    model keeps every sample's embedding (int8) with its ``sources`` entry (where it came from;
    by default its position) so that its predictions can name the samples they resemble."""
    y = np.asarray(y, dtype=np.int64)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if len(embeddings) != len(y):
        raise TeachableError("There must be one label per embedding.")
    if sources is not None and len(sources) != len(y):
        raise TeachableError("There must be one source per embedding.")
    check_trainable(labels, y)
    if not 0 <= validation_split < 1:
        raise TeachableError("validation_split must be at least 0 and below 1.")
    split = stratified_split(y, validation_split, seed, labels)
    train_x, train_y = embeddings[split.train], y[split.train]
    val_x, val_y = embeddings[split.validation], y[split.validation]
    # Some kinds' embeddings share a large common component: centred on the training mean.
    centre = get_kind(kind).centred
    notes = [split.note] if split.note else []
    # Two backbones end to end (sounds): how much each counts is chosen from this project's samples.
    scale = None
    if backbone_id in BACKBONE_BLOCKS:
        mix = choose_mix(train_x, train_y, BACKBONE_BLOCKS[backbone_id],
                         [sources[i] for i in split.train] if sources else None, seed)
        scale = mix.scale
        notes.append(mix.note(("speech_embedding", "YAMNet")))
    if classifier == "head":
        model_clf = HeadClassifier(len(labels), epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                   seed=seed, centre=centre, scale=scale)
        model_clf.fit(train_x, train_y, validation=(val_x, val_y) if len(val_y) else None, on_epoch=on_epoch)
    elif classifier == "knn":
        if int(k) < 1:
            raise TeachableError("k must be at least 1.")
        model_clf = KNNClassifier(len(labels), k=k, centre=centre, scale=scale).fit(train_x, train_y)
    else:
        raise TeachableError(f"Unknown classifier {classifier!r}: use 'head' or 'knn'.")

    sources = sources or [f"#{i}" for i in range(len(y))]
    if len(val_y):
        predicted = model_clf.predict(val_x)
        report = Report.from_predictions(labels, val_y, predicted).with_cells(
            [sources[i] for i in split.validation], val_y, predicted)
    else:
        report = None
    if classifier == "knn" and len(val_y):
        # kNN needs no training, so the held-out examples join the model once measured.
        model_clf.add(val_x, val_y)
        notes.append("kNN: validation examples were added to the model after measuring accuracy.")
    if report is not None:
        report.notes += notes
    counts = np.bincount(y, minlength=len(labels))
    nobody = nobody_shares(embeddings, y, labels, kind)
    return Model(
        labels=list(labels),
        classifier=model_clf,
        backbone_id=backbone_id,
        kind=kind,
        report=report,
        history=list(model_clf.history) if classifier == "head" else [],
        training_counts={name: int(n) for name, n in zip(labels, counts)},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        notes=notes,
        device=device,
        examples=ExampleMemory.from_embeddings(embeddings, y, sources, centre, scale),
        nobody=nobody,
    )


def nobody_shares(embeddings: np.ndarray, y: np.ndarray, labels: list[str], kind: str) -> dict[str, float] | None:
    """In a pose or hand project, how the frames with nobody in view were labelled: each class's
    share of them (a "background" class usually has them all). None when there were none (the
    model then says "nobody in view" instead of guessing)."""
    if not get_kind(kind).keypoints:
        return None
    from .embed.keypoints import is_nobody

    found = y[is_nobody(embeddings)]
    if not len(found):
        return None
    counts = np.bincount(found, minlength=len(labels))
    return {label: float(n / len(found)) for label, n in zip(labels, counts)}

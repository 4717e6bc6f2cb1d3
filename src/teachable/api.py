"""The public Python API: what ``import teachable`` offers. The CLI and server call only this."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .classify.head import EpochCallback
from .dataset import Dataset
from .kinds import get_kind
from .embed.image import ImageNetGuess, get_backbone
from .embed.preprocess import ImageInput
from .errors import NotEnoughClassesError
from .model import Model
from .settings import DEFAULT_SETTINGS
from .training import ClassifierName, fit


def train(
    dataset: Dataset,
    classifier: ClassifierName = "head",
    epochs: int = DEFAULT_SETTINGS["epochs"],
    batch_size: int = DEFAULT_SETTINGS["batch_size"],
    learning_rate: float = DEFAULT_SETTINGS["learning_rate"],
    k: int = DEFAULT_SETTINGS["k"],
    validation_split: float = DEFAULT_SETTINGS["validation_split"],
    seed: int = DEFAULT_SETTINGS["seed"],
    on_epoch: EpochCallback | None = None,
    on_embed_progress: Callable[[int], None] | None = None,
    device: str = "auto",
) -> Model:
    """Embed the dataset's images or sounds (skipping unreadable ones, listed in ``dataset.skipped``) and train."""
    if len(dataset.classes) < 2:
        raise NotEnoughClassesError(
            f"Training needs at least two classes; the dataset has {len(dataset.classes)}."
        )
    backbone = get_kind(dataset.kind).backbone(device)
    embeddings, y = dataset.embed(backbone, on_embed_progress)
    model = fit(
        embeddings, y, dataset.classes, backbone.id, dataset.kind, classifier,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, k=k,
        validation_split=validation_split, seed=seed, on_epoch=on_epoch, device=device,
    )
    skipped = [f"skipped {s.path}: {s.reason}" for s in dataset.skipped]
    model.notes += skipped
    if model.report is not None:
        model.report.notes += skipped
    return model


def load(path: str | Path, device: str = "auto") -> Model:
    """Open a `.teachable` model file."""
    return Model.load(path, device)


def imagenet_guesses(image: ImageInput, top: int = 5, device: str = "auto") -> list[ImageNetGuess]:
    """The pretrained network's own ImageNet guesses for an image (no training involved)."""
    return get_backbone(device).classify(image, top)

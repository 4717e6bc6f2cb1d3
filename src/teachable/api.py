"""The public Python API: what ``import teachable`` offers. The CLI and server call only this."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .classify.head import DEFAULTS, EpochCallback
from .classify.knn import DEFAULT_K
from .dataset import Dataset
from .embed import backbone_for, default_backbone_id
from .embed.image import ImageNetGuess, get_backbone
from .embed.preprocess import ImageInput
from .errors import NotEnoughClassesError
from .model import Model
from .modelfile import read_model
from .training import ClassifierName, fit


def train(
    dataset: Dataset,
    classifier: ClassifierName = "head",
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    learning_rate: float = DEFAULTS["learning_rate"],
    k: int = DEFAULT_K,
    validation_split: float = DEFAULTS["validation_split"],
    seed: int = DEFAULTS["seed"],
    on_epoch: EpochCallback | None = None,
    on_embed_progress: Callable[[int], None] | None = None,
    device: str = "auto",
) -> Model:
    """Embed the dataset's images or sounds (skipping unreadable ones, listed in ``dataset.skipped``) and train."""
    if len(dataset.classes) < 2:
        raise NotEnoughClassesError(
            f"Training needs at least two classes; the dataset has {len(dataset.classes)}."
        )
    backbone = backbone_for(dataset.kind, default_backbone_id(dataset.kind), device)
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
    return read_model(path, device)


def imagenet_guesses(image: ImageInput, top: int = 5, device: str = "auto") -> list[ImageNetGuess]:
    """The pretrained network's own ImageNet guesses for an image (no training involved)."""
    return get_backbone(device).classify(image, top)

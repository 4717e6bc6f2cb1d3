"""The public Python API for folders of files: train a model on a :class:`Dataset`, load a model file,
ask the base network what it sees. Projects have their own front, :class:`teachable.Project`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .classify.head import EpochCallback
from .dataset import Dataset
from .kinds import get_kind
from .embed.image import ImageNetGuess, get_backbone
from .embed.preprocess import ImageInput
from .store.database import is_sqlite_file
from .errors import ModelFileError, NotEnoughClassesError
from .model import Model
from .settings import DEFAULT_SETTINGS, check_settings
from .tm.models import TeachableMachineModel, is_teachable_machine_export, load_teachable_machine
from .training import fit


def train(
    dataset: Dataset,
    on_epoch: EpochCallback | None = None,
    on_embed_progress: Callable[[int], None] | None = None,
    device: str = "auto",
    **settings,
) -> Model:
    """Embed the dataset's images or sounds (skipping unreadable ones, listed in ``dataset.skipped``)
    and train. ``settings``: any of :data:`teachable.settings.SETTINGS` (``classifier="knn"``,
    ``epochs=30``, ``batch_size``, ``learning_rate``, ``k``, ``validation_split``, ``seed``);
    the others keep their defaults."""
    settings = {**DEFAULT_SETTINGS, **check_settings(settings)}
    if len(dataset.classes) < 2:
        raise NotEnoughClassesError(
            f"Training needs at least two classes; the dataset has {len(dataset.classes)}."
        )
    backbone = get_kind(dataset.kind).backbone(device)
    embeddings, y = dataset.embed(backbone, on_embed_progress)
    model = fit(embeddings, y, dataset.classes, backbone.id, dataset.kind, on_epoch=on_epoch, device=device,
                sources=dataset.sources(backbone), **settings)
    skipped = [f"skipped {s.path}: {s.reason}" for s in dataset.skipped]
    model.notes += skipped
    if model.report is not None:
        model.report.notes += skipped
    return model


def load(path: str | Path, device: str = "auto") -> Model | TeachableMachineModel:
    """Open a `.teachable` model file, or a model Teachable Machine exported: its TensorFlow.js
    folder (``model.json`` + ``weights.bin`` + ``metadata.json``) or its Keras ``keras_model.h5``
    (with ``labels.txt`` beside it). Both kinds answer ``predict`` and ``predict_batch``. A project
    file (``.teachable-project``) gives its current trained model."""
    if is_teachable_machine_export(Path(path)):
        return load_teachable_machine(path)
    if _is_project_file(Path(path)):
        from .project import Project

        with Project.open(path) as project:
            if project.current_model_id() is None:
                raise ModelFileError(f"'{Path(path).name}' is a project file with no trained model yet: train it first "
                                     "(`teachable project train`), then use the project file or its exported model.")
            return project.model(device=device)
    return Model.load(path, device)


def _is_project_file(path: Path) -> bool:
    """A Teachable project (an SQLite file), not a model file (a zip); asked of SQLite, since the file
    may be a project another process (a running server) has open."""
    return is_sqlite_file(path)


def imagenet_guesses(image: ImageInput, top: int = 5, device: str = "auto") -> list[ImageNetGuess]:
    """The pretrained network's own ImageNet guesses for an image (no training involved)."""
    return get_backbone(device).classify(image, top)

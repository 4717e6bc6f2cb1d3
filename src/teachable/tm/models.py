"""Teachable Machine's exported image models, run without TensorFlow.

Two exports are read: "Tensorflow.js" (a folder with ``model.json``, ``weights.bin``, ``metadata.json``)
and "Tensorflow → Keras" (``keras_model.h5`` with ``labels.txt``). Each is predicted with Teachable
Machine's own preprocessing for that export: the centre square of the picture resized to the model's
``imageSize`` and pixels scaled as ``x / 127 - 1`` (what ``@teachablemachine/image`` does), or, for
Keras, ``ImageOps.fit`` with Lanczos and ``x / 127.5 - 1`` (Teachable Machine's Keras snippet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps

from ..budget import MAX_INPUT_SIDE
from ..embed.preprocess import ImageInput, centre_square, load_image
from ..embed.reading import read_source
from ..errors import ModelFileError
from ..model import Prediction
from .keras_h5 import read_h5
from .layers import Graph, Weights
from .tfjs_files import read_json, read_model_json

MAX_LABELS_BYTES = 1024 * 1024


@dataclass
class TeachableMachineModel:
    """An image classifier exported by Teachable Machine; ``predict`` like a Teachable model."""

    labels: list[str]
    graph: Graph
    weights: Weights
    export: str  # "tfjs" or "keras"
    image_size: int = 224
    grayscale: bool = False
    kind: str = "image"

    def pixels(self, x: ImageInput) -> np.ndarray:
        """The square RGB pixels the model sees (uint8, image_size x image_size x 3)."""
        image = load_image(x)
        if self.export == "keras":
            square = ImageOps.fit(image, (self.image_size, self.image_size), Image.Resampling.LANCZOS)
        else:
            square = centre_square(image, self.image_size)
        if self.grayscale:
            square = square.convert("L").convert("RGB")
        return np.asarray(square, dtype=np.uint8)

    def scale(self, pixels: np.ndarray) -> np.ndarray:
        divisor = 127.5 if self.export == "keras" else 127.0
        return np.asarray(pixels, np.float32) / divisor - 1.0

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of square uint8 pixels (N x size x size x 3)."""
        return self.graph.run(self.scale(pixels), self.weights)

    def features(self, x: np.ndarray) -> np.ndarray:
        """The pooled MobileNet features (the output of the first global pooling layer) of inputs
        already scaled (:meth:`scale`), so two exports can be compared on the very same numbers."""
        pool = next((n.name for n in self.graph.nodes if n.class_name.startswith("Global")), None)
        if pool is None:
            raise ModelFileError("This model has no global pooling layer to read features from.")
        return self.graph.run(x, self.weights, stop_at=pool)

    def predict_batch(self, xs: Iterable[ImageInput]) -> list[Prediction]:
        batch = [self.pixels(x) for x in xs]
        if not batch:
            return []
        results = []
        for row in self.probabilities(np.stack(batch)):
            confidences = {name: float(p) for name, p in zip(self.labels, row)}
            results.append(Prediction(self.labels[int(np.argmax(row))], confidences))
        return results

    def predict(self, x: ImageInput) -> Prediction:
        """Classify one image: a path, bytes, a PIL image or an HxWx3 array."""
        return self.predict_batch([x])[0]


def _check_labels(labels: object, graph: Graph, source: str) -> list[str]:
    if not isinstance(labels, list) or not labels or not all(isinstance(v, str) for v in labels):
        raise ModelFileError(f"{source} has no list of class labels.")
    units = graph.output_node.config.get("units")
    if units is not None and units != len(labels):
        raise ModelFileError(f"{source} names {len(labels)} labels but the model has {units} outputs.")
    return labels


def _check_image_input(graph: Graph, size: int) -> None:
    """The model must take what its preprocessing makes: size x size RGB pictures."""
    shape = graph.shapes[graph.nodes[0].name]
    if shape != (size, size, 3):
        raise ModelFileError(f"This model takes inputs of shape {list(shape)}, not {size}x{size} RGB pictures: "
                             "it is not a Teachable Machine image model.")


def read_labels_txt(path: Path) -> list[str]:
    """Teachable Machine's ``labels.txt``: one ``"<index> <name>"`` line per class, in order."""
    if not path.is_file():
        raise ModelFileError(f"The Keras export needs its labels.txt beside the model ('{path}').")
    try:
        lines = read_source(path, MAX_LABELS_BYTES, ModelFileError, ModelFileError).decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ModelFileError(f"'{path.name}' is not UTF-8 text.") from None
    labels = []
    for line in filter(str.strip, lines):
        index, _, name = line.strip().partition(" ")
        labels.append(name if index == str(len(labels)) and name else line.strip())
    return labels


def refuse_other_kinds(meta: dict, where: Path) -> None:
    """Teachable Machine's pose and audio exports, named for what they are: their inputs come from
    front ends Teachable does not run (PoseNet keypoints; speech-commands spectrograms), so their
    layers would only fail to fit. Say what to do instead."""
    package = str(meta.get("packageName", ""))
    labels = meta.get("labels") or meta.get("wordLabels")
    named = f" (classes: {', '.join(map(str, labels[:6]))}{'…' if len(labels) > 6 else ''})" if isinstance(labels, list) else ""
    if package == "@teachablemachine/pose" or "modelSettings" in meta and "posenet" in str(meta["modelSettings"]).lower():
        raise ModelFileError(
            f"'{where}' is a Teachable Machine pose model{named}: it reads PoseNet's keypoints, which Teachable does "
            "not compute, so it cannot run here. Bring the project instead: in Teachable Machine choose "
            "☰ → Save project to file, then open the .tm in Teachable (`teachable project import NAME FILE.tm`, or "
            "\"Open a Teachable Machine project…\" in the app) and train it: Teachable makes its own pose model from "
            "the same photos.")
    if "wordLabels" in meta or "tfjsSpeechCommandsVersion" in meta or package == "@teachablemachine/audio":
        raise ModelFileError(
            f"'{where}' is a Teachable Machine audio model{named}: it listens through Google's speech-commands front "
            "end, which Teachable does not use, and Teachable Machine's audio project files keep no recordings to "
            "bring over. Record the sounds again in a Teachable sound project (one-second clips), then train it.")


def _load_tfjs(model_json: Path) -> TeachableMachineModel:
    meta_path = model_json.parent / "metadata.json"
    meta = read_json(meta_path, MAX_LABELS_BYTES,
                     f"A Teachable Machine TF.js export needs its metadata.json beside model.json ('{meta_path}').")
    if not isinstance(meta, dict):
        raise ModelFileError(f"'{meta_path}' is not Teachable Machine metadata.")
    refuse_other_kinds(meta, model_json.parent)  # before the layers: their errors would only mislead
    graph, weights, _ = read_model_json(model_json)
    labels = _check_labels(meta.get("labels"), graph, "metadata.json")
    size = meta.get("imageSize", 224)
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= MAX_INPUT_SIDE:
        raise ModelFileError(f"metadata.json gives an invalid imageSize: {size!r}.")
    model = TeachableMachineModel(labels, graph, weights, "tfjs", size, bool(meta.get("grayscale", False)))
    _check_image_input(graph, size)
    graph.check(weights)
    return model


def _load_keras(h5: Path) -> TeachableMachineModel:
    graph, weights = read_h5(h5)
    labels = _check_labels(read_labels_txt(h5.parent / "labels.txt"), graph, "labels.txt")
    shape = graph.shapes[graph.nodes[0].name]
    size = shape[0] if len(shape) == 3 else 224
    model = TeachableMachineModel(labels, graph, weights, "keras", size)
    _check_image_input(graph, size)
    graph.check(weights)
    return model


def is_teachable_machine_export(path: Path) -> bool:
    """Whether ``path`` looks like one of Teachable Machine's model exports (not a ``.teachable`` file)."""
    if path.is_dir():
        return (path / "model.json").exists() or any(path.glob("*.h5"))
    return path.suffix.lower() in (".json", ".h5")


def load_teachable_machine(path: str | Path) -> TeachableMachineModel:
    """A Teachable Machine export: its folder, its ``model.json``, or its ``keras_model.h5``."""
    path = Path(path)
    if path.is_dir():
        if (path / "model.json").exists():
            return _load_tfjs(path / "model.json")
        h5 = sorted(path.glob("*.h5"))
        if len(h5) == 1:
            return _load_keras(h5[0])
        raise ModelFileError(f"'{path}' holds neither a model.json nor one .h5 file.")
    if path.suffix.lower() == ".h5":
        return _load_keras(path)
    return _load_tfjs(path)

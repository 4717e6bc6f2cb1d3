"""The `.teachable` model file: a zip holding metadata.json and weights.npz.

This module only packs and unpacks (metadata, arrays) and checks them; what they mean is
:class:`teachable.model.Model`'s business (``to_state`` / ``from_state``).

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
from pathlib import Path
from typing import IO

import numpy as np

from .budget import MAX_TEACHABLE_WEIGHT_BYTES
from .classify.head import HIDDEN_UNITS
from .store.database import is_sqlite_file
from .errors import ModelFileError, json_problem
from .embed import BACKBONE_DIMS
from .kinds import KINDS

FORMAT = "teachable-model"
# 2: models keep their training examples for explanations (int8 "explain_*" arrays); files of
# version 1 still load, and say that they cannot explain.
FORMAT_VERSION = 2
MAX_METADATA_BYTES = 4 * 1024 * 1024
MAX_WEIGHTS_BYTES = MAX_TEACHABLE_WEIGHT_BYTES
# weights.npz is unpacked to a temporary file past this size rather than held in memory beside
# the arrays made from it.
SPOOL_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = MAX_WEIGHTS_BYTES + MAX_METADATA_BYTES
CLASSIFIERS = ("head", "knn")
MAX_HIDDEN_UNITS = 65_536
# Room for one array's .npy header and its zip entry's headers, beyond the array's own bytes.
ARRAY_OVERHEAD_BYTES = 4096
FLOAT, INT, INT8, BYTE = np.dtype("<f4"), np.dtype("<i8"), np.dtype("i1"), np.dtype("u1")
# Each explanation example's source ("sample:12", "cat/IMG_0001.jpg") as JSON text, at most.
MAX_SOURCE_BYTES = 1300

def pack(meta: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of a `.teachable` file."""
    weights = io.BytesIO()
    np.savez(weights, **arrays)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(meta, indent=2, ensure_ascii=False))
        archive.writestr("weights.npz", weights.getvalue())
    return buffer.getvalue()


def write(data: bytes, path: Path) -> Path:
    """Write atomically: a crash mid-write never leaves a half model at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".teachable")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read(path: str | Path) -> bytes:
    """A model file's bytes; any problem is a :class:`ModelFileError` with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"'{path}' does not exist or is not a file.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ModelFileError(f"'{path}' is too large to be a Teachable model.")
    if is_sqlite_file(path):  # never read a (perhaps live) project file with a plain open()
        raise ModelFileError(f"'{path.name}' is a project file, not a model file: export its model first "
                             "(`teachable export`).")
    return path.read_bytes()


def _info(archive: zipfile.ZipFile, name: str, limit: int) -> zipfile.ZipInfo:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelFileError(f"This is not a Teachable model: it has no {name}.") from None
    if info.file_size > limit:
        raise ModelFileError(f"The model's {name} is too large ({info.file_size:,} bytes).")
    return info


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with archive.open(_info(archive, name, limit)) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(f"The model's {name} is too large.")
    return data


def _spooled_member(archive: zipfile.ZipFile, name: str, limit: int) -> IO[bytes]:
    """A member unpacked (at most ``limit`` bytes, counted as they come) into memory when small,
    into a temporary file when large."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    with archive.open(_info(archive, name, limit)) as handle:
        while chunk := handle.read(1024 * 1024):
            if spool.tell() + len(chunk) > limit:
                spool.close()
                raise ModelFileError(f"The model's {name} is too large.")
            spool.write(chunk)
    spool.seek(0)
    return spool


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
    counts = meta.get("training_counts")
    if counts is not None and not (isinstance(counts, dict) and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10**9 for v in counts.values())):
        raise ModelFileError("The model file's training counts are invalid.")
    for key in ("history", "notes"):
        if meta.get(key) is not None and not isinstance(meta[key], list):
            raise ModelFileError(f"The model file's {key} is invalid.")
    if meta.get("metrics") is not None and not isinstance(meta["metrics"], dict):
        raise ModelFileError("The model file's metrics are invalid.")
    return meta


def _expected_arrays(meta: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The arrays a model's metadata implies (name -> shape, dtype), known before any is read:
    a file whose weights declare anything bigger is refused without decompressing them."""
    dim, classes = BACKBONE_DIMS[meta["backbone"]["id"]], len(meta["labels"])
    params = meta["classifier"]["params"]
    if meta["classifier"]["type"] == "head":
        hidden = params.get("hidden_units", HIDDEN_UNITS)
        if not isinstance(hidden, int) or not 1 <= hidden <= MAX_HIDDEN_UNITS:
            raise ModelFileError("The model file's contents are inconsistent: invalid hidden_units.")
        return {"w1": ((dim, hidden), FLOAT), "b1": ((hidden,), FLOAT), "w2": ((hidden, classes), FLOAT),
                "b2": ((classes,), FLOAT), "center": ((dim,), FLOAT), "scale": ((dim,), FLOAT)}
    counts = meta.get("training_counts") or {}
    examples = sum(counts.values()) if counts else (MAX_WEIGHTS_BYTES // (dim * 4 + 8))
    if examples > MAX_WEIGHTS_BYTES // (dim * 4 + 8):
        raise ModelFileError("The model file is too large.")
    # Without counts (never written so by Teachable) the number of examples is only bounded.
    rows = examples if counts else -examples
    return {"examples": ((rows, dim), FLOAT), "labels": ((rows,), INT), "center": ((dim,), FLOAT),
            "scale": ((dim,), FLOAT)}


def _expected_explanation(meta: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The explanation arrays a version-2 model declares in ``meta["explain"]``: one row per
    training sample (no more than it counts), int8 codes, a scale, a class and a source each."""
    explain = meta.get("explain")
    if explain is None:
        return {}
    counts = meta.get("training_counts") or {}
    examples, source_bytes = (explain.get("examples"), explain.get("source_bytes")) if isinstance(explain, dict) else (None, None)
    if (not isinstance(examples, int) or isinstance(examples, bool) or not 0 <= examples <= sum(counts.values())
            or not isinstance(source_bytes, int) or isinstance(source_bytes, bool)
            or not 0 <= source_bytes <= 2 + examples * MAX_SOURCE_BYTES):
        raise ModelFileError("The model file's explanation examples are inconsistent with its training counts.")
    dim = BACKBONE_DIMS[meta["backbone"]["id"]]
    expected = {"explain_codes": ((examples, dim), INT8), "explain_scales": ((examples,), FLOAT),
                "explain_labels": ((examples,), INT), "explain_sources": ((source_bytes,), BYTE)}
    if explain.get("centred"):
        expected["explain_center"] = ((dim,), FLOAT)
    if explain.get("weighted"):
        expected["explain_weights"] = ((dim,), FLOAT)
    return expected


def _read_weights(raw: IO[bytes], expected: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, np.ndarray]:
    """weights.npz, each array's header checked against ``expected`` before its data is read
    straight into the array it becomes (no second copy)."""
    state: dict[str, np.ndarray] = {}
    rows: set[int] = set()
    with zipfile.ZipFile(raw) as npz:
        for info in npz.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name not in expected or name in state:
                raise ModelFileError(f"The model file's weights are inconsistent: unexpected array {info.filename[:100]!r}.")
            shape, dtype = expected[name]
            with npz.open(info) as handle:
                version = np.lib.format.read_magic(handle)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError("unknown .npy version")
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                declared, fortran, found_dtype = read_header(handle, max_header_size=ARRAY_OVERHEAD_BYTES)
                if found_dtype != dtype or fortran:
                    raise ModelFileError(f"The model file's weights are inconsistent: its {name} array has the wrong type.")
                if not _shape_fits(declared, shape):
                    raise ModelFileError(f"The model file's weights are inconsistent: its {name} array has shape "
                                         f"{declared}, not what its metadata implies.")
                if len(shape) and shape[0] < 0:
                    rows.add(declared[0])
                array = np.empty(declared, dtype)
                view = memoryview(array.reshape(-1).view(np.uint8))
                done = 0
                while done < len(view):
                    got = handle.readinto(view[done:])
                    if not got:
                        raise ModelFileError(f"The model file's weights are damaged: its {name} array is truncated.")
                    done += got
                if handle.read(1):
                    raise ModelFileError(f"The model file's weights are damaged: its {name} array is too long.")
            state[name] = array
    if len(rows) > 1:
        raise ModelFileError("The model file's contents are inconsistent: kNN examples and labels differ in number.")
    return state


def _check_budget(expected: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """Every array the metadata declares, added up, within the weights budget, before any is read:
    the counts a file declares bound each array, but only the budget bounds them all together."""
    total = sum(abs(int(np.prod(shape, dtype=object))) * np.dtype(dtype).itemsize for shape, dtype in expected.values())
    if total > MAX_TEACHABLE_WEIGHT_BYTES:
        raise ModelFileError(f"The model file is too large: it declares {total / 1e6:,.0f} MB of arrays, more than a "
                             f"Teachable model holds (at most {MAX_TEACHABLE_WEIGHT_BYTES / 1e6:,.0f} MB).")


def _shape_fits(declared: tuple, shape: tuple) -> bool:
    """``shape`` exactly, where a negative first dimension means 'at most that many'."""
    if len(declared) != len(shape):
        return False
    return all(d == s or (i == 0 and s < 0 and 0 <= d <= -s) for i, (d, s) in enumerate(zip(declared, shape)))


def unpack(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a `.teachable` file, both checked: the metadata field by field,
    every array's size against what the metadata implies before it is unpacked."""
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError("The model file is too large.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ModelFileError("This is not a Teachable model file (not a valid zip archive).") from None
    damaged = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, ValueError, NotImplementedError)
    with archive:
        try:
            raw_meta = _member(archive, "metadata.json", MAX_METADATA_BYTES)
        except damaged as exc:
            raise ModelFileError(f"The model file is damaged: {exc}.") from None
        try:
            meta = json.loads(raw_meta.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: a 5,000-digit number too
            raise ModelFileError(f"The model file's metadata is not valid JSON: {json_problem(exc)}.") from None
        meta = _check_metadata(meta)
        if meta["kind"] not in KINDS:
            raise ModelFileError(f"Projects of kind '{meta['kind'][:100]}' are not supported by this version of Teachable.")
        KINDS[meta["kind"]].check_backbone(meta["backbone"]["id"])
        expected = {**_expected_arrays(meta), **_expected_explanation(meta)}
        _check_budget(expected)
        # The weights are no bigger than the metadata says, before a byte of them is unpacked.
        bound = sum(ARRAY_OVERHEAD_BYTES + abs(int(np.prod(shape))) * dtype.itemsize for shape, dtype in expected.values())
        try:
            with _spooled_member(archive, "weights.npz", min(bound, MAX_WEIGHTS_BYTES)) as raw_weights:
                state = _read_weights(raw_weights, expected)
        except ModelFileError:
            raise
        except Exception:
            raise ModelFileError("The model file's weights are damaged or not plain arrays.") from None
    return meta, state

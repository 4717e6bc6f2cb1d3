"""TensorFlow.js layers-model files: ``model.json`` (topology + weights manifest) and ``weights.bin``.

Reading checks what the files declare against what they hold before any array is made: each weight's
size comes from its shape, the shards must add up to exactly those bytes, and shard paths must be plain
file names beside ``model.json``. Writing produces one float32 shard, as Teachable Machine does.
"""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path

import numpy as np

from ..budget import MAX_MODEL_WEIGHT_BYTES, ByteCounter
from ..embed.reading import read_source
from ..errors import ModelFileError, json_problem
from .layers import Graph, Weights, read_topology, show_value

MAX_MODEL_JSON_BYTES = 20 * 1024 * 1024
MAX_SHARDS = 1000
WEIGHTS_FILE = "weights.bin"
DTYPES = {"float32": np.float32, "int32": np.int32}


def read_json(path: Path, limit: int, missing: str) -> object:
    """A JSON file of at most ``limit`` bytes; ``missing``: what to say when there is none."""
    if not path.is_file():
        raise ModelFileError(missing)
    data = read_source(path, limit, ModelFileError, ModelFileError)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: a 5,000-digit number too
        raise ModelFileError(f"'{path.name}' is not valid JSON: {json_problem(exc)}.") from None


def _manifest_entries(manifest: object) -> list[tuple[list[str], list[object]]]:
    if not isinstance(manifest, list) or not manifest:
        raise ModelFileError("model.json has no weightsManifest.")
    groups = []
    for group in manifest:
        paths = group.get("paths") if isinstance(group, dict) else None
        weights = group.get("weights") if isinstance(group, dict) else None
        if not isinstance(paths, list) or not isinstance(weights, list) or not paths or len(paths) > MAX_SHARDS:
            raise ModelFileError("model.json's weightsManifest has a group without paths or weights.")
        for name in paths:
            if (not isinstance(name, str) or not name or len(name) > 255 or name in (".", "..")
                    or any(ch in name for ch in "/\\\x00")):
                raise ModelFileError(f"model.json names a weights file {show_value(name)} outside its folder.")
        groups.append((paths, weights))
    return groups


def _spec(entry: object) -> tuple[str, tuple[int, ...], np.dtype, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or len(entry["name"]) > 400:
        raise ModelFileError("model.json's weightsManifest has an entry with no name.")
    shape = entry.get("shape")
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_MODEL_WEIGHT_BYTES for v in shape)):
        raise ModelFileError(f"The weight '{entry['name']}' has an invalid shape.")
    if "quantization" in entry:
        raise ModelFileError(f"The weight '{entry['name']}' is quantised; only float32 TF.js models are read.")
    dtype_name = entry.get("dtype", "float32")
    dtype = DTYPES.get(dtype_name) if isinstance(dtype_name, str) else None
    if dtype is None:
        raise ModelFileError(f"The weight '{entry['name']}' has the unsupported dtype {show_value(dtype_name)}.")
    count = math.prod(shape)  # Python integers: no overflow, however many dimensions
    return entry["name"], tuple(shape), np.dtype(dtype), count * np.dtype(dtype).itemsize


def _shard_size(folder: Path, name: str) -> int:
    """A shard's size; it must be a plain file in the model's folder (a link could read any file)."""
    try:
        info = (folder / name).lstat()
    except OSError:
        raise ModelFileError(f"The weights file '{name}' that model.json names is missing.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"The weights file '{name}' is a link or not a plain file; Teachable reads only plain "
                             "files beside model.json.")
    return info.st_size


def read_weights(folder: Path, manifest: object) -> dict[str, np.ndarray]:
    """Every weight the manifest names, read from its shards (sizes checked before reading)."""
    arrays: dict[str, np.ndarray] = {}
    # Counted as the float32 each weight becomes, plus the shard bytes read: refused before reading.
    budget = ByteCounter(MAX_MODEL_WEIGHT_BYTES, lambda limit: ModelFileError(
        f"The model declares more than {limit // 2**20} MB of weights; Teachable reads models up to that."))
    for paths, entries in _manifest_entries(manifest):
        specs = [_spec(e) for e in entries]
        needed = sum(s[3] for s in specs)
        budget.add(needed + sum(s[3] // s[2].itemsize * 4 for s in specs))
        sizes = [_shard_size(folder, name) for name in paths]
        if sum(sizes) != needed:
            raise ModelFileError(
                f"The weights files hold {sum(sizes)} bytes but model.json declares {needed}: "
                "a truncated or mismatched weights.bin."
            )
        data = b"".join(read_source(folder / name, size, ModelFileError, ModelFileError) for name, size in zip(paths, sizes))
        if len(data) != needed:
            raise ModelFileError("The weights files changed while they were read.")
        offset = 0
        for name, shape, dtype, size in specs:
            if name in arrays:
                raise ModelFileError(f"model.json declares the weight '{name}' twice.")
            array = np.frombuffer(data, dtype, count=size // dtype.itemsize, offset=offset).reshape(shape)
            if not np.isfinite(array).all():
                raise ModelFileError(f"The weight '{name}' holds non-finite numbers.")
            arrays[name] = array.astype(np.float32)
            offset += size
        del data
    return arrays


def read_model_json(path: Path) -> tuple[Graph, Weights, dict]:
    """A layers model from ``model.json`` and its shards: (graph, weights, the raw JSON)."""
    document = read_json(path, MAX_MODEL_JSON_BYTES, f"There is no model.json at '{path}'.")
    if not isinstance(document, dict) or "modelTopology" not in document:
        raise ModelFileError(f"'{path.name}' is not a TensorFlow.js model (no modelTopology).")
    if document.get("format") not in (None, "layers-model"):
        raise ModelFileError(f"'{path.name}' is a TensorFlow.js {document.get('format')}; only layers models are read.")
    graph = read_topology(document["modelTopology"])
    return graph, Weights(read_weights(path.parent, document.get("weightsManifest"))), document


def weights_manifest(named: list[tuple[str, np.ndarray]], file_name: str = WEIGHTS_FILE) -> tuple[list, bytes]:
    """The manifest and the bytes of one float32 shard holding ``named`` in order."""
    entries, chunks = [], []
    for name, array in named:
        array = np.ascontiguousarray(array, "<f4")
        entries.append({"name": name, "shape": list(array.shape), "dtype": "float32"})
        chunks.append(array.tobytes())
    return [{"paths": [file_name], "weights": entries}], b"".join(chunks)


def model_json(graph: Graph, named: list[tuple[str, np.ndarray]], name: str, generated_by: str) -> tuple[dict, bytes]:
    """``model.json`` (as a dict) and ``weights.bin`` for a graph and its weights."""
    manifest, data = weights_manifest(named)
    document = {
        "format": "layers-model",
        "generatedBy": generated_by,
        "convertedBy": None,
        "modelTopology": graph.to_topology(name),
        "weightsManifest": manifest,
    }
    return document, data

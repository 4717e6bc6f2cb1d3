"""TensorFlow.js layers-model files: ``model.json`` (topology + weights manifest) and ``weights.bin``.

Reading checks what the files declare against what they hold before any array is made: each weight's
size comes from its shape, the shards must add up to exactly those bytes, and shard paths must be plain
file names beside ``model.json``. Writing produces one float32 shard, as Teachable Machine does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..embed.reading import read_source
from ..errors import ModelFileError
from .layers import Graph, Weights, read_topology

MAX_MODEL_JSON_BYTES = 20 * 1024 * 1024
MAX_WEIGHT_BYTES = 512 * 1024 * 1024
WEIGHTS_FILE = "weights.bin"
DTYPES = {"float32": np.float32, "int32": np.int32}


def read_json(path: Path, limit: int, missing: str) -> object:
    """A JSON file of at most ``limit`` bytes; ``missing``: what to say when there is none."""
    if not path.is_file():
        raise ModelFileError(missing)
    data = read_source(path, limit, ModelFileError, ModelFileError)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"'{path.name}' is not valid JSON: {exc}.") from None


def _manifest_entries(manifest: object) -> list[tuple[list[str], list[dict]]]:
    if not isinstance(manifest, list) or not manifest:
        raise ModelFileError("model.json has no weightsManifest.")
    groups = []
    for group in manifest:
        paths, weights = (group or {}).get("paths"), (group or {}).get("weights")
        if not isinstance(paths, list) or not isinstance(weights, list) or not paths:
            raise ModelFileError("model.json's weightsManifest has a group without paths or weights.")
        for name in paths:
            if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
                raise ModelFileError(f"model.json names a weights file '{name}' outside its folder.")
        groups.append((paths, weights))
    return groups


def _spec(entry: object) -> tuple[str, tuple[int, ...], np.dtype, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ModelFileError("model.json's weightsManifest has an entry with no name.")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(v, int) and 0 <= v <= 1 << 24 for v in shape):
        raise ModelFileError(f"The weight '{entry['name']}' has an invalid shape.")
    if "quantization" in entry:
        raise ModelFileError(f"The weight '{entry['name']}' is quantised; only float32 TF.js models are read.")
    dtype = DTYPES.get(entry.get("dtype", "float32"))
    if dtype is None:
        raise ModelFileError(f"The weight '{entry['name']}' has the unsupported dtype '{entry.get('dtype')}'.")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return entry["name"], tuple(shape), np.dtype(dtype), count * np.dtype(dtype).itemsize


def read_weights(folder: Path, manifest: object) -> dict[str, np.ndarray]:
    """Every weight the manifest names, read from its shards (sizes checked before reading)."""
    arrays: dict[str, np.ndarray] = {}
    total = 0
    for paths, entries in _manifest_entries(manifest):
        specs = [_spec(e) for e in entries]
        needed = sum(s[3] for s in specs)
        total += needed
        if total > MAX_WEIGHT_BYTES:
            raise ModelFileError(f"The model declares more than {MAX_WEIGHT_BYTES} bytes of weights.")
        sizes = []
        for name in paths:
            try:
                sizes.append((folder / name).stat().st_size)
            except OSError:
                raise ModelFileError(f"The weights file '{name}' that model.json names is missing.") from None
        if sum(sizes) != needed:
            raise ModelFileError(
                f"The weights files hold {sum(sizes)} bytes but model.json declares {needed}: "
                "a truncated or mismatched weights.bin."
            )
        data = b"".join((folder / name).read_bytes() for name in paths)
        offset = 0
        for name, shape, dtype, size in specs:
            if name in arrays:
                raise ModelFileError(f"model.json declares the weight '{name}' twice.")
            array = np.frombuffer(data, dtype, count=size // dtype.itemsize, offset=offset).reshape(shape)
            if not np.isfinite(array).all():
                raise ModelFileError(f"The weight '{name}' holds non-finite numbers.")
            arrays[name] = array.astype(np.float32)
            offset += size
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

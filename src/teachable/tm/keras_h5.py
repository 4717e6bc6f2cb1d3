"""Keras ``.h5`` models as Teachable Machine exports them (``keras_model.h5``), read with h5py alone.

No Keras or TensorFlow is involved, so the files keep working whatever Keras version is current:
the topology is the ``model_config`` attribute (the same vocabulary as tfjs-layers, read by
:mod:`teachable.tm.layers`) and the weights are datasets named ``.../<layer>/<param>:0``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..budget import MAX_MODEL_WEIGHT_BYTES, ByteCounter
from ..errors import ModelFileError, json_problem
from .layers import Graph, Weights, read_topology

MAX_H5_BYTES = 256 * 1024 * 1024
MAX_DATASETS = 5000
MAX_CONFIG_CHARS = 20 * 1024 * 1024
MAX_DEPTH = 32  # nested groups (Teachable Machine's files nest 4)
MAX_LINKS = 20_000  # objects in the whole file
MAX_CHUNKS = 20_000  # HDF5 chunks of one array (a Keras file stores each weight whole, or in a few)
CHUNK_OVERHEAD_BYTES = 8 * 1024
# HDF5's own filters (deflate, shuffle, fletcher32, szip, n-bit, scale-offset) and h5py's LZF;
# any other filter id would make HDF5 look for a plug-in library.
FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _walk(handle, name: str) -> list[tuple[str, object]]:
    """Every dataset under ``model_weights``, found in one walk of the whole file that refuses links to
    other files (a model from elsewhere may not read them), more than ``MAX_DEPTH`` nested groups and
    more than ``MAX_LINKS`` links: HDF5's own recursive visit builds every path anew (quadratic in the
    depth), and a group hard-linked into its own child would never end."""
    import h5py

    found: list[tuple[str, object]] = []
    seen = 0
    stack = [("", handle, 0)]
    while stack:
        prefix, group, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelFileError(f"'{name}' nests groups more than {MAX_DEPTH} deep; a Keras model needs a few.")
        for key in group.keys():
            seen += 1
            if seen > MAX_LINKS:
                raise ModelFileError(f"'{name}' holds more than {MAX_LINKS} objects; a Keras model holds far fewer.")
            link = group.get(key, getlink=True)
            path = f"{prefix}{key}"
            if isinstance(link, h5py.ExternalLink):
                raise ModelFileError(f"'{name}' links to another file ({path[:80]!r}); Teachable reads self-contained "
                                     "models only.")
            if not isinstance(link, h5py.HardLink):
                continue  # a soft link names an object reached by its own path, or nothing
            item = group[key]
            if isinstance(item, h5py.Group):
                stack.append((path + "/", item, depth + 1))
            elif isinstance(item, h5py.Dataset) and path.startswith("model_weights/"):
                if len(found) >= MAX_DATASETS:
                    raise ModelFileError(f"'{name}' holds more than {MAX_DATASETS} arrays.")
                found.append((path[len("model_weights/"):], item))
    return sorted(found, key=lambda entry: entry[0])


def _checked_dataset(item, key: str, name: str, budget: ByteCounter):
    """A weight array's storage checked before a byte of it is read: kept inside this file (no
    external raw storage, no virtual dataset), built-in filters only, its decompressed size (and
    its chunks') counted against the budget."""
    import h5py

    plist = item.id.get_create_plist()
    if plist.get_layout() not in (h5py.h5d.COMPACT, h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED) or plist.get_external_count():
        raise ModelFileError(f"'{name}' stores the weight '{key}' outside the file (external or virtual storage); "
                             "Teachable reads self-contained models only.")
    filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    if not filters <= FILTERS:
        raise ModelFileError(f"'{name}' compresses the weight '{key}' with a filter Teachable does not read.")
    if item.dtype.kind != "f" or item.dtype.itemsize > 8 or item.ndim > 8:
        raise ModelFileError(f"'{name}' holds an unexpected array '{key}'.")
    chunk = math.prod(item.chunks) * item.dtype.itemsize if item.chunks else 0
    chunks = math.prod(-(-n // c) for n, c in zip(item.shape, item.chunks)) if item.chunks else 0
    if chunks > MAX_CHUNKS:
        raise ModelFileError(f"'{name}' stores the weight '{key}' in {chunks:,} pieces (HDF5 chunks); reading so many "
                             f"costs far more memory than the weights (Teachable reads up to {MAX_CHUNKS:,}).")
    # the array as stored, the float32 copy made of it, one chunk's decompression buffer, and
    # HDF5's index and cache entries for every chunk (measured: ~4.5 kB each)
    budget.add(item.size * item.dtype.itemsize + item.size * 4 + chunk + chunks * CHUNK_OVERHEAD_BYTES)
    return item


def read_h5(path: Path) -> tuple[Graph, Weights]:
    """The graph and weights of a Keras HDF5 model file."""
    try:
        import h5py
    except ImportError:  # a dependency, but say so plainly if a broken install lacks it
        raise ModelFileError("Reading Keras .h5 files needs h5py: pip install h5py.") from None
    try:
        size = path.stat().st_size
    except OSError:
        raise ModelFileError(f"There is no model file at '{path}'.") from None
    if size > MAX_H5_BYTES:
        raise ModelFileError(f"'{path.name}' is larger than a Teachable Machine model can be ({MAX_H5_BYTES} bytes).")
    try:
        handle = h5py.File(path, "r", locking=False)
    except (OSError, ValueError):
        raise ModelFileError(f"'{path.name}' is not an HDF5 file (a Keras .h5 model).") from None
    try:
        with handle:
            return _read_model(handle, path.name)
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # h5py's way of saying "damaged"
        raise ModelFileError(f"'{path.name}' is a damaged HDF5 file: {str(exc)[:200]}.") from None


def _read_model(handle, name: str) -> tuple[Graph, Weights]:
    import h5py

    datasets = _walk(handle, name)  # first: nothing else is read from a file that links elsewhere
    weights_group = handle.get("model_weights", getlink=True)
    if "model_config" not in handle.attrs or not isinstance(weights_group, h5py.HardLink):
        raise ModelFileError(f"'{name}' is an HDF5 file but not a Keras model (no model_config / model_weights).")
    raw = handle.attrs["model_config"]
    if not isinstance(raw, bytes | str) or len(raw) > MAX_CONFIG_CHARS:
        raise ModelFileError(f"'{name}' has an unreadable model_config.")
    try:
        config = json.loads(_text(raw))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"'{name}' has an unreadable model_config: {json_problem(exc)}.") from None
    graph = read_topology(config)
    budget = ByteCounter(MAX_MODEL_WEIGHT_BYTES, lambda limit: ModelFileError(
        f"'{name}' holds more than {limit // 2**20} MB of weights; Teachable reads models up to that."))
    checked = []
    for path, item in datasets:
        parts = path.split("/")
        if len(parts) < 2:
            raise ModelFileError(f"'{name}' holds an unexpected array '{path[:80]}'.")
        key = f"{parts[-2]}/{parts[-1].split(':')[0]}"
        checked.append((key, _checked_dataset(item, key, name, budget)))
    arrays: dict[str, np.ndarray] = {}
    for key, item in checked:  # every array checked before the first is read
        if key in arrays:
            raise ModelFileError(f"'{name}' holds two weights named '{key}'.")
        array = np.asarray(item[()], np.float32)
        if not np.isfinite(array).all():
            raise ModelFileError(f"The weight '{key}' holds non-finite numbers.")
        arrays[key] = array
    return graph, Weights(arrays)

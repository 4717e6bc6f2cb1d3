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
# HDF5's own filters (deflate, shuffle, fletcher32, szip, n-bit, scale-offset) and h5py's LZF;
# any other filter id would make HDF5 look for a plug-in library.
FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _refuse_links_out(handle, name: str) -> None:
    """An HDF5 file can point at other files (external links); a model from elsewhere may not."""
    import h5py

    found: list[str] = []

    def visit(path: str, link) -> bool | None:
        if isinstance(link, h5py.ExternalLink):
            found.append(path)
            return True  # stops the visit (h5py cannot carry an exception out of it)
        return None

    handle.visititems_links(visit)
    if found:
        raise ModelFileError(f"'{name}' links to another file ({found[0][:80]!r}); Teachable reads self-contained models only.")


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
    # the array as stored, the float32 copy made of it, and one chunk's decompression buffer
    budget.add(item.size * item.dtype.itemsize + item.size * 4 + chunk)
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

    _refuse_links_out(handle, name)
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
    datasets: list = []

    def collect(path: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            if len(datasets) >= MAX_DATASETS:
                raise ModelFileError(f"'{name}' holds more than {MAX_DATASETS} arrays.")
            datasets.append((path, item))

    handle["model_weights"].visititems(collect)
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

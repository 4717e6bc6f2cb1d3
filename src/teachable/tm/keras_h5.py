"""Keras ``.h5`` models as Teachable Machine exports them (``keras_model.h5``), read with h5py alone.

No Keras or TensorFlow is involved, so the files keep working whatever Keras version is current:
the topology is the ``model_config`` attribute (the same vocabulary as tfjs-layers, read by
:mod:`teachable.tm.layers`) and the weights are datasets named ``.../<layer>/<param>:0``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from .layers import Graph, Weights, read_topology

MAX_H5_BYTES = 512 * 1024 * 1024
MAX_DATASETS = 5000


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


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
        handle = h5py.File(path, "r")
    except OSError:
        raise ModelFileError(f"'{path.name}' is not an HDF5 file (a Keras .h5 model).") from None
    with handle:
        if "model_config" not in handle.attrs or "model_weights" not in handle:
            raise ModelFileError(f"'{path.name}' is an HDF5 file but not a Keras model (no model_config / model_weights).")
        try:
            config = json.loads(_text(handle.attrs["model_config"]))
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"'{path.name}' has an unreadable model_config: {exc}.") from None
        graph = read_topology(config)
        arrays: dict[str, np.ndarray] = {}
        datasets: list = []

        def collect(name: str, item) -> None:
            if isinstance(item, h5py.Dataset):
                if len(datasets) >= MAX_DATASETS:
                    raise ModelFileError(f"'{path.name}' holds more than {MAX_DATASETS} arrays.")
                datasets.append((name, item))

        handle["model_weights"].visititems(collect)
        for name, item in datasets:
            parts = name.split("/")
            if len(parts) < 2 or item.dtype.kind != "f" or item.size * item.dtype.itemsize > MAX_H5_BYTES:
                raise ModelFileError(f"'{path.name}' holds an unexpected array '{name}'.")
            key = f"{parts[-2]}/{parts[-1].split(':')[0]}"
            if key in arrays:
                raise ModelFileError(f"'{path.name}' holds two weights named '{key}'.")
            array = np.asarray(item[()], np.float32)
            if not np.isfinite(array).all():
                raise ModelFileError(f"The weight '{key}' holds non-finite numbers.")
            arrays[key] = array
    return graph, Weights(arrays)

"""Small model files crafted as an attacker would (issue 22): a real, runnable TF.js or Keras model
of a few layers, then one config value or storage detail changed. Each must be refused with a
ModelFileError sentence, within the memory budget."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SIDE = 16


def tiny_topology(side: int = SIDE) -> dict:
    """Input side x side x 3 -> Conv2D(2, 3x3) -> global average -> Dense(2, softmax): Teachable
    Machine's vocabulary (a Sequential holding a functional Model), small enough to build by hand."""
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input", "batch_input_shape": [None, side, side, 3]}},
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [3, 3], "strides": [1, 1],
                                             "padding": "same", "dilation_rate": [1, 1], "activation": "relu"}},
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "pool"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "softmax"}},
    ]}}


def tiny_weights() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [("conv/kernel", rng.normal(size=(3, 3, 3, 2)).astype("<f4")), ("conv/bias", np.zeros(2, "<f4")),
            ("dense/kernel", rng.normal(size=(2, 2)).astype("<f4")), ("dense/bias", np.zeros(2, "<f4"))]


def write_tfjs(folder: Path, topology: dict | None = None, manifest: list | None = None,
               weights: bytes | None = None, image_size: int = SIDE) -> Path:
    """A TF.js export folder (model.json, weights.bin, metadata.json); returns model.json's path."""
    folder.mkdir(parents=True, exist_ok=True)
    named = tiny_weights()
    default_manifest = [{"paths": ["weights.bin"], "weights": [
        {"name": name, "shape": list(array.shape), "dtype": "float32"} for name, array in named]}]
    document = {"format": "layers-model", "modelTopology": tiny_topology() if topology is None else topology,
                "weightsManifest": default_manifest if manifest is None else manifest}
    (folder / "model.json").write_text(json.dumps(document))
    (folder / "weights.bin").write_bytes(b"".join(a.tobytes() for _, a in named) if weights is None else weights)
    (folder / "metadata.json").write_text(json.dumps({"labels": ["a", "b"], "imageSize": image_size}))
    return folder / "model.json"


def with_layer(change: dict, index: int = 1) -> dict:
    """The tiny topology with ``change`` merged into layer ``index``'s config."""
    topology = copy.deepcopy(tiny_topology())
    topology["config"]["layers"][index]["config"].update(change)
    return topology


def with_extra_layer(layer: dict, at: int = 2) -> dict:
    topology = copy.deepcopy(tiny_topology())
    topology["config"]["layers"].insert(at, layer)
    return topology


def write_h5(path: Path, topology: dict | None = None, arrays: dict | None = None) -> Path:
    """A Keras .h5 as Teachable Machine writes one (model_config + model_weights/<layer>/<layer>/<p>:0),
    with labels.txt beside it; ``arrays``: name -> callable(group) making each dataset instead."""
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(topology or tiny_topology())
        group = handle.create_group("model_weights")
        if arrays is None:
            for name, array in tiny_weights():
                layer, param = name.split("/")
                group.create_dataset(f"{layer}/{layer}/{param}:0", data=array)
        else:
            for name, make in arrays.items():
                make(group, name)
    (path.parent / "labels.txt").write_text("0 a\n1 b\n")
    return path


LOAD_AND_MEASURE = """
import json, resource, sys, time
from teachable.errors import ModelFileError
from teachable.tm.models import load_teachable_machine
start = time.process_time()
try:
    load_teachable_machine(sys.argv[1])
    outcome = "loaded"
except ModelFileError as exc:
    outcome = "ModelFileError: " + str(exc)
except BaseException as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:300]
peak = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))
print(json.dumps({"outcome": outcome, "peak": peak, "cpu": time.process_time() - start}))
"""


def load_measured(path: Path, limit_gb: float = 4.0) -> dict:
    """Load a model in a child process (address space capped so a failure cannot take the
    machine): its outcome, peak resident memory (VmHWM) and CPU seconds."""
    cap = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({int(limit_gb * 2**30)}, {int(limit_gb * 2**30)}))\n"
    result = subprocess.run([sys.executable, "-c", cap + LOAD_AND_MEASURE, str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.stdout, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])

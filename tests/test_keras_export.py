"""Keras export: keras_model.h5 + labels.txt as Teachable Machine's "Tensorflow → Keras" download,
loaded by Teachable Machine's own snippet, unchanged, in Keras 2 (TensorFlow 2.15's tf.keras) and in
Keras 3 (PyPI's keras on PyTorch), each in a test-only virtualenv, predicting what Teachable predicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import teachable
from teachable.cli import main
from teachable.dataset import Dataset
from teachable.embed.preprocess import pixels
from teachable.tm.models import load_teachable_machine

from photos import photo, random_view, write_views

# What each Keras goes into its own virtualenv with (Keras 3 on the PyTorch already on this disk).
KERAS = {
    "keras2": (["tensorflow-cpu==2.15.*", "pillow"], {}),
    "keras3": (["keras>=3.5,<4", "torch==2.13.0", "h5py", "pillow"], {"KERAS_BACKEND": "torch"}),
}
PROBABILITIES = """
import json, sys
import numpy as np
from keras.models import load_model
model = load_model("keras_model.h5", compile=False)
x = np.load(sys.argv[1]).astype(np.float32) / 127.5 - 1
print(json.dumps(model.predict(x, verbose=0).tolist()))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras")
    model = teachable.train(Dataset.from_folder(write_views(root / "data", 5, 91, ["cat", "rocket", "coffee"])),
                            classifier="head", epochs=20)
    model.save(root / "m.teachable")
    result = CliRunner().invoke(main, ["export", str(root / "m.teachable"), "--format", "keras", "-o", str(root / "out")])
    assert result.exit_code == 0, result.output
    rng = np.random.default_rng(92)
    squares = []
    for i, name in enumerate(["cat", "rocket", "coffee", "cat"]):
        square = random_view(photo(name), rng).resize((224, 224))
        square.save(root / f"photo{i}.png")
        squares.append(np.asarray(square))
    np.save(root / "pixels.npy", np.stack(squares))
    expected = np.array([[model.predict(s).confidences[label] for label in model.labels] for s in squares])
    return {"root": root, "out": root / "out", "model": model, "expected": expected}


def test_the_bundle_is_teachable_machines_two_files(exported):
    out = exported["out"]
    assert {"keras_model.h5", "labels.txt", "predict_keras.py", "README.md"} <= {p.name for p in out.iterdir()}
    assert (out / "labels.txt").read_text().splitlines() == [f"{i} {label}" for i, label in enumerate(exported["model"].labels)]
    assert 'load_model(str(HERE / "keras_model.h5"), compile=False)' in (out / "predict_keras.py").read_text()
    # usage on --help and with no argument, at once, before TensorFlow (not installed here) is imported
    import sys

    helped = subprocess.run([sys.executable, str(out / "predict_keras.py"), "--help"], capture_output=True, text=True,
                            timeout=60, cwd=exported["root"])
    bare = subprocess.run([sys.executable, str(out / "predict_keras.py")], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python predict_keras.py PHOTO")
    assert bare.returncode == 2 and bare.stderr.startswith("usage:")
    import h5py

    with h5py.File(out / "keras_model.h5") as f:
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Functional"
        assert not any("groups" in layer["config"] for layer in config["config"]["layers"])  # what Keras 3 refuses


def test_teachables_own_reader_reads_it_back_exactly(exported):
    tm = load_teachable_machine(exported["out"])
    got = tm.probabilities(np.load(exported["root"] / "pixels.npy"))
    assert np.abs(got - exported["expected"]).max() <= 1e-4


def test_a_knn_model_is_refused_with_a_way_out(tmp_path):
    model = teachable.train(Dataset.from_folder(write_views(tmp_path / "d", 3, 93, ["cat", "rocket"])), classifier="knn")
    model.save(tmp_path / "knn.teachable")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "knn.teachable"), "--format", "keras", "-o", str(tmp_path / "o")])
    assert result.exit_code != 0 and "trained head" in result.output and not (tmp_path / "o").exists()


def keras_venv(name: str, where: Path) -> tuple[Path, dict]:
    """A fresh virtualenv with one Keras; skips when the package index cannot be reached."""
    packages, env = KERAS[name]
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    out = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0 and any(s in out.stderr for s in ("NewConnectionError", "Temporary failure in name resolution",
                                                              "No matching distribution")):
        pytest.skip(f"{name} cannot be installed here: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr
    return python, env


@pytest.fixture(scope="module")
def venvs(tmp_path_factory) -> dict:
    """Both test-only virtualenvs, installed at the same time (each install mostly waits on the network)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("venvs")
    with ThreadPoolExecutor(len(KERAS)) as pool:
        made = {name: pool.submit(keras_venv, name, root / name) for name in KERAS}
    return {name: future for name, future in made.items()}


@pytest.mark.parametrize("keras", list(KERAS))
def test_teachable_machines_snippet_loads_it_unchanged(keras, venvs, exported, tmp_path):
    import os

    python, extra = venvs[keras].result()  # a skip (package index unreachable) is raised here
    env = {**os.environ, **extra, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    out = exported["out"]
    (tmp_path / "probabilities.py").write_text(PROBABILITIES)
    run = subprocess.run([str(python), str(tmp_path / "probabilities.py"), str(exported["root"] / "pixels.npy")],
                         cwd=out, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
    assert np.abs(got - exported["expected"]).max() <= 1e-4  # the same pixels: what Teachable predicts
    # Teachable Machine's snippet itself, as the bundle has it, on a 224x224 photo (ImageOps.fit keeps it as is)
    snippet = subprocess.run([str(python), str(out / "predict_keras.py"), str(exported["root"] / "photo1.png")],
                             cwd=tmp_path,  # from another folder: it reads the model beside it
                             capture_output=True, text=True, timeout=600, env=env)
    assert snippet.returncode == 0, snippet.stderr[-2000:]
    model = exported["model"]
    best = int(np.argmax(exported["expected"][1]))
    assert f"Class: {model.labels[best]}" in snippet.stdout, snippet.stdout
    score = float(snippet.stdout.split("Confidence Score:")[1].split()[0])
    assert abs(score - exported["expected"][1][best]) <= 1e-4

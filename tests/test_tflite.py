"""TensorFlow Lite export (the optional `teachable[tflite]` extra), checked with ai-edge-litert's
interpreter on real photos: float32 within 1e-3 of Teachable, int8 agreeing on the top class."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import teachable
from teachable.embed.preprocess import prepare
from teachable.export.tflite import tflite_available, tflite_input

pytestmark = pytest.mark.skipif(not tflite_available(), reason="needs the teachable[tflite] extra")


@pytest.fixture(scope="module")
def model(fewshot_train):
    return teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="head", epochs=30)


@pytest.fixture(scope="module")
def bundle(model, fewshot_train, tmp_path_factory):
    from teachable.export.bundle import write_bundle

    calibration = [prepare(p) for p in sorted(fewshot_train.rglob("*.jpg"))]
    return write_bundle(model, tmp_path_factory.mktemp("tfl") / "bundle", "tflite", calibration)


def run(path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    output = next(d for d in interpreter.get_output_details() if len(d["shape"]) == 2)
    rows = []
    for image in x:
        interpreter.set_tensor(source["index"], tflite_input(image[None], source))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(output["index"])[0].copy())
    return np.stack(rows)


def test_float32_matches_teachable(model, bundle, fewshot_test):
    images = sorted(fewshot_test.rglob("*.jpg"))
    expected = model.predict_batch(images)
    reference = np.array([[p.confidences[name] for name in model.labels] for p in expected])
    probabilities = run(bundle / "model.tflite", np.stack([prepare(p) for p in images]))
    assert [model.labels[i] for i in probabilities.argmax(1)] == [p.label for p in expected]
    assert np.abs(probabilities - reference).max() <= 1e-3


def test_int8_agrees_on_held_out_views(model, bundle, fewshot_test):
    from photos import PHOTOS, photo, random_view

    rng = np.random.default_rng(99)  # views never used for training or calibration
    views = [random_view(photo(name), rng) for name in PHOTOS for _ in range(10)]
    expected = [p.label for p in model.predict_batch(views)]
    probabilities = run(bundle / "model_int8.tflite", np.stack([prepare(v) for v in views]))
    agreement = np.mean([model.labels[i] == e for i, e in zip(probabilities.argmax(1), expected)])
    assert agreement >= 0.98, agreement
    assert (bundle / "model_int8.tflite").stat().st_size < (bundle / "model.tflite").stat().st_size / 2


def test_predict_tflite_script(bundle, fewshot_test):
    images = [sorted((fewshot_test / name).glob("*.jpg"))[0] for name in ("cat", "rocket")]
    for flag in ([], ["--int8"]):
        out = subprocess.run([sys.executable, str(bundle / "predict_tflite.py"), *flag, *map(str, images)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert [line.split(": ")[1].split()[0] for line in out.stdout.strip().splitlines()] == ["cat", "rocket"]

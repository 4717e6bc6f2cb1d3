"""TensorFlow Lite export (the optional `teachable[tflite]` extra), shaped like Teachable Machine's:
checked with ai-edge-litert's interpreter on real photos, and read the way the Android Task Library
and MediaPipe read a model (its metadata: normalisation, labels file, tensors)."""

from __future__ import annotations

import json
import subprocess
import zipfile

import numpy as np
import pytest

import teachable
from teachable.embed.preprocess import prepare
from teachable.export.tflite import FLOAT_FILE, QUANTISED_FILE, tflite_available, tflite_input, tflite_output

pytestmark = pytest.mark.skipif(not tflite_available(), reason="needs the teachable[tflite] extra")


@pytest.fixture(scope="module")
def model(fewshot_train):
    return teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="head", epochs=30)


@pytest.fixture(scope="module")
def bundle(model, fewshot_train, tmp_path_factory):
    from teachable.export.bundle import write_bundle

    calibration = [prepare(p) for p in sorted(fewshot_train.rglob("*.jpg"))]
    return write_bundle(model, tmp_path_factory.mktemp("tfl") / "bundle", "tflite", calibration)


def interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    engine = Interpreter(model_path=str(path))
    engine.allocate_tensors()
    return engine


def run(path, x: np.ndarray) -> np.ndarray:
    engine = interpreter(path)
    (source,), (output,) = engine.get_input_details(), engine.get_output_details()
    rows = []
    for image in x:
        engine.set_tensor(source["index"], tflite_input(image[None], source))
        engine.invoke()
        rows.append(tflite_output(engine.get_tensor(output["index"])[0], output))
    return np.stack(rows)


def test_float_model_matches_teachable(model, bundle, fewshot_test):
    images = sorted(fewshot_test.rglob("*.jpg"))
    expected = model.predict_batch(images)
    reference = np.array([[p.confidences[name] for name in model.labels] for p in expected])
    probabilities = run(bundle / FLOAT_FILE, np.stack([prepare(p) for p in images]))
    assert [model.labels[i] for i in probabilities.argmax(1)] == [p.label for p in expected]
    assert np.abs(probabilities - reference).max() <= 1e-3


def test_quantised_model_agrees_on_held_out_views(model, bundle):
    from photos import PHOTOS, photo, random_view

    rng = np.random.default_rng(99)  # views never used for training or calibration
    views = [random_view(photo(name), rng) for name in PHOTOS for _ in range(10)]
    expected = [p.label for p in model.predict_batch(views)]
    probabilities = run(bundle / QUANTISED_FILE, np.stack([prepare(v) for v in views]))
    agreement = np.mean([model.labels[i] == e for i, e in zip(probabilities.argmax(1), expected)])
    assert agreement >= 0.95, agreement
    assert (bundle / QUANTISED_FILE).stat().st_size < (bundle / FLOAT_FILE).stat().st_size / 2.5


def test_files_are_shaped_like_teachable_machines(model, bundle):
    assert (bundle / "labels.txt").read_text().splitlines() == [f"{i} {name}" for i, name in enumerate(model.labels)]
    for name, dtype in ((FLOAT_FILE, np.float32), (QUANTISED_FILE, np.uint8)):
        engine = interpreter(bundle / name)
        inputs, outputs = engine.get_input_details(), engine.get_output_details()
        assert [(d["name"], list(d["shape"]), d["dtype"]) for d in inputs] == [("image", [1, 224, 224, 3], dtype)]
        assert [(d["name"], list(d["shape"]), d["dtype"]) for d in outputs] == [
            ("probabilities", [1, len(model.labels)], dtype)]
        signature = engine.get_signature_list()["serving_default"]
        assert signature == {"inputs": ["image"], "outputs": ["probabilities"]}
    engine = interpreter(bundle / QUANTISED_FILE)
    assert engine.get_output_details()[0]["quantization"] == pytest.approx((1 / 255, 0))
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["input"]["layout"] == "NHWC" and set(meta["input"]["files"]) == {FLOAT_FILE, QUANTISED_FILE}


def test_metadata_reads_as_the_task_library_reads_it(model, bundle, fewshot_test):
    """MediaPipe's metadata reader (the Task Library's, ported) finds the normalisation and the
    labels; a classifier applying them as the Task Library does gives Teachable's answers."""
    metadata = pytest.importorskip("mediapipe.tasks.python.metadata.metadata")
    images = sorted(fewshot_test.rglob("*.jpg"))[::3]
    expected = model.predict_batch(images)
    for name in (FLOAT_FILE, QUANTISED_FILE):
        displayer = metadata.MetadataDisplayer.with_model_file(str(bundle / name))
        info = json.loads(displayer.get_metadata_json())
        (subgraph,) = info["subgraph_metadata"]
        (image,), (scores,) = subgraph["input_tensor_metadata"], subgraph["output_tensor_metadata"]
        assert image["content"]["content_properties_type"] == "ImageProperties"
        assert image["content"]["content_properties"]["color_space"] == "RGB"
        (unit,) = image["process_units"]
        assert unit["options_type"] == "NormalizationOptions"
        mean, std = unit["options"]["mean"][0], unit["options"]["std"][0]
        assert scores["content"]["content_properties_type"] == "FeatureProperties"
        (labels_file,) = scores["associated_files"]
        assert labels_file["type"] == "TENSOR_AXIS_LABELS"
        assert displayer.get_packed_associated_file_list() == [labels_file["name"]]
        with zipfile.ZipFile(bundle / name) as archive:  # the attached file, as the Task Library unpacks it
            labels = archive.read(labels_file["name"]).decode().splitlines()
        assert labels == model.labels
        engine = interpreter(bundle / name)
        (source,), (output,) = engine.get_input_details(), engine.get_output_details()
        for path, truth in zip(images, expected):
            pixels = prepare(path).transpose(1, 2, 0) * 128 + 127  # the 224 x 224 RGB picture
            if source["dtype"] == np.float32:  # the Task Library normalises float inputs only
                x = ((pixels - mean) / std).astype(np.float32)
            else:
                x = np.round(pixels).astype(np.uint8)
            engine.set_tensor(source["index"], x[None])
            engine.invoke()
            raw = engine.get_tensor(output["index"])[0].astype(np.float32)
            scale, zero_point = output["quantization"] if output["dtype"] == np.uint8 else (1.0, 0)
            scores_ = (raw - zero_point) * scale
            assert labels[int(np.argmax(scores_))] == truth.label
            tolerance = 1e-3 if name == FLOAT_FILE else 0.2
            assert max(abs(scores_[labels.index(k)] - v) for k, v in truth.confidences.items()) <= tolerance


def test_predict_tflite_script_in_a_fresh_virtualenv(bundle, fewshot_test, tmp_path):
    from bundles import fresh_venv

    python = fresh_venv(bundle, tmp_path / "env")  # what README.md says to pip install, nothing more
    images = [sorted((fewshot_test / name).glob("*.jpg"))[0] for name in ("cat", "rocket")]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    for flag in ([], ["--quantised"]):
        out = subprocess.run([str(python), str(bundle / "predict_tflite.py"), "--json", *flag, str(images[0]),
                              str(broken), str(images[1])], capture_output=True, text=True, timeout=120)
        assert out.returncode == 1, out.stderr  # the broken file is named, the others classified
        rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
        assert [row.get("label") for row in rows] == ["cat", None, "rocket"]
        assert rows[1]["file"] == str(broken) and rows[1]["error"]


def test_knn_model_float_file_holds_the_vote_shares(fewshot_train, fewshot_test, tmp_path):
    from teachable.export.bundle import write_bundle

    knn = teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="knn")
    bundle = write_bundle(knn, tmp_path / "knn", "tflite")
    assert not (bundle / QUANTISED_FILE).exists()  # no calibration photos, no quantised file
    images = sorted(fewshot_test.rglob("*.jpg"))[::2]
    expected = knn.predict_batch(images)
    shares = run(bundle / FLOAT_FILE, np.stack([prepare(p) for p in images]))
    assert [knn.labels[i] for i in shares.argmax(1)] == [p.label for p in expected]
    assert np.abs(shares - np.array([[p.confidences[n] for n in knn.labels] for p in expected])).max() <= 1e-4


def test_cli_export_shows_only_teachables_own_progress(fewshot_train, tmp_path):
    """Issue 25, item 18: about 40 lines of converter noise (absl logs, "Failed to load …torchao…",
    LiteRT-Torch's own steps) came with the CLI's progress; now they wait behind --verbose."""
    import sys

    path = tmp_path / "m.teachable"
    teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="knn").save(path)
    quiet = subprocess.run([sys.executable, "-m", "teachable.cli", "export", str(path), "--format", "tflite",
                            "-o", str(tmp_path / "quiet")], capture_output=True, text=True, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert quiet.stdout.strip() == f"wrote {tmp_path / 'quiet'}"
    lines = {line.strip() for line in quiet.stderr.replace("\r", "\n").splitlines() if line.strip()}
    assert lines and all(line.startswith("converting the float model") for line in lines), lines
    loud = subprocess.run([sys.executable, "-m", "teachable.cli", "export", str(path), "--format", "tflite", "--verbose",
                           "-o", str(tmp_path / "loud")], capture_output=True, text=True, timeout=600)
    assert loud.returncode == 0 and "LiteRT" in loud.stdout + loud.stderr


def test_the_page_converts_to_tensorflow_lite_with_progress(fewshot_train, tmp_path):
    """Issue 25, item 7: TensorFlow Lite (both files) offered in the export panel too, with the
    progress the CLI reports: a job the page follows, then its zip."""
    import time

    from fastapi.testclient import TestClient

    from teachable import Workspace
    from teachable.server import create_app

    workspace = Workspace(tmp_path / "ws")
    project = workspace.create("Lite")
    project.import_dataset(fewshot_train)
    project.train(classifier="head", epochs=5)
    project.close()
    with TestClient(create_app(workspace), base_url="http://127.0.0.1:8000") as client:
        job = client.post("/api/projects/lite/models/current/tflite").json()
        assert client.post("/api/projects/lite/models/current/tflite").status_code == 409  # one at a time
        steps = set()
        deadline = time.monotonic() + 600
        while job["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            job = client.get(f"/api/projects/lite/models/current/tflite/{job['id']}").json()
            steps.add(job["step"])
        assert job["state"] == "done", job["error"]
        assert any("quantis" in step for step in steps) and any("float" in step for step in steps), steps
        answer = client.get(f"/api/projects/lite/models/current/tflite/{job['id']}/file")
        with zipfile.ZipFile(__import__("io").BytesIO(answer.content)) as archive:
            assert {FLOAT_FILE, QUANTISED_FILE, "labels.txt"} <= set(archive.namelist())
        assert client.get("/api/projects/lite/models/current/tflite/nope").status_code == 404

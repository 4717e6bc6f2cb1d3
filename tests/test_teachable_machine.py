"""Teachable Machine interop: the TF.js export loaded by real TensorFlow.js (1.3.1 and 4.x, in Node),
published model URLs, Teachable Machine's own exports run without TensorFlow, and .tm projects.

Real Teachable Machine files come from ../shared/datasets/teachable-machine/ (skipped without it);
the rest is made here from scikit-image's photos.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import h5py
import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import teachable
from teachable.cli import main
from teachable.dataset import Dataset
from teachable.errors import ModelFileError, TeachableError
from teachable.export.tfjs import NotExportableError, tfjs_files
from teachable.server.app import create_app
from teachable.tm.layers import UnknownLayerError
from teachable.tm.projects import import_tm
from teachable.workspace import Workspace

from photos import PHOTOS, photo, random_view, write_views
from servers import ThreadServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets" / "teachable-machine"
NODE_MODULES = ROOT / ".node" / "node_modules"
TFJS = {"1.3.1": "tfjs131", "4.x": "tfjs4"}
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/datasets/teachable-machine")
needs_tfjs = pytest.mark.skipif(not (shutil.which("node") and (NODE_MODULES / "tfjs131").exists() and (NODE_MODULES / "tfjs4").exists()),
                                reason="needs Node.js and the tfjs test packages (make node-deps)")


def tfjs_predict(package: str, source: str, pixels: np.ndarray) -> np.ndarray:
    """Probabilities from real TensorFlow.js in Node for square uint8 pixels scaled as x / 127 - 1."""
    inputs = ROOT / "test-artifacts" / f"tfjs-input-{package}.f32"
    inputs.parent.mkdir(exist_ok=True)
    (np.asarray(pixels, np.float32) / 127.0 - 1.0).astype("<f4").tofile(inputs)
    out = subprocess.run(["node", str(ROOT / "tests" / "node" / "tfjs_predict.cjs"), package, source, str(inputs),
                          str(len(pixels)), str(pixels.shape[1])],
                         capture_output=True, text=True, timeout=300, env={"NODE_PATH": str(NODE_MODULES), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    return np.array(json.loads(out.stdout)["probabilities"], np.float32)


def views(count: int, seed: int, classes=None) -> list:
    rng = np.random.default_rng(seed)
    names = classes or list(PHOTOS)
    return [random_view(photo(names[i % len(names)]), rng) for i in range(count)]


@pytest.fixture(scope="module")
def head_model(tmp_path_factory):
    root = write_views(tmp_path_factory.mktemp("train"), 6, 11)
    return teachable.train(Dataset.from_folder(root), classifier="head", epochs=30)


@pytest.fixture(scope="module")
def exported(head_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tfjs")
    for name, data in tfjs_files(head_model, "photos").items():
        (folder / name).write_bytes(data)
    return folder


def ours(model, images) -> tuple[np.ndarray, np.ndarray]:
    """Teachable's own probabilities (in label order) and the square pixels it used."""
    from teachable.embed.preprocess import pixels

    probs = np.array([[p.confidences[label] for label in model.labels] for p in model.predict_batch(images)], np.float32)
    return probs, np.stack([pixels(i) for i in images])


def agree(probs: np.ndarray, expected: np.ndarray) -> None:
    assert (probs.argmax(1) == expected.argmax(1)).mean() >= 0.99
    assert np.abs(probs - expected).max() <= 1e-3


# --- the TF.js export ------------------------------------------------------------------------------

def test_export_is_teachable_machines_shape(exported, head_model):
    document = json.loads((exported / "model.json").read_text())
    meta = json.loads((exported / "metadata.json").read_text())
    assert document["format"] == "layers-model"
    topology = document["modelTopology"]
    assert topology["class_name"] == "Model" and topology["keras_version"] == "tfjs-layers 1.3.1"
    layers = topology["config"]["layers"]
    assert layers[0]["config"]["batch_input_shape"] == [None, 224, 224, 3]
    assert {layer["class_name"] for layer in layers} <= {"InputLayer", "ZeroPadding2D", "Conv2D", "DepthwiseConv2D", "ReLU",
                                                        "Add", "GlobalAveragePooling2D", "Dense"}
    assert layers[-1]["config"]["activation"] == "softmax" and layers[-1]["config"]["units"] == len(head_model.labels)
    names = [w["name"] for w in document["weightsManifest"][0]["weights"]]
    assert len(names) == len(set(names))
    assert sum(int(np.prod(w["shape"])) * 4 for w in document["weightsManifest"][0]["weights"]) == (exported / "weights.bin").stat().st_size
    for field in ("tfjsVersion", "tmVersion", "packageVersion", "packageName", "timeStamp", "userMetadata", "modelName", "labels", "imageSize"):
        assert field in meta
    assert meta["packageName"] == "@teachablemachine/image" and meta["labels"] == head_model.labels and meta["imageSize"] == 224
    assert meta["teachable"]["kind"] == "image"


def test_export_read_back_matches_teachable(exported, head_model):
    model = teachable.load(exported)
    images = views(12, 3)
    expected, _ = ours(head_model, images)
    got = np.array([[p.confidences[label] for label in model.labels] for p in model.predict_batch(images)])
    assert model.labels == head_model.labels
    agree(got, expected)


@needs_tfjs
@pytest.mark.parametrize("version", sorted(TFJS))
def test_tfjs_loads_the_export_from_disk(version, exported, head_model):
    images = views(8, 4)  # tfjs in Node without its native add-on takes seconds a photo
    expected, pixels = ours(head_model, images)
    agree(tfjs_predict(TFJS[version], str(exported), pixels), expected)


def test_knn_models_are_refused_with_a_way_out(tmp_path):
    root = write_views(tmp_path / "d", 3, 12, ["cat", "rocket"])
    knn = teachable.train(Dataset.from_folder(root), classifier="knn")
    with pytest.raises(NotExportableError, match="head"):
        tfjs_files(knn)
    knn.save(tmp_path / "knn.teachable")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "knn.teachable"), "--format", "tfjs", "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "head" in result.output and not (tmp_path / "out").exists()


def test_cli_export_tfjs_and_predict_with_it(head_model, tmp_path):
    head_model.save(tmp_path / "m.teachable")
    runner = CliRunner()
    assert runner.invoke(main, ["export", str(tmp_path / "m.teachable"), "--format", "tfjs", "-o", str(tmp_path / "out")]).exit_code == 0
    assert {"model.json", "weights.bin", "metadata.json", "README.md"} <= {p.name for p in (tmp_path / "out").iterdir()}
    photo("rocket").save(tmp_path / "rocket.jpg")
    result = runner.invoke(main, ["predict", str(tmp_path / "out"), str(tmp_path / "rocket.jpg"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["label"] == "rocket"


# --- publishing ------------------------------------------------------------------------------------

def _trained_project(workspace: Workspace, name: str, model) -> str:
    project = workspace.create(name)
    project_id = workspace.id_of(project.path)
    project.store_model(model, {"classifier": "head"})
    project.close()
    return project_id


def test_publishing_is_off_by_default_and_opens_only_the_model(head_model, tmp_path):
    workspace = Workspace(tmp_path / "ws")
    project_id = _trained_project(workspace, "Photos", head_model)
    client = TestClient(create_app(workspace))
    assert client.get(f"/api/projects/{project_id}/publish").json() == {"published": False, "path": None,
                                                                         "classroom_link": None}
    path = client.put(f"/api/projects/{project_id}/publish", json={"published": True}).json()["path"]
    assert path.startswith("/tm/") and path.endswith("/") and len(path) > 20
    other = {"Origin": "https://someone-else.example", "Sec-Fetch-Site": "cross-site"}
    answer = client.get(path + "model.json?ts=1700000000", headers=other)
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["cross-origin-resource-policy"] == "cross-origin"
    meta = client.get(path + "metadata.json", headers=other).json()
    assert meta["labels"] == head_model.labels and meta["modelName"] == "Photos"
    assert len(client.get(path + "weights.bin", headers=other).content) > 10_000_000
    assert client.options(path + "model.json", headers={**other, "Access-Control-Request-Method": "GET"}).status_code == 204
    # nothing else opens: other files, other keys, the API from that origin, any change
    assert client.get(path + "secrets.json", headers=other).status_code == 404
    assert client.get("/tm/not-a-key/model.json", headers=other).status_code == 404
    assert client.get(f"/api/projects/{project_id}", headers=other).status_code == 403
    assert client.put(f"/api/projects/{project_id}/publish", json={"published": False}, headers=other).status_code == 403
    assert client.post(path + "model.json", headers=other).status_code in (403, 405)
    # retraining gives a new timeStamp at the same URL; switching off ends it
    with workspace.open(project_id) as project:
        retrained = teachable.train(Dataset.from_folder(write_views(tmp_path / "d2", 4, 21)), classifier="head", epochs=5)
        retrained.created = "2030-01-02T03:04:05+00:00"
        project.store_model(retrained, {"classifier": "head"})
    assert client.get(path + "metadata.json").json()["timeStamp"] == "2030-01-02T03:04:05.000Z"
    assert client.put(f"/api/projects/{project_id}/publish", json={"published": False}).json()["published"] is False
    assert client.get(path + "model.json").status_code == 404


def test_a_copy_of_a_published_project_is_not_published(head_model, tmp_path):
    workspace = Workspace(tmp_path / "ws")
    project_id = _trained_project(workspace, "Photos", head_model)
    with workspace.open(project_id) as project:
        project.publish(True)
    copy = workspace.duplicate(project_id)
    with workspace.open(copy) as project:
        assert project.published is None


def test_cli_switches_publishing(head_model, tmp_path):
    workspace = Workspace(tmp_path / "ws")
    project_id = _trained_project(workspace, "Photos", head_model)
    runner = CliRunner()
    result = runner.invoke(main, ["project", "--workspace", str(workspace.root), "publish", project_id])
    assert result.exit_code == 0 and "/tm/" in result.output
    with workspace.open(project_id) as project:
        assert f"/tm/{project.published}/" in result.output
    assert runner.invoke(main, ["project", "--workspace", str(workspace.root), "publish", project_id, "--off"]).exit_code == 0
    with workspace.open(project_id) as project:
        assert project.published is None


def test_publishing_a_knn_or_sound_project_is_refused(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    sound = workspace.create("Sounds", kind="sound")
    sound_id = workspace.id_of(sound.path)
    sound.close()
    client = TestClient(create_app(workspace))
    answer = client.put(f"/api/projects/{sound_id}/publish", json={"published": True})
    assert answer.status_code == 409 and "image" in answer.json()["error"]


@pytest.mark.slow
@needs_tfjs
def test_tfjs_in_node_loads_the_published_url_with_a_token(head_model, tmp_path):
    """`teachable serve` off loopback needs its token for the API, not for a published model."""
    workspace = Workspace(tmp_path / "ws")
    project_id = _trained_project(workspace, "Photos", head_model)
    with workspace.open(project_id) as project:
        key = project.publish(True)
    # A token-protected server: the same app the CLI builds for a non-loopback address.
    with ThreadServer(create_app(workspace, token="s3cret-token")) as base:
        assert httpx.get(f"{base}/api/projects").status_code == 401
        url = f"{base}/tm/{key}/"
        images = views(3, 5)
        expected, pixels = ours(head_model, images)
        for version in sorted(TFJS):
            agree(tfjs_predict(TFJS[version], url + "model.json?ts=42", pixels), expected)


# --- Teachable Machine's own exports -----------------------------------------------------------------

@needs_shared
@needs_tfjs
@pytest.mark.parametrize("version", sorted(TFJS))
def test_shared_tfjs_export_predicts_as_tfjs_does(version):
    model = teachable.load(SHARED / "tfjs-image-export")
    assert model.labels == ["mine", "alone"]
    pixels = np.stack([model.pixels(image) for image in views(8, 6)])
    ours_probs = model.probabilities(pixels)
    theirs = tfjs_predict(TFJS[version], str(SHARED / "tfjs-image-export"), pixels)
    assert (ours_probs.argmax(1) == theirs.argmax(1)).all()
    assert np.abs(ours_probs - theirs).max() <= 1e-4


@needs_shared
def test_shared_keras_export_runs_and_shares_mobilenet_with_the_tfjs_one():
    keras = teachable.load(SHARED / "keras-image-export" / "keras_model.h5")
    tfjs = teachable.load(SHARED / "tfjs-image-export")
    assert keras.labels == ["Cat", "Dog"]
    x = tfjs.scale(np.stack([tfjs.pixels(image) for image in views(8, 7)]))
    features = [m.features(x) for m in (keras, tfjs)]
    assert features[0].shape == (8, 1280)
    assert np.abs(features[0] - features[1]).max() <= 1e-4
    probs = keras.probabilities(np.stack([keras.pixels(image) for image in views(8, 7)]))
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert keras.predict(photo("cat")).label == "Cat"  # the workshop's cat-vs-dog model on a real cat


@needs_shared
def test_cli_predicts_with_teachable_machines_exports(tmp_path):
    photo("cat").save(tmp_path / "cat.jpg")
    runner = CliRunner()
    for source in (SHARED / "keras-image-export", SHARED / "tfjs-image-export" / "model.json"):
        result = runner.invoke(main, ["predict", str(source), str(tmp_path / "cat.jpg"), "--json"])
        assert result.exit_code == 0, result.output
        assert abs(sum(json.loads(result.output)["confidences"].values()) - 1) < 1e-5


def _tfjs_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "copy"
    folder.mkdir()
    source = SHARED / "tfjs-image-export"
    if not source.exists():  # a model of our own in the same format
        model = teachable.train(Dataset.from_folder(write_views(tmp_path / "d", 3, 13, ["cat", "rocket"])), classifier="head", epochs=3)
        for name, data in tfjs_files(model).items():
            (folder / name).write_bytes(data)
    else:
        for name in ("model.json", "weights.bin", "metadata.json"):
            shutil.copy(source / name, folder / name)
    return folder


def test_bad_model_files_get_specific_errors(tmp_path):
    folder = _tfjs_copy(tmp_path)
    document = json.loads((folder / "model.json").read_text())
    good_weights = (folder / "weights.bin").read_bytes()
    # an unknown layer
    text = json.dumps(document).replace('"class_name": "Dense"', '"class_name": "MysteryLayer"', 1)
    if "MysteryLayer" not in text:
        text = json.dumps(document).replace('"class_name":"Dense"', '"class_name":"MysteryLayer"', 1)
    (folder / "model.json").write_text(text)
    with pytest.raises(UnknownLayerError, match="MysteryLayer"):
        teachable.load(folder)
    # a truncated weights.bin
    (folder / "model.json").write_text(json.dumps(document))
    (folder / "weights.bin").write_bytes(good_weights[:-1000])
    with pytest.raises(ModelFileError, match="truncated"):
        teachable.load(folder)
    # a weights path outside the folder
    document["weightsManifest"][0]["paths"] = ["../weights.bin"]
    (folder / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelFileError, match="outside"):
        teachable.load(folder)
    # an .h5 that is not a Keras model, and a file that is not HDF5 at all
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["data"] = np.zeros(3)
    (tmp_path / "labels.txt").write_text("0 a\n1 b\n")
    with pytest.raises(ModelFileError, match="not a Keras model"):
        teachable.load(tmp_path / "other.h5")
    (tmp_path / "fake.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ModelFileError, match="not an HDF5"):
        teachable.load(tmp_path / "fake.h5")
    result = CliRunner().invoke(main, ["predict", str(tmp_path / "fake.h5"), str(tmp_path / "labels.txt")])
    assert result.exit_code != 0 and "HDF5" in result.output and "Traceback" not in result.output


# --- .tm projects ----------------------------------------------------------------------------------

def make_tm(path: Path, classes: dict[str, list], kind: str = "image", version: str = "2.4.10", extra=()) -> Path:
    manifest = {"type": kind, "version": version,
                "appdata": {"publishResults": {}, "trainEpochs": 40, "trainBatchSize": 8, "trainLearningRate": 0.002}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, images in classes.items():
            for i, image in enumerate(images):
                import io

                buffer = io.BytesIO()
                image.resize((224, 224)).save(buffer, "JPEG", quality=90)
                archive.writestr(f"{name}-!-{i}.jpg", buffer.getvalue())
        for name, data in extra:
            archive.writestr(name, data)
    return path


def test_tm_project_opens_with_unicode_classes_in_order_and_trains(tmp_path):
    names = ["Daumen hoch 👍", "猫 (neko)", "Ça va"]
    photos_for = {names[0]: views(5, 30, ["astronaut"]), names[1]: views(5, 31, ["cat"]), names[2]: views(5, 32, ["rocket"])}
    source = make_tm(tmp_path / "unicode.tm", photos_for)
    workspace = Workspace(tmp_path / "ws")
    report = import_tm(workspace, source, "Imported")
    assert report.added == 15 and report.nobody == 0 and not report.skipped
    with workspace.open(report.project_id) as project:
        assert [c.name for c in project.classes()] == names
        settings = project.settings
        assert (settings["classifier"], settings["epochs"], settings["batch_size"], settings["learning_rate"]) == ("head", 40, 8, 0.002)
        model = project.train()
        samples = project.samples()
        wrong = [s for s in samples if model.predict(project.sample_bytes(s.id)).label != project.class_info(s.class_id).name]
    assert not wrong


def test_tm_project_with_a_taken_name_is_numbered(tmp_path):
    source = make_tm(tmp_path / "p.tm", {"a": views(2, 1, ["cat"]), "b": views(2, 2, ["rocket"])})
    workspace = Workspace(tmp_path / "ws")
    first, second = import_tm(workspace, source, "Same"), import_tm(workspace, source, "Same")
    with workspace.open(second.project_id) as project:
        assert project.name == "Same (2)" and first.project_id != second.project_id


@pytest.mark.parametrize("case, message", [
    ("traversal", "path"),
    ("many", "entries"),
    ("corrupt", "not a readable zip"),
    ("empty", "empty"),
    ("audio", "audio"),
    ("version", "version"),
    ("stranger", "does not write"),
    ("no-manifest", "manifest"),
])
def test_bad_tm_projects_are_refused_and_leave_nothing(case, message, tmp_path):
    cat = views(1, 40, ["cat"])
    path = tmp_path / f"{case}.tm"
    if case == "traversal":
        make_tm(path, {"a": cat}, extra=[("../evil-!-0.jpg", b"x")])
    elif case == "many":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("manifest.json", json.dumps({"type": "image", "version": "2.4.10"}))
            for i in range(10_000):
                archive.writestr(f"a-!-{i}.jpg", b"")
    elif case == "corrupt":
        data = make_tm(tmp_path / "good.tm", {"a": cat, "b": cat}).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "empty":
        make_tm(path, {})
    elif case == "audio":
        make_tm(path, {"a": cat}, kind="audio")
    elif case == "version":
        make_tm(path, {"a": cat}, version="9.0.0")
    elif case == "stranger":
        make_tm(path, {"a": cat}, extra=[("notes.txt", b"hello")])
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a-!-0.jpg", b"")
    workspace = Workspace(tmp_path / "ws")
    before = sorted(p.name for p in workspace.root.iterdir())
    with pytest.raises(TeachableError, match=message):
        import_tm(workspace, path, "Bad")
    assert sorted(p.name for p in workspace.root.iterdir()) == before
    assert workspace.list() == []
    result = CliRunner().invoke(main, ["project", "--workspace", str(tmp_path / "ws"), "import", "Bad", str(path)])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_tm_import_over_http(tmp_path):
    source = make_tm(tmp_path / "Hands.tm", {"up": views(3, 50, ["astronaut"]), "down": views(3, 51, ["coffee"])})
    client = TestClient(create_app(Workspace(tmp_path / "ws")))
    answer = client.post("/api/projects/import-tm", files={"file": ("Hands.tm", source.read_bytes())})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["added"] == 6 and body["project"]["name"] == "Hands"
    assert [c["name"] for c in body["project"]["classes"]] == ["up", "down"]
    bad = client.post("/api/projects/import-tm", files={"file": ("x.tm", b"PK\x03\x04 broken")})
    assert bad.status_code == 422 and "zip" in bad.json()["error"]


@needs_shared
def test_shared_image_tm_opens_and_trains(tmp_path):
    result = CliRunner().invoke(main, ["project", "--workspace", str(tmp_path / "ws"), "import", "Workshop",
                                       str(SHARED / "image-project.tm")])
    assert result.exit_code == 0, result.output
    workspace = Workspace(tmp_path / "ws")
    with workspace.open("workshop") as project:
        assert [(c.name, c.count) for c in project.classes()] == [("Class 1", 7), ("Class 2", 7)]
        assert project.settings["epochs"] == 50 and project.settings["batch_size"] == 16
        model = project.train()
        wrong = [s for s in project.samples() if model.predict(project.sample_bytes(s.id)).label != project.class_info(s.class_id).name]
    assert not wrong


@needs_shared
@pytest.mark.slow
def test_shared_pose_tm_computes_keypoints_and_counts_empty_frames(tmp_path):
    pytest.importorskip("mediapipe")
    workspace = Workspace(tmp_path / "ws")
    report = import_tm(workspace, SHARED / "pose-project.tm", "Push-ups")
    # every frame comes over, those with nobody found in them too (issue 26), counted
    assert report.added + report.duplicates == 73 and not report.skipped
    assert 0 < report.nobody < report.added
    assert any("nobody in view: kept" in line for line in report.lines())
    with workspace.open(report.project_id) as project:
        assert project.kind == "pose"
        assert [c.name for c in project.classes()] == ["Unten", "Oben"]
        assert project.settings["learning_rate"] == 0.0001
        model = project.train()
        assert set(model.labels) == {"Unten", "Oben"}
        assert model.nobody_class in ("Unten", "Oben")  # an empty frame gets the class its empty frames were in
        assert model.predict(photo("coffee")).label == model.nobody_class


POSE_METADATA = {"tfjsVersion": "1.3.1", "tmVersion": "2.4.5", "packageVersion": "0.8.6", "packageName": "@teachablemachine/pose",
                 "timeStamp": "2022-10-11T21:26:00.000Z", "userMetadata": {}, "modelName": "my-pose-model",
                 "labels": ["Unten", "Oben"], "modelSettings": {"posenet": {"architecture": "MobileNetV1", "outputStride": 16,
                                                                             "inputResolution": 257, "multiplier": 0.75}}}
AUDIO_METADATA = {"tfjsSpeechCommandsVersion": "0.4.0", "modelName": "TMv2", "timeStamp": "2022-10-11T21:26:00.000Z",
                  "wordLabels": ["Background Noise", "Clap", "Whistle"]}


@pytest.mark.parametrize("kind, metadata, said", [
    ("pose", POSE_METADATA, "is a Teachable Machine pose model (classes: Unten, Oben)"),
    ("audio", AUDIO_METADATA, "is a Teachable Machine audio model (classes: Background Noise, Clap, Whistle)"),
])
def test_teachable_machines_pose_and_audio_exports_are_named_not_misread(kind, metadata, said, tmp_path):
    """Their model.json is as Teachable Machine writes it (a dense head on PoseNet's 14,739 numbers; a
    speech-commands network on 43x232 spectrograms): read as an image model it failed on a layer's shape."""
    folder = tmp_path / kind
    folder.mkdir()
    layer = ({"class_name": "Dense", "config": {"units": 100, "activation": "relu", "use_bias": True, "name": "dense_Dense1",
                                                "batch_input_shape": [None, 14739]}} if kind == "pose" else
             {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [2, 8], "activation": "relu", "name": "conv2d_1",
                                                 "batch_input_shape": [None, 43, 232, 1]}})
    topology = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [layer]}, "keras_version": "tfjs-layers 1.3.1"}
    (folder / "model.json").write_text(json.dumps({"modelTopology": topology, "weightsManifest": [
        {"paths": ["weights.bin"], "weights": [{"name": "dense_Dense1/kernel", "shape": [14739, 100], "dtype": "float32"}]}]}))
    (folder / "weights.bin").write_bytes(b"\0" * 64)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    photo("cat").save(tmp_path / "cat.jpg")
    result = CliRunner().invoke(main, ["predict", str(folder), str(tmp_path / "cat.jpg")])
    assert result.exit_code != 0
    assert said in result.output, result.output
    assert ("Save project to file" if kind == "pose" else "Record the sounds again") in result.output
    assert "shape" not in result.output and "layer" not in result.output

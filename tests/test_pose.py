"""Pose and hand projects on real photos of people (scikit-image's astronaut and cameraman)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import teachable
from teachable import Project
from teachable.embed.keypoints import (
    is_nobody,
    nobody_features,
    HAND_DIM, POSE_DIM, POSE_MIRROR, POSE_POINTS, hand_features, mirror_pose_features, pose_features,
)
from teachable.embed.landmarks import get_landmark_backbone
from teachable.errors import NothingDetectedError
from teachable.model import Model
from people import HELD_OUT_MOVES, POSE_CLASSES, TRAIN_MOVES, moved, person, write_pose_folder
from photos import photo

pytest.importorskip("mediapipe")


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pose():
    return get_landmark_backbone("pose")


@pytest.fixture(scope="module")
def pose_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("poses")
    return write_pose_folder(root / "train", TRAIN_MOVES), write_pose_folder(root / "held-out", HELD_OUT_MOVES)


# -- the recipe on exact numbers ------------------------------------------------------------------
def test_recipe_is_exactly_invariant_to_where_and_how_big(pose):
    rng = np.random.default_rng(1)
    points = np.column_stack([rng.uniform(0.2, 0.8, (POSE_POINTS, 3)), rng.uniform(0, 1, POSE_POINTS)])
    width, height = 640, 480
    base = pose_features(points, width, height)
    # the same body 0.6x as big and elsewhere in the same frame
    other = points.copy()
    other[:, 0] = (points[:, 0] * width * 0.6 + 100) / width
    other[:, 1] = (points[:, 1] * height * 0.6 + 50) / height
    np.testing.assert_allclose(pose_features(other, width, height), base, atol=1e-5)
    # the same picture in a mirror: left and right swap
    mirrored = points.copy()
    mirrored[:, 0] = 1 - points[:, 0]
    mirrored = mirrored[POSE_MIRROR]  # in the mirror, the left shoulder is where the right one was
    np.testing.assert_allclose(pose_features(mirrored, width, height), mirror_pose_features(base), atol=1e-5)
    assert np.abs(mirror_pose_features(base) - base).max() > 0.1
    assert base.shape == (POSE_DIM,)
    hand = rng.uniform(0.3, 0.6, (21, 3))
    right, left = hand_features(hand, 320, 240, True), hand_features(hand, 320, 240, False)
    assert right.shape == (HAND_DIM,) and right[-1] == 1 and left[-1] == -1
    shifted = hand.copy()
    shifted[:, :2] = hand[:, :2] * 0.5 + 0.2
    shifted[:, 2] = hand[:, 2] * 0.5
    np.testing.assert_allclose(hand_features(shifted, 320, 240, True), right, atol=1e-5)


# -- the detector on real photos ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["astronaut", "cameraman"])
def test_features_barely_change_when_the_person_moves_or_steps_back(pose, name):
    source = person(name)
    original = pose.detect(source)
    base = pose.features(original)
    visible = original.points[:, 3] > 0.5
    assert visible[[11, 12]].all(), "both shoulders are in these photos"
    other_person = pose.embed_one(person("cameraman" if name == "astronaut" else "astronaut"))
    drift = []
    for move in TRAIN_MOVES[1:] + HELD_OUT_MOVES:
        features = pose.embed_one(moved(source, *move))
        xy, xy0 = features[: POSE_POINTS * 2].reshape(-1, 2), base[: POSE_POINTS * 2].reshape(-1, 2)
        drift.append(np.abs(xy - xy0)[visible].mean())
        # moved and rescaled, the same person stays far closer to themselves than to someone else
        assert np.linalg.norm(features - base) < 0.65 * np.linalg.norm(other_person - base), move
    # visible joints move by a tenth of a torso length or less in a typical view (a quarter at
    # most: MediaPipe re-estimates the hips when more of the legs come into the picture)
    assert np.median(drift) < 0.12 and max(drift) < 0.25, drift


def test_a_mirrored_person_is_recognised_as_mirrored(pose):
    source = person("cameraman")
    base = pose.embed_one(source)
    flipped = pose.embed_one(person("cameraman", mirrored=True))
    # the flipped photo gives (close to) the mirror image of the features, not the same features
    assert np.linalg.norm(flipped - mirror_pose_features(base)) < 0.35 * np.linalg.norm(flipped - base)


@pytest.mark.parametrize("name", ["coffee", "rocket"])
def test_pictures_without_a_person_are_nobody_samples(pose, name, tmp_path):
    """Issue 26: a frame with nobody in it is a sample like any other, with the fixed "nobody" features."""
    features = pose.embed_one(photo(name))
    assert is_nobody(features).all() and np.array_equal(features, nobody_features("pose"))
    with pytest.raises(NothingDetectedError, match="No person"):  # what needs a skeleton still says so
        pose.detect(photo(name))
    real = pose.embed_one(person("astronaut"))
    assert not is_nobody(real).any()
    assert real @ features / np.linalg.norm(real) / np.linalg.norm(features) <= 0  # points away from any pose
    with Project.create(tmp_path / "p.teachable-project", kind="pose") as project:
        project.add_class("nobody")
        assert len(project.add_samples("nobody", [jpeg(photo(name))], names=[f"{name}.jpg"])) == 1


def test_hand_projects_keep_pictures_without_a_hand_as_no_hand(tmp_path):
    hand = get_landmark_backbone("hand")
    features = hand.embed_one(person("astronaut"))  # her hands are in gloves and out of view
    assert is_nobody(features).all() and features[-1] == 2.0  # handedness: neither +1 nor -1
    with pytest.raises(NothingDetectedError, match="No hand"):
        hand.detect(person("astronaut"))
    with Project.create(tmp_path / "h.teachable-project", kind="hand") as project:
        assert project.kind == "hand" and project.backbone_id == "mediapipe-hand-full-v1"
        project.add_class("no hand")
        assert len(project.add_samples("no hand", [jpeg(photo("coffee"))])) == 1


@pytest.mark.parametrize("classifier", ["head", "knn"])
def test_a_background_class_of_empty_frames_trains_and_answers_nobody(pose_folders, tmp_path, classifier):
    """Issue 26: a pose project with a background class of frames with nobody in them imports every
    frame, trains, and predicts the background class on an empty frame; the poses stay right."""
    import shutil

    source, held_out = pose_folders
    train = shutil.copytree(source, tmp_path / "train")
    background = train / "background"
    background.mkdir()
    for i in range(6):  # empty rooms: photos with nobody in them, each moved differently
        moved(photo(["coffee", "rocket"][i % 2]), -30 + 10 * i, 0, 1.0).save(background / f"empty{i}.jpg")
    with Project.create(tmp_path / "p.teachable-project", kind="pose") as project:
        imported = project.import_dataset(train)
        counts = {c.name: c.count for c in project.classes()}
        assert counts["background"] == 6  # every frame came over
        assert imported.nobody >= 6  # and the import counts them, as the webcam and a .tm import do
        model = project.train(classifier=classifier, epochs=40)
    assert model.nobody_class == "background"
    assert model.predict(photo("rocket")).label == "background"  # an empty frame it never saw
    pose = get_landmark_backbone("pose")
    for name in POSE_CLASSES:  # the poses stay right (on the held-out frames MediaPipe finds the person in)
        found = [path for path in sorted((held_out / name).glob("*.jpg")) if not is_nobody(pose.embed_one(path)).any()]
        assert len(found) >= 2 and all(model.predict(path).label == name for path in found)
    again = Model.from_bytes(model.to_bytes())
    assert again.nobody_class == "background" and again.predict(photo("coffee")).label == "background"


def test_a_model_without_a_nobody_class_says_nobody_is_in_view(pose_folders, tmp_path):
    train, _ = pose_folders
    model = teachable.train(teachable.Dataset.from_folder(train, kind="pose"), classifier="knn")
    assert model.nobody_class is None
    with pytest.raises(NothingDetectedError, match="Nobody is in view, and this model learnt no class for that"):
        model.predict(photo("coffee"))


# -- pose projects end to end ---------------------------------------------------------------------
@pytest.mark.parametrize("classifier", ["head", "knn"])
def test_pose_project_learns_three_poses(pose_folders, tmp_path, classifier):
    train, held_out = pose_folders
    with Project.create(tmp_path / "poses.teachable-project", kind="pose") as project:
        result = project.import_dataset(train)
        assert result.added == len(POSE_CLASSES) * len(TRAIN_MOVES) and not result.skipped
        assert project.missing_embeddings() == []  # found while checking each photo
        model = project.train(classifier=classifier)
        assert model.kind == "pose" and model.backbone_id == "mediapipe-pose-full-v1"
        report = model.evaluate(teachable.Dataset.from_folder(held_out, kind="pose"))
        assert report.accuracy == 1.0, report.format()
        reloaded = Model.from_bytes(model.to_bytes())
        assert reloaded.predict(moved(person("cameraman", mirrored=True), *HELD_OUT_MOVES[-1])).label == "cameraman mirrored"


def test_cli_trains_predicts_evaluates_and_exports_pose_models(pose_folders, tmp_path):
    train, held_out = pose_folders
    model_path = tmp_path / "poses.teachable"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "teachable.cli", *map(str, args)], capture_output=True, text=True, timeout=300)

    trained = cli("train", train, "-o", model_path, "--kind", "pose", "--classifier", "knn")
    assert trained.returncode == 0, trained.stderr
    photos = sorted((held_out / "cameraman mirrored").glob("*.jpg"))
    nobody = tmp_path / "coffee.jpg"
    photo("coffee").save(nobody)
    predicted = cli("predict", model_path, *photos, nobody, "--json")
    assert predicted.returncode == 1  # one picture has nobody in it
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [line["label"] for line in lines[:-1]] == ["cameraman mirrored"] * len(photos)
    assert "Nobody is in view" in lines[-1]["error"]
    evaluated = cli("evaluate", model_path, held_out, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0
    for run in (trained, predicted, evaluated):  # no MediaPipe chatter on the command line
        assert "W0000" not in run.stderr and ".cc:" not in run.stderr and "GetPrototype" not in run.stderr, run.stderr

    # the ONNX bundle: classifier on the features + the recipe + a script that runs MediaPipe
    bundle = tmp_path / "bundle"
    exported = cli("export", model_path, "-o", bundle)
    assert exported.returncode == 0, exported.stderr
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["kind"] == "pose" and meta["input"]["name"] == "features" and meta["input"]["shape"] == ["batch", POSE_DIM]
    assert "pose_landmark_full" in meta["input"]["detector"]
    run = subprocess.run([sys.executable, "predict.py", *photos[:2], nobody], cwd=bundle, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    # MediaPipe's native notices (absl "W0000 ... .cc:NNN]" lines, its protobuf AttributeError) are kept out
    assert "W0000" not in run.stderr and "GetPrototype" not in run.stderr and ".cc:" not in run.stderr, run.stderr
    out = run.stdout.splitlines()
    assert all(": cameraman mirrored" in line for line in out[:2]), out
    assert "no person found" in out[2]
    tflite = cli("export", model_path, "--format", "tflite", "-o", tmp_path / "t")
    assert tflite.returncode != 0 and "ONNX" in tflite.stderr

    # `teachable serve-model` serves a pose model with MediaPipe in front of it
    from teachable.server.model_app import create_model_app

    with TestClient(create_model_app(model_path)) as client:
        served = client.post("/api/predict", files=[("f", (photos[0].name, photos[0].read_bytes()))])
        assert served.status_code == 200 and served.json()["predictions"][0]["label"] == "cameraman mirrored"
        nobody_served = client.post("/api/predict", files=[("f", ("coffee.jpg", nobody.read_bytes()))])
        assert nobody_served.status_code == 422 and "Nobody is in view" in nobody_served.json()["error"]


# -- the HTTP API ---------------------------------------------------------------------------------
def test_api_pose_project_thumbnails_live_landmarks_and_errors(tmp_path):
    from teachable.server import create_app

    with TestClient(create_app(tmp_path / "ws")) as client:
        created = client.post("/api/projects", json={"name": "poses", "kind": "pose"}).json()
        assert created["kind"] == "pose" and [11, 12] in created["skeleton"]
        pid, (first, second) = created["id"], [c["id"] for c in created["classes"]]
        # no model yet: the capture view still gets the skeleton
        with client.websocket_connect(f"/api/projects/{pid}/live?mode=landmarks") as ws:
            ws.send_bytes(jpeg(person("astronaut")))
            reply = ws.receive_json()
            assert len(reply["landmarks"]["points"]) == 33 and "label" not in reply
        upload = client.post(f"/api/projects/{pid}/classes/{first}/samples", files=[
            ("files", ("a.jpg", jpeg(person("astronaut")))), ("files", ("coffee.jpg", jpeg(photo("coffee"))))])
        assert upload.status_code == 201
        assert upload.json()["errors"] == [] and upload.json()["nobody"] == 1 and len(upload.json()["ids"]) == 2
        client.delete(f"/api/projects/{pid}/samples/{upload.json()['ids'][1]}")  # this test's classes are people
        with client.websocket_connect(f"/api/projects/{pid}/live?mode=landmarks") as ws:
            ws.send_bytes(jpeg(photo("rocket")))
            reply = ws.receive_json()
            assert reply["nobody"] is True and reply["landmarks"]["points"] == []
        client.post(f"/api/projects/{pid}/classes/{second}/samples", files=[("files", ("c.jpg", jpeg(person("cameraman"))))])
        # the thumbnail has the skeleton drawn on it (bright green lines), the photo does not
        sample_id = upload.json()["ids"][0]
        thumb = np.asarray(Image.open(io.BytesIO(client.get(f"/api/projects/{pid}/samples/{sample_id}/thumbnail?size=128").content)))
        green = (thumb[..., 1] > 180) & (thumb[..., 0] < 90) & (thumb[..., 2] < 160)
        plain = np.asarray(person("astronaut").resize((128, 128)))
        assert green.sum() > 40 and green.sum() > 5 * ((plain[..., 1] > 180) & (plain[..., 0] < 90) & (plain[..., 2] < 160)).sum()
        client.put(f"/api/projects/{pid}/settings", json={"classifier": "knn", "k": 1})
        predicted = client.post(f"/api/projects/{pid}/predict?source=live", files=[("f", ("x.jpg", jpeg(moved(person("cameraman"), 20, 0, 0.9))))])
        assert predicted.status_code == 200
        [prediction] = predicted.json()["predictions"]
        assert prediction["label"] == "Class 2" and len(prediction["landmarks"]["points"]) == 33
        nobody = client.post(f"/api/projects/{pid}/predict?source=live", files=[("f", ("x.jpg", jpeg(photo("rocket"))))])
        assert nobody.status_code == 422 and "Nobody is in view" in nobody.json()["error"]
        with client.websocket_connect(f"/api/projects/{pid}/live") as ws:
            ws.send_bytes(jpeg(person("astronaut")))
            reply = ws.receive_json()
            assert reply["label"] == "Class 1" and len(reply["landmarks"]["points"]) == 33
        assert client.get(f"/api/projects/{pid}/models/current/export").status_code == 404  # nothing trained yet
        assert client.post(f"/api/projects/{pid}/train", json={"classifier": "head"}).status_code == 202
        for _ in range(300):
            job = client.get(f"/api/projects/{pid}/train").json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["state"] == "done", job
        exported = client.get(f"/api/projects/{pid}/models/current/export")
        with zipfile.ZipFile(io.BytesIO(exported.content)) as bundle:
            assert {"model.onnx", "keypoint_features.py", "predict.py", "metadata.json"} <= set(bundle.namelist())
            assert b"def pose_features" in bundle.read("keypoint_features.py")

"""Every endpoint of the REST API, good and bad input, through the real app (no mocks)."""

from __future__ import annotations

import base64
import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from teachable.server import create_app
from photos import photo, write_views


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with TestClient(create_app(tmp_path_factory.mktemp("ws"))) as c:
        yield c


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    return write_views(tmp_path_factory.mktemp("views"), per_class=5, seed=4, classes=["cat", "rocket"])


def upload(client, pid, cid, paths, source="upload"):
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    return client.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, data={"source": source})


def wait_trained(client, pid, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/projects/{pid}/train").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError("training did not finish")


@pytest.fixture(scope="module")
def trained(client, views):
    project = client.post("/api/projects", json={"name": "API test"}).json()
    pid = project["id"]
    cat, rocket = project["classes"]
    assert client.patch(f"/api/projects/{pid}/classes/{cat['id']}", json={"name": "cat"}).status_code == 200
    assert client.patch(f"/api/projects/{pid}/classes/{rocket['id']}", json={"name": "rocket"}).status_code == 200
    assert upload(client, pid, cat["id"], sorted((views / "cat").glob("*.jpg"))).status_code == 201
    assert upload(client, pid, rocket["id"], sorted((views / "rocket").glob("*.jpg")), "webcam").status_code == 201
    started = client.post(f"/api/projects/{pid}/train", json={"classifier": "head", "epochs": 20})
    assert started.status_code == 202
    job = wait_trained(client, pid)
    assert job["state"] == "done", job
    assert len(job["history"]) == 20 and job["report"]["accuracy"] >= 0.5
    return pid, cat["id"], rocket["id"]


def test_health_and_openapi(client):
    assert client.get("/api/health").json()["ok"] is True
    schema = client.get("/openapi.json").json()
    assert "/api/projects/{project_id}/predict" in schema["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_page_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "app.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200


def test_project_lifecycle(client):
    created = client.post("/api/projects", json={"name": "Lifecycle ✋"})
    assert created.status_code == 201
    pid = created.json()["id"]
    assert [c["name"] for c in created.json()["classes"]] == ["Class 1", "Class 2"]
    assert any(p["id"] == pid for p in client.get("/api/projects").json())
    renamed = client.patch(f"/api/projects/{pid}", json={"name": "Renamed"}).json()
    assert renamed["name"] == "Renamed"
    copy = client.post(f"/api/projects/{renamed['id']}/duplicate")
    assert copy.status_code == 201 and copy.json()["name"] == "Renamed (copy)"
    saved = client.get(f"/api/projects/{renamed['id']}/file")
    assert saved.status_code == 200 and saved.content.startswith(b"SQLite format 3")
    opened = client.post("/api/projects/open", files={"file": ("x.teachable-project", saved.content)})
    assert opened.status_code == 201 and opened.json()["name"] == "Renamed (2)"  # told apart from the original
    for p in (renamed["id"], copy.json()["id"], opened.json()["id"]):
        assert client.delete(f"/api/projects/{p}").status_code == 204
    assert client.get(f"/api/projects/{renamed['id']}").status_code == 404


def test_classes_and_samples(client, views):
    pid = client.post("/api/projects", json={"name": "Samples"}).json()["id"]
    added = client.post(f"/api/projects/{pid}/classes", json={"name": "third"})
    assert added.status_code == 201
    cid = added.json()["id"]
    assert client.post(f"/api/projects/{pid}/classes", json={"name": "third"}).status_code == 409
    result = upload(client, pid, cid, sorted((views / "cat").glob("*.jpg"))[:2]).json()
    assert len(result["ids"]) == 2 and result["class"]["count"] == 2
    samples = client.get(f"/api/projects/{pid}/classes/{cid}/samples").json()
    sid = samples[0]["id"]
    original = (sorted((views / "cat").glob("*.jpg"))[0]).read_bytes()
    image = client.get(f"/api/projects/{pid}/samples/{sid}/image")
    assert image.content == original and image.headers["content-type"] == "image/jpeg"
    thumb = client.get(f"/api/projects/{pid}/samples/{sid}/thumbnail")
    assert Image.open(io.BytesIO(thumb.content)).size == (96, 96)
    assert client.delete(f"/api/projects/{pid}/samples/{sid}").status_code == 204
    assert client.delete(f"/api/projects/{pid}/samples/{sid}").status_code == 404
    assert client.post(f"/api/projects/{pid}/classes/{cid}/clear").json() == {"removed": 1}
    assert client.delete(f"/api/projects/{pid}/classes/{cid}").status_code == 204
    assert client.delete(f"/api/projects/{pid}/classes/{cid}").status_code == 404


def test_settings(client):
    pid = client.post("/api/projects", json={"name": "Settings"}).json()["id"]
    saved = client.put(f"/api/projects/{pid}/settings", json={"classifier": "knn", "k": 5}).json()
    assert saved["classifier"] == "knn" and saved["k"] == 5
    assert client.get(f"/api/projects/{pid}").json()["settings"]["k"] == 5


@pytest.mark.parametrize("send", ["multipart", "json", "batch"])
def test_predict(client, trained, send):
    pid = trained[0]
    rocket = jpeg(photo("rocket"))
    if send == "multipart":
        response = client.post(f"/api/projects/{pid}/predict", files={"image": ("r.jpg", rocket, "image/jpeg")})
    elif send == "json":
        response = client.post(f"/api/projects/{pid}/predict", json={"image": base64.b64encode(rocket).decode()})
    else:
        cat = jpeg(photo("cat"))
        response = client.post(f"/api/projects/{pid}/predict",
                               files=[("images", ("r.jpg", rocket, "image/jpeg")), ("images", ("c.jpg", cat, "image/jpeg"))])
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert predictions[0]["label"] == "rocket"
    if send == "batch":
        assert predictions[1]["label"] == "cat"
    assert abs(sum(predictions[0]["confidences"].values()) - 1) < 1e-6


def test_models_and_download(client, trained, tmp_path):
    pid = trained[0]
    models = client.get(f"/api/projects/{pid}/models").json()
    assert models[-1]["current"] is True
    data = client.get(f"/api/projects/{pid}/models/current/download")
    assert data.status_code == 200 and data.content[:2] == b"PK"
    import teachable

    (tmp_path / "m.teachable").write_bytes(data.content)
    assert teachable.load(tmp_path / "m.teachable").predict(photo("cat")).label == "cat"
    assert client.get(f"/api/projects/{pid}/models/999/download").status_code == 404
    assert client.get(f"/api/projects/{pid}/models/nope/download").status_code == 404


def test_live_websocket(client, trained):
    pid = trained[0]
    with client.websocket_connect(f"/api/projects/{pid}/live") as ws:
        ws.send_bytes(jpeg(photo("rocket")))
        reply = ws.receive_json()
        assert reply["label"] == "rocket" and reply["ms"] > 0
        ws.send_bytes(b"not a jpeg")
        assert "error" in ws.receive_json()


def test_live_knn_needs_no_training(client, views):
    project = client.post("/api/projects", json={"name": "Instant"}).json()
    pid, (a, b) = project["id"], project["classes"]
    client.put(f"/api/projects/{pid}/settings", json={"classifier": "knn", "k": 1})
    upload(client, pid, a["id"], sorted((views / "cat").glob("*.jpg"))[:1])
    upload(client, pid, b["id"], sorted((views / "rocket").glob("*.jpg"))[:1])
    deadline = time.time() + 30
    while client.get(f"/api/projects/{pid}").json()["pending_embeddings"] and time.time() < deadline:
        time.sleep(0.1)
    result = client.post(f"/api/projects/{pid}/predict?source=live", files={"f": ("c.jpg", jpeg(photo("cat")), "image/jpeg")})
    assert result.status_code == 200, result.text
    assert result.json()["predictions"][0]["label"] == "Class 1"


@pytest.mark.parametrize(
    "method,path,kwargs,status",
    [
        ("get", "/api/projects/nope", {}, 404),
        ("get", "/api/projects/..%2F..%2Fetc", {}, 404),
        ("delete", "/api/projects/nope", {}, 404),
        ("post", "/api/projects", {"json": {"name": ""}}, 422),
        ("post", "/api/projects", {"json": {"name": "x" * 10_000}}, 422),
        ("post", "/api/projects", {"json": {"name": "ok", "kind": "video"}}, 422),
        ("post", "/api/projects", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
        ("post", "/api/projects/open", {"files": {"file": ("x.teachable-project", b"garbage")}}, 422),
    ],
)
def test_bad_requests_get_json_errors(client, method, path, kwargs, status):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_bad_input_on_a_project(client, trained, views):
    pid, cat, _ = trained
    # unknown ids
    assert client.get(f"/api/projects/{pid}/samples/99999/image").status_code == 404
    assert upload(client, pid, 99999, sorted((views / "cat").glob("*.jpg"))[:1]).status_code == 404
    # wrong types
    assert client.patch(f"/api/projects/{pid}/classes/abc", json={"name": "x"}).status_code == 422
    assert client.put(f"/api/projects/{pid}/settings", json={"epochs": "many"}).status_code == 422
    assert client.put(f"/api/projects/{pid}/settings", json={"learning_rate": -1}).status_code == 422
    # a text file renamed .jpg, alone -> 422 with the reason; beside a good one -> stored + listed
    bad = client.post(f"/api/projects/{pid}/classes/{cat}/samples", files=[("files", ("fake.jpg", b"hello", "image/jpeg"))])
    assert bad.status_code == 422 and "fake.jpg" in bad.json()["error"]
    mixed = client.post(f"/api/projects/{pid}/classes/{cat}/samples", files=[
        ("files", ("fake.jpg", b"hello", "image/jpeg")), ("files", ("ok.jpg", jpeg(photo("astronaut")), "image/jpeg"))])
    assert mixed.status_code == 201 and len(mixed.json()["ids"]) == 1 and mixed.json()["errors"][0]["file"] == "fake.jpg"
    # predicting garbage
    assert client.post(f"/api/projects/{pid}/predict", json={"image": "!!!"}).status_code == 422
    assert client.post(f"/api/projects/{pid}/predict", json={"images": []}).status_code == 400
    assert client.post(f"/api/projects/{pid}/predict", content=b"xx").status_code == 400


def test_huge_upload_is_refused_with_413(client, trained):
    pid, cat, _ = trained
    huge = b"\xff\xd8" + b"\x00" * (65 * 1024 * 1024)
    response = client.post(f"/api/projects/{pid}/classes/{cat}/samples", files=[("files", ("big.jpg", huge, "image/jpeg"))])
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_training_with_one_class_is_422(client, views):
    project = client.post("/api/projects", json={"name": "One class"}).json()
    pid = project["id"]
    upload(client, pid, project["classes"][0]["id"], sorted((views / "cat").glob("*.jpg"))[:2])
    response = client.post(f"/api/projects/{pid}/train")
    assert response.status_code == 422 and "two classes" in response.json()["error"]
    assert client.post(f"/api/projects/{pid}/predict", files={"f": ("c.jpg", jpeg(photo("cat")), "image/jpeg")}).status_code == 404


def test_export_endpoint_gives_the_onnx_bundle(client, trained):
    import zipfile

    pid = trained[0]
    response = client.get(f"/api/projects/{pid}/models/current/export?format=onnx")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        assert {"model.onnx", "metadata.json", "predict.py", "predict.mjs", "index.html"} <= set(bundle.namelist())
    assert client.get(f"/api/projects/{pid}/models/current/export?format=tflite").status_code == 422


def test_serve_model_has_the_same_endpoint_shape(client, trained, tmp_path):
    from teachable.server.model_app import create_model_app

    pid = trained[0]
    path = tmp_path / "m.teachable"
    path.write_bytes(client.get(f"/api/projects/{pid}/models/current/download").content)
    rocket = jpeg(photo("rocket"))
    from_project = client.post(f"/api/projects/{pid}/predict", files={"image": ("r.jpg", rocket, "image/jpeg")}).json()
    with TestClient(create_model_app(path)) as single:
        plain = single.post("/api/predict", files={"image": ("r.jpg", rocket, "image/jpeg")}).json()
        same_path = single.post(f"/api/projects/{pid}/predict", json={"image": base64.b64encode(rocket).decode()}).json()
        assert single.post("/api/predict", json={"image": "%%%"}).status_code == 422
    assert plain == same_path == from_project
    assert plain["predictions"][0]["label"] == "rocket"


def test_sound_project_over_the_api(client):
    import subprocess

    import numpy as np
    import soundfile as sf

    project = client.post("/api/projects", json={"name": "Sounds", "kind": "sound"}).json()
    assert [c["name"] for c in project["classes"]] == ["Background Noise", "Class 2"]
    pid, background = project["id"], project["classes"][0]["id"]
    buffer = io.BytesIO()
    sf.write(buffer, (np.random.default_rng(0).normal(0, 0.02, 48_000)).astype(np.float32), 16_000, format="WAV")
    added = client.post(f"/api/projects/{pid}/classes/{background}/samples", data={"source": "microphone"},
                        files=[("files", ("room.wav", buffer.getvalue(), "audio/wav"))])
    assert added.status_code == 201 and len(added.json()["ids"]) == 3  # 3 s -> three one-second samples
    sid = added.json()["ids"][0]
    assert client.get(f"/api/projects/{pid}/samples/{sid}/data").headers["content-type"] == "audio/wav"
    assert client.get(f"/api/projects/{pid}/samples/{sid}/thumbnail").headers["content-type"] == "image/jpeg"
    refused = client.post(f"/api/projects/{pid}/train")
    assert refused.status_code == 422 and "needs at least 20" in refused.json()["error"]
    photo_upload = client.post(f"/api/projects/{pid}/classes/{background}/samples",
                               files=[("files", ("cat.jpg", jpeg(photo("cat")), "image/jpeg"))])
    assert photo_upload.status_code == 422 and "not a sound file" in photo_upload.json()["error"]


def test_mixing_live_and_uploaded_samples_is_warned_about(client, views):
    project = client.post("/api/projects", json={"name": "Mixed sources"}).json()
    pid, (first, second) = project["id"], [c["id"] for c in project["classes"]]
    upload(client, pid, first, sorted((views / "cat").glob("*.jpg"))[:2], source="upload")
    upload(client, pid, second, sorted((views / "rocket").glob("*.jpg"))[:2], source="upload")
    assert client.get(f"/api/projects/{pid}").json()["warnings"] == []  # all uploaded: nothing to say
    upload(client, pid, first, sorted((views / "cat").glob("*.jpg"))[2:4], source="webcam")
    assert client.get(f"/api/projects/{pid}").json()["warnings"] == []  # one class has both
    client.post(f"/api/projects/{pid}/classes/{first}/clear")
    upload(client, pid, first, sorted((views / "cat").glob("*.jpg"))[:3], source="webcam")
    [warning] = client.get(f"/api/projects/{pid}").json()["warnings"]
    assert "recorded with the webcam" in warning and "uploaded" in warning


def test_the_model_knows_when_it_is_stale(client, trained):
    pid = trained[0]
    status = client.get(f"/api/projects/{pid}").json()["model_status"]
    assert status["labels"] == ["cat", "rocket"]  # (earlier tests may have added samples since)
    classes = client.get(f"/api/projects/{pid}").json()["classes"]
    client.patch(f"/api/projects/{pid}/classes/{classes[0]['id']}", json={"name": "kitten"})
    try:
        status = client.get(f"/api/projects/{pid}").json()["model_status"]
        assert status["stale"] and "classes changed" in status["reason"] and status["labels"] == ["cat", "rocket"]
    finally:
        client.patch(f"/api/projects/{pid}/classes/{classes[0]['id']}", json={"name": "cat"})
    assert "classes changed" not in (client.get(f"/api/projects/{pid}").json()["model_status"]["reason"] or "")


def test_a_bad_file_in_a_batch_is_named(client, trained, tmp_path):
    from teachable.server.model_app import create_model_app

    pid = trained[0]
    good = jpeg(photo("rocket"))
    batch = [("a", ("good.jpg", good, "image/jpeg")), ("b", ("broken.jpg", b"not an image", "image/jpeg"))]
    answer = client.post(f"/api/projects/{pid}/predict", files=batch)
    assert answer.status_code == 422 and "'broken.jpg' (item 2 of 2)" in answer.json()["error"]
    path = tmp_path / "m.teachable"
    path.write_bytes(client.get(f"/api/projects/{pid}/models/current/download").content)
    with TestClient(create_model_app(path)) as single:
        answer = single.post("/api/predict", files=batch)
        assert answer.status_code == 422 and "'broken.jpg' (item 2 of 2)" in answer.json()["error"]

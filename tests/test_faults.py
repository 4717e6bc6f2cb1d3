"""Faults: the real server killed with SIGKILL during capture and during training, and a full
disk during import. Afterwards every acknowledged sample and model is intact."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import numpy as np
import pytest

from teachable import Project
from teachable.errors import StorageFullError
from servers import Server, jpegs


def test_sigkill_during_capture_keeps_every_acknowledged_sample(tmp_path):
    server = Server(tmp_path).start()
    try:
        project = httpx.post(server.base + "/api/projects", json={"name": "capture"}).json()
        pid, cid = project["id"], project["classes"][0]["id"]
        frames = jpegs(400, seed=1)
        acknowledged: dict[int, str] = {}
        killer = threading.Timer(np.random.default_rng(0).uniform(1.0, 2.0), server.kill)
        killer.start()
        with httpx.Client(base_url=server.base, timeout=10) as client:
            for i in range(0, len(frames), 2):  # the page sends small batches of webcam frames
                batch = frames[i : i + 2]
                try:
                    response = client.post(f"/api/projects/{pid}/classes/{cid}/samples", data={"source": "webcam"},
                                           files=[("files", (f"{i + j}.jpg", f, "image/jpeg")) for j, f in enumerate(batch)])
                except httpx.HTTPError:
                    break  # the server is gone
                assert response.status_code == 201
                for sample_id, data in zip(response.json()["ids"], batch):
                    acknowledged[sample_id] = hashlib.sha256(data).hexdigest()
        killer.join()
        assert 0 < len(acknowledged) < 400, "the kill must land mid-capture"
        server.start()
        with Project.open(tmp_path / f"{pid}.teachable-project") as p:
            assert p.integrity_check() == "ok"
        stored = httpx.get(f"{server.base}/api/projects/{pid}/classes/{cid}/samples").json()
        by_id = {s["id"]: s["sha256"] for s in stored}
        for sample_id, digest in acknowledged.items():
            assert by_id.get(sample_id) == digest
            image = httpx.get(f"{server.base}/api/projects/{pid}/samples/{sample_id}/image").content
            assert hashlib.sha256(image).hexdigest() == digest
    finally:
        server.stop()


def test_sigkill_during_training_is_reported_and_loses_nothing(tmp_path):
    server = Server(tmp_path).start()
    try:
        base = server.base
        project = httpx.post(base + "/api/projects", json={"name": "training"}).json()
        pid = project["id"]
        frames = jpegs(24, seed=2)
        for k, cls in enumerate(project["classes"]):
            httpx.post(f"{base}/api/projects/{pid}/classes/{cls['id']}/samples",
                       files=[("files", (f"{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames[k::2])])
        # a first model, quickly
        httpx.post(f"{base}/api/projects/{pid}/train", json={"epochs": 5}, timeout=30)
        while httpx.get(f"{base}/api/projects/{pid}/train").json()["state"] not in ("done", "failed"):
            time.sleep(0.2)
        first_model = httpx.get(f"{base}/api/projects/{pid}/models/current/download").content
        # a long one, killed half-way
        httpx.post(f"{base}/api/projects/{pid}/train", json={"epochs": 5000}, timeout=30)
        while httpx.get(f"{base}/api/projects/{pid}/train").json().get("epoch", 0) < 3:
            time.sleep(0.1)
        server.kill()
        server.start()
        job = httpx.get(f"{base}/api/projects/{pid}/train").json()
        assert job["state"] == "failed" and "interrupted" in job["error"]
        assert httpx.get(f"{base}/api/projects/{pid}/models/current/download").content == first_model
        summary = httpx.get(f"{base}/api/projects/{pid}").json()
        assert [c["count"] for c in summary["classes"]] == [12, 12]
        # and it trains again
        assert httpx.post(f"{base}/api/projects/{pid}/train", json={"epochs": 5}).status_code == 202
        while (job := httpx.get(f"{base}/api/projects/{pid}/train").json())["state"] not in ("done", "failed"):
            time.sleep(0.2)
        assert job["state"] == "done"
    finally:
        server.stop()


def test_disk_full_during_import_is_reported_and_the_project_stays_usable(tmp_path, fewshot_train):
    path = tmp_path / "full.teachable-project"
    with Project.create(path) as project:
        project.import_dataset(fewshot_train, embed=False, batch_size=4)
        before = {s.id: s.sha256 for s in project.samples()}
        pages = project._db._conn.execute("PRAGMA page_count").fetchone()[0]
        project._db._conn.execute(f"PRAGMA max_page_count = {pages + 30}")  # a nearly full disk
        with pytest.raises(StorageFullError, match="disk is full"):
            more = tmp_path / "more"
            for name in ("cat", "rocket"):
                (more / name).mkdir(parents=True)
                for i, data in enumerate(jpegs(60, seed=7)):
                    (more / name / f"{i}.jpg").write_bytes(data)
            project.import_dataset(more, embed=False, batch_size=8)
        assert project.integrity_check() == "ok"
        after = {s.id: s.sha256 for s in project.samples()}
        assert all(after[i] == d for i, d in before.items())  # nothing lost
        for s in project.samples():  # nothing half-stored
            assert hashlib.sha256(project.sample_bytes(s.id)).hexdigest() == s.sha256
        project._db._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
        assert project.add_samples("cat", [jpegs(1, seed=8)[0]], embed=False)

"""Many processes on one project file: the server, the CLI, a notebook, a second server (issue 36).

Any ``close()`` of another descriptor on a database drops the POSIX locks SQLite holds on it in
that process; another process then deletes the write-ahead log under the live connection, and
acknowledged writes vanish at the next crash. These tests run the processes side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from servers import Server
from teachable import Project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def teachable(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "teachable.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "TEACHABLE_WORKSPACE": str(workspace)}, timeout=300)


def open_files(pid: int) -> list[str]:
    """What a process holds open now (a descriptor closed while they are listed is left out)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return held


def test_cli_beside_the_server_keeps_an_acknowledged_class(tmp_path):
    """The issue's reproduction: serve; create; list; `teachable project list`; add a class; kill -9."""
    workspace = tmp_path / "workspace"
    server = Server(workspace).start()
    try:
        project = httpx.post(server.base + "/api/projects", json={"name": "beside"}, timeout=30).json()
        assert httpx.get(server.base + "/api/projects", timeout=30).status_code == 200
        listed = teachable(workspace, "project", "list")
        assert listed.returncode == 0 and "beside" in listed.stdout
        # The server still lists it, and still holds no deleted side file.
        assert [p["id"] for p in httpx.get(server.base + "/api/projects", timeout=30).json()] == [project["id"]]
        added = httpx.post(f"{server.base}/api/projects/{project['id']}/classes", json={"name": "kept"}, timeout=30)
        assert added.status_code == 201
        held = open_files(server.process.pid)
        assert not [h for h in held if "teachable-project" in h and h.endswith("(deleted)")]
        server.kill()
        info = teachable(workspace, "project", "info", project["id"], "--json")
        assert info.returncode == 0, info.stderr
        assert "kept" in info.stdout
        with Project.open(workspace / f"{project['id']}.teachable-project") as p:
            assert p.integrity_check() == "ok"
    finally:
        server.stop()


def test_side_by_side_crash_run_loses_no_acknowledged_write(tmp_path):
    """A short run of bench/side_by_side.py: writes on two servers, CLI and notebook processes beside
    them, the first server killed at random moments."""
    import side_by_side

    tally = side_by_side.run(rounds=10, seed=3, workspace=tmp_path / "workspace", kill_chance=0.35)
    assert tally.kills >= 2 and tally.writes_acknowledged >= 10 and tally.cli_runs >= 4
    assert tally.lost == [] and tally.damaged == [] and tally.deleted_side_files == []
    assert tally.cli_failures == []


AUDITED = textwrap.dedent(
    """
    import sys, json
    from pathlib import Path
    opened = []
    root = Path(sys.argv[1])
    def hook(event, args):
        # The workspace's files, which a connection may hold (a download's copy is read only once
        # its own connection is closed).
        if event == "open" and args and isinstance(args[0], (str, Path)) and str(args[0]).startswith(str(root)) \
                and ".teachable-project" in str(args[0]):
            opened.append(str(args[0]))
    sys.addaudithook(hook)
    from fastapi.testclient import TestClient
    import teachable
    from teachable.server.app import create_app
    from teachable.workspace import Workspace
    client = TestClient(create_app(root))
    pid = client.post("/api/projects", json={"name": "audited"}).json()["id"]
    client.post(f"/api/projects/{pid}/classes", json={"name": "a"})
    client.get("/api/projects"); client.get(f"/api/projects/{pid}")
    client.get(f"/api/projects/{pid}/file")
    path = root / f"{pid}.teachable-project"
    try:
        teachable.load(path)
    except teachable.TeachableError:
        pass
    try:
        teachable.Model.load(path)
    except teachable.TeachableError:
        pass
    Workspace(root).list(); Workspace(root).duplicate(pid)
    with teachable.Project.open(path) as p:
        p.classes()
    print(json.dumps(opened))
    """
)


def test_nothing_opens_a_project_file_but_sqlite(tmp_path):
    """Every Python-level open() (builtins.open, os.open, io) of a project path, recorded by an audit
    hook across the server's routes, the API's loaders and the workspace: there must be none."""
    done = subprocess.run([sys.executable, "-c", AUDITED, str(tmp_path / "ws")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_second_server_training_the_same_project_says_so(tmp_path):
    """Two servers on one workspace, both asked to train one project: the second answers with a
    sentence (409), the first's run finishes and stays the current model."""
    from servers import jpegs

    workspace = tmp_path / "workspace"
    first, second = Server(workspace).start(), Server(workspace).start()
    try:
        pid = httpx.post(first.base + "/api/projects", json={"name": "contested"}, timeout=30).json()["id"]
        photos = jpegs(8, seed=5)
        classes = httpx.get(f"{first.base}/api/projects/{pid}", timeout=30).json()["classes"]  # the two defaults
        for cid, chunk in ((classes[0]["id"], photos[0::2]), (classes[1]["id"], photos[1::2])):
            httpx.post(f"{first.base}/api/projects/{pid}/classes/{cid}/samples", timeout=120,
                       files=[("files", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(chunk)])
        assert httpx.post(f"{first.base}/api/projects/{pid}/train", json={"epochs": 4000}, timeout=60).status_code == 202, "train refused"
        for _ in range(600):
            if httpx.get(f"{first.base}/api/projects/{pid}/train", timeout=30).json()["state"] == "training":
                break
            time.sleep(0.1)
        refused = httpx.post(f"{second.base}/api/projects/{pid}/train", json={"epochs": 5}, timeout=60)
        assert refused.status_code == 409
        assert "already training" in refused.json()["error"]
        for _ in range(1200):
            state = httpx.get(f"{first.base}/api/projects/{pid}/train", timeout=30).json()
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert state["state"] == "done", state
        with Project.open(workspace / f"{pid}.teachable-project") as p:
            assert p.integrity_check() == "ok" and len(p.models()) == 1
    finally:
        first.stop()
        second.stop()

"""Faults on a small local Ray cluster: a classroom on `serve --ray` loses no answer when a
replica is killed mid-run, nor when every process of the cluster is killed (the server says so
once, answers from this machine, and outlives Ray's own limit on a lost cluster head)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from photos import write_views
from servers import Server

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def processes_naming(text: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def cluster_pids(temp: Path) -> list[int]:
    return [pid for pid in processes_naming(str(temp).encode()) if pid != os.getpid()]


def replica_pids() -> list[int]:
    """The processes of the image network's Serve replicas (Ray names them by deployment)."""
    return processes_naming(b"ServeReplica:teachable-image")


def classroom_run(server: Server, students: int, seconds: float, during) -> dict:
    import classroom

    photos = classroom.class_photos(3, seed=11)
    preview = classroom.frames(30, seed=12)
    worker = threading.Thread(target=during, daemon=True)
    worker.start()
    results = asyncio.run(classroom.classroom(server.base, students, photos, preview, seconds, settled=True))
    worker.join(timeout=60)
    return results


def test_a_classroom_on_ray_loses_no_answer_when_a_replica_is_killed(tmp_path):
    pytest.importorskip("ray")
    server = Server(tmp_path, "--ray", "local", "--ray-replicas", "2").start()
    killed: list[int] = []

    def kill_one_mid_run():
        time.sleep(12)  # projects made, trained, the preview running
        pids = replica_pids()
        assert len(pids) == 2, pids
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    try:
        results = classroom_run(server, students=4, seconds=14, during=kill_one_mid_run)
        assert killed, "no replica was killed"
        assert results.errors == [], results.errors
        assert min(results.updates) > 10 and results.correct == sum(results.updates)
        for _ in range(60):  # Ray Serve starts a replacement
            if len(replica_pids()) == 2 and killed[0] not in replica_pids():
                break
            time.sleep(1)
        assert len(replica_pids()) == 2
    finally:
        server.stop()


def test_when_the_whole_cluster_goes_the_server_says_so_once_and_answers_from_here(tmp_path):
    pytest.importorskip("ray")
    import tempfile

    from servers import free_port

    ray_bin = Path(sys.executable).parent / "ray"
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # this test's own cluster; short: socket paths
    port = free_port()
    head = subprocess.run([ray_bin, "start", "--head", "--num-cpus", "2", "--port", str(port), "--temp-dir", str(temp),
                           "--include-dashboard", "false", "--disable-usage-stats"],
                          capture_output=True, text=True, timeout=120)
    assert head.returncode == 0, head.stderr
    log = tmp_path / "server.log"
    server = Server(tmp_path / "ws", "--ray", f"127.0.0.1:{port}", "--ray-timeout", "5")
    server.stderr = log.open("w")
    os.environ["RAY_gcs_rpc_server_reconnect_timeout_s"] = "3"  # what Teachable must override (Server passes os.environ)

    killed: list[float] = []

    def stop_cluster():  # SIGKILL every process of this cluster (its head's command lines name its folder)
        time.sleep(8)
        for pid in cluster_pids(temp):
            os.kill(pid, signal.SIGKILL)
        killed.append(time.monotonic())

    try:
        server.start()
        results = classroom_run(server, students=2, seconds=14, during=stop_cluster)
        assert results.errors == [], results.errors
        assert min(results.updates) > 5 and results.correct == sum(results.updates)
        # Ray ends a driver whose cluster head is gone for RAY_gcs_rpc_server_reconnect_timeout_s (60 s;
        # 3 s in this test's environment): the server must outlive that, still answering
        import httpx

        project = httpx.get(server.base + "/api/projects").json()[0]["id"]
        photo = next((write_views(tmp_path / "one", 1, 3, ["cat"]) / "cat").iterdir())
        while time.monotonic() < killed[0] + 15:
            time.sleep(5)
            assert server.process.poll() is None, "the server ended with the cluster"
        answer = httpx.post(f"{server.base}/api/projects/{project}/predict",
                            files={"image": ("cat.jpg", Path(photo).read_bytes(), "image/jpeg")}, timeout=60)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "cat", answer.text
    finally:
        del os.environ["RAY_gcs_rpc_server_reconnect_timeout_s"]
        server.stop()
        for pid in cluster_pids(temp):
            os.kill(pid, signal.SIGKILL)
    said = [line for line in log.read_text().splitlines() if "does not answer" in line]
    assert len(said) == 1 and "run on this machine" in said[0], log.read_text()[-2000:]

"""A classroom on one server: the CPU runtime choice keeps the answers, the inference queue is
fair and drops stale frames, and the classroom benchmark runs (short) as a test."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import websockets

from photos import write_views
from servers import Server, jpegs
from teachable.embed import runtime
from teachable.embed.image import ImageBackbone
from teachable.embed.queue import LIVE, REQUEST, InferenceQueue, Superseded
from teachable.training import fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


@pytest.fixture(scope="module")
def views(tmp_path_factory) -> tuple[list[Path], np.ndarray]:
    """Real photos (random views of three scikit-image photos) and their class numbers."""
    root = write_views(tmp_path_factory.mktemp("views"), per_class=8, seed=21, classes=["cat", "rocket", "coffee"])
    paths = sorted(root.rglob("*.jpg"))
    names = sorted({p.parent.name for p in paths})
    return paths, np.array([names.index(p.parent.name) for p in paths])


def backbone_on(monkeypatch, runtime_name: str, live: str = "fp32") -> ImageBackbone:
    """A fresh image backbone on the runtime asked for (not the process's shared one)."""
    monkeypatch.setenv("TEACHABLE_RUNTIME", runtime_name)
    monkeypatch.setenv("TEACHABLE_LIVE_PRECISION", live)
    runtime._openvino_core.cache_clear()
    runtime.bf16_available.cache_clear()
    try:
        return ImageBackbone("cpu")
    finally:
        runtime._openvino_core.cache_clear()
        runtime.bf16_available.cache_clear()


def test_openvino_and_onnx_runtime_give_the_same_answers(monkeypatch, views):
    pytest.importorskip("openvino")
    paths, labels = views
    openvino = backbone_on(monkeypatch, "openvino")
    fallback = backbone_on(monkeypatch, "onnxruntime")
    assert (openvino.runtime, fallback.runtime) == ("openvino", "onnxruntime")
    a, _ = openvino.embed_many(paths)
    b, _ = fallback.embed_many(paths)
    np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)
    train = np.arange(len(paths)) % 2 == 0
    for classifier in ("knn", "head"):
        model = fit(a[train], labels[train], ["cat", "coffee", "rocket"], openvino.id, "image",
                    classifier=classifier, validation_split=0)
        pa, pb = (np.array([list(p.confidences.values()) for p in model.predict_embeddings(x[~train])]) for x in (a, b))
        assert np.abs(pa - pb).max() <= 1e-3
        assert (pa.argmax(1) == pb.argmax(1)).all()


def test_live_frames_in_bfloat16_keep_the_labels(monkeypatch, views):
    pytest.importorskip("openvino")
    if not runtime.bf16_available():
        pytest.skip("this CPU has no native bfloat16")
    paths, labels = views
    backbone = backbone_on(monkeypatch, "openvino", live="bf16")
    assert backbone._live_network.precision == "bf16"
    exact, _ = backbone.embed_many(paths)  # bulk work (training, predict) stays float32
    live = np.stack(backbone.embed_frames([p.read_bytes() for p in paths], LIVE))
    cosine = (exact * live).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(live, axis=1)
    assert cosine.min() >= 0.99
    train = np.arange(len(paths)) % 2 == 0
    model = fit(exact[train], labels[train], ["cat", "coffee", "rocket"], backbone.id, "image", classifier="knn",
                validation_split=0)
    assert [p.label for p in model.predict_embeddings(exact[~train])] == [p.label for p in model.predict_embeddings(live[~train])]
    # and a request (REST prediction) through the same queue is float32, equal to bulk
    rest = np.stack(backbone.embed_frames([p.read_bytes() for p in paths[:3]], REQUEST))
    np.testing.assert_allclose(rest, exact[:3], atol=1e-5)


def test_the_queue_batches_streams_fairly_and_keeps_only_the_newest_frame(backbone):
    pictures = jpegs(12, seed=5, side=224)
    started = []
    queue = InferenceQueue(lambda items, priority: started.append(len(items)) or backbone.embed_frames(items, priority),
                           max_batch=4)
    try:
        # A fast stream replaces its waiting frame eleven times; a slow one sends one frame.
        blocker = queue.submit(pictures[0], key="warm-up")  # keeps the worker busy meanwhile
        fast = [queue.submit(p, key="fast") for p in pictures[1:]]
        slow = queue.submit(pictures[0], key="slow")
        blocker.result(timeout=60)
        assert slow.result(timeout=60).shape == (1280,)
        assert fast[-1].result(timeout=60).shape == (1280,)
        stale = [f for f in fast[:-1] if isinstance(f.exception(timeout=60), Superseded)]
        assert len(stale) == len(fast) - 1  # only the newest frame of the fast stream ran
        assert sum(started) == 3  # warm-up, then fast's newest and slow's frame together
        a, b = fast[-1].result(), backbone.embed_one(pictures[-1])  # live: maybe bfloat16
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) >= 0.99
        # live frames go before waiting requests
        order = []
        hold = queue.submit(pictures[0], key="busy")
        request = queue.submit(pictures[1], priority=REQUEST)
        request.add_done_callback(lambda _: order.append("request"))
        live = queue.submit(pictures[2], key="stream")
        live.add_done_callback(lambda _: order.append("live"))
        hold.result(timeout=60), request.result(timeout=60), live.result(timeout=60)
        assert order == ["live", "request"]
    finally:
        queue.close()


async def _stream(url: str, frames: list[bytes], seconds: float, wait_for_answers: bool, pause: float) -> dict:
    """One live preview: sends frames, collects answers for `seconds`."""
    answers, dropped, errors = 0, 0, []
    async with websockets.connect(url, max_size=2**20) as ws:
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            await ws.send(frames[i % len(frames)])
            i += 1
            if wait_for_answers:
                reply = json.loads(await ws.recv())
            else:  # flood: answers are read as they come, several frames in flight
                try:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 0.001))
                except asyncio.TimeoutError:
                    await asyncio.sleep(pause)
                    continue
            answers += "label" in reply
            dropped = max(dropped, reply.get("dropped", 0))
            if "error" in reply:
                errors.append(reply["error"])
            await asyncio.sleep(pause)
    return {"answers": answers, "dropped": dropped, "errors": errors, "sent": i}


def test_two_live_streams_at_different_rates_both_get_answers(tmp_path):
    import httpx

    server = Server(tmp_path).start()
    try:
        with httpx.Client(base_url=server.base, timeout=120) as http:
            project = http.post("/api/projects", json={"name": "two streams"}).json()
            pid = project["id"]
            http.put(f"/api/projects/{pid}/settings", json={"classifier": "knn"})
            pictures = jpegs(8, seed=9, side=224)
            for i, c in enumerate(project["classes"]):
                files = [("files", (f"{j}.jpg", p, "image/jpeg")) for j, p in enumerate(pictures[i::2])]
                assert http.post(f"/api/projects/{pid}/classes/{c['id']}/samples", files=files).status_code == 201
            while http.get(f"/api/projects/{pid}").json()["pending_embeddings"]:
                time.sleep(0.1)
        url = f"{server.base.replace('http', 'ws')}/api/projects/{pid}/live"

        async def both():
            return await asyncio.gather(_stream(url, pictures, 4, wait_for_answers=False, pause=0.002),
                                        _stream(url, pictures, 4, wait_for_answers=True, pause=0.2))

        flood, slow = asyncio.run(both())
    finally:
        server.stop()
    assert not flood["errors"] and not slow["errors"]
    assert slow["answers"] >= 10  # five a second for four seconds, less a little
    assert flood["answers"] >= 10 and flood["dropped"] > 0  # stale frames were dropped, not queued


def test_the_classroom_benchmark_runs_short(capsys):
    import classroom

    [row] = classroom.main(["--students", "2", "--seconds", "3", "--photos", "4"])
    table = capsys.readouterr().out
    assert "| 2 |" in table
    assert row["errors"] == []
    assert row["answers"] >= 2 * 3  # each student saw at least one answer a second
    assert row["right_label"] >= 0.9
    assert row["training_max_s"] < 120 and row["peak_mb"] > 0

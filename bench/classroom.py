"""A classroom on one laptop: N students on one `teachable serve`, each with an own image project.

    python bench/classroom.py [--students 1 10 30] [--seconds 30] [--photos 10] [--server-arg ...]

For each N: a fresh `teachable serve` in its own process; N students each create an image project
with three classes, upload `--photos` photos to each (one request per class, as dropping a folder
does), then all press Train at the same moment (the trained head, the default settings) and wait
for it to finish; then each runs the live preview over the WebSocket for `--seconds`, as the page
does: one 224x224 JPEG frame in flight, the next sent as soon as the answer comes. Prints, per N:
per-student preview updates/s (the slowest student's too), round trip p50 / p95 / max, training wall
time p50 / max (press to done), the server's peak memory and every error. `--server-arg` passes
options to `teachable serve` (say `--server-arg=--live-precision=fp32` to compare); `--settled`
presses Train only once every sample is embedded (the usual case: samples recorded one by one are
embedded as they arrive).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import describe  # noqa: E402
from photos import photo, random_view  # noqa: E402
from servers import Server  # noqa: E402

CLASSES = ("cat", "rocket", "coffee")


def class_photos(per_class: int, seed: int) -> dict[str, list[bytes]]:
    """Phone-sized JPEGs (480x480) of random views of three scikit-image photos, per class."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[bytes]] = {}
    for name in CLASSES:
        out[name] = []
        for _ in range(per_class):
            buffer = io.BytesIO()
            random_view(photo(name), rng).resize((480, 480)).save(buffer, format="JPEG", quality=88)
            out[name].append(buffer.getvalue())
    return out


def frames(count: int, seed: int) -> list[bytes]:
    """Live-preview frames as the page grabs them: 224x224 JPEG at quality 0.85."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        buffer = io.BytesIO()
        random_view(photo(CLASSES[i % 3]), rng).resize((224, 224)).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


@dataclass
class Results:
    round_trips: list[float] = field(default_factory=list)  # ms, every student together
    updates: list[int] = field(default_factory=list)  # answers per student
    training_s: list[float] = field(default_factory=list)
    embedding_s: list[float] = field(default_factory=list)  # of training_s: waiting for the samples' embeddings
    errors: list[str] = field(default_factory=list)
    correct: int = 0


async def student(base: str, number: int, photos: dict[str, list[bytes]], preview: list[bytes],
                  start_training: asyncio.Event, start_preview: asyncio.Event, seconds: float, ready: list,
                  trained: list, results: Results, settled: bool) -> None:
    # Idle connections are dropped before uvicorn's 5-second keep-alive ends them, as browsers do:
    # reusing one the server is closing at that moment fails with a ReadError that is the client's.
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=httpx.Limits(keepalive_expiry=4)) as http:
        async def call(method: str, url: str, **kwargs) -> dict:
            response = await http.request(method, url, **kwargs)
            if response.status_code >= 400:
                results.errors.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
                raise RuntimeError(response.text)
            return response.json() if response.content else {}

        project = await call("POST", "/api/projects", json={"name": f"student {number}"})
        pid = project["id"]
        ids = [c["id"] for c in project["classes"]]
        while len(ids) < len(CLASSES):
            ids.append((await call("POST", f"/api/projects/{pid}/classes", json={"name": "class"}))["id"])
        for class_id, name in zip(ids, CLASSES):
            await call("PATCH", f"/api/projects/{pid}/classes/{class_id}", json={"name": name})
            files = [("files", (f"{name}{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos[name])]
            await call("POST", f"/api/projects/{pid}/classes/{class_id}/samples", files=files)
        if settled:  # the samples embedded before anyone presses Train, as while recording
            while (await call("GET", f"/api/projects/{pid}"))["pending_embeddings"]:
                await asyncio.sleep(0.1)
        ready.append(number)
        await start_training.wait()
        pressed = time.perf_counter()
        await call("POST", f"/api/projects/{pid}/train", json={})
        embedded = None
        while True:
            status = await call("GET", f"/api/projects/{pid}/train")
            if embedded is None and status["state"] != "embedding":
                embedded = time.perf_counter() - pressed
            if status["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.3)  # as often as the page asks
        results.training_s.append(time.perf_counter() - pressed)
        results.embedding_s.append(embedded)
        trained.append(number)
        if status["state"] == "failed":
            results.errors.append(f"training: {status['error']}")
            return
        await start_preview.wait()  # the preview is measured with every student's training done
        answered = 0
        async with websockets.connect(f"{base.replace('http', 'ws')}/api/projects/{pid}/live", max_size=2**20) as ws:
            deadline = time.perf_counter() + seconds
            i = number
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                await ws.send(preview[i % len(preview)])
                reply = json.loads(await ws.recv())
                results.round_trips.append((time.perf_counter() - sent) * 1000)
                if "error" in reply:
                    results.errors.append(f"live: {reply['error']}")
                else:
                    answered += 1
                    results.correct += reply["label"] == CLASSES[i % 3]
                i += 1
        results.updates.append(answered)


async def classroom(base: str, students: int, photos: dict, preview: list[bytes], seconds: float,
                    settled: bool) -> Results:
    results = Results()
    train, watch = asyncio.Event(), asyncio.Event()
    ready: list[int] = []
    trained: list[int] = []
    tasks = [asyncio.create_task(student(base, n, photos, preview, train, watch, seconds, ready, trained, results, settled))
             for n in range(students)]
    for gate, done in ((train, ready), (watch, trained)):
        while len(done) < students and not any(t.done() for t in tasks):
            await asyncio.sleep(0.05)
        gate.set()
    for task in asyncio.as_completed(tasks):
        try:
            await task
        except Exception as exc:  # an error answer is already recorded; anything else too
            if not results.errors:
                results.errors.append(repr(exc))
    return results


def measure(students: int, seconds: float, per_class: int, server_args: list[str], settled: bool = False) -> dict:
    photos = class_photos(per_class, seed=11)
    preview = frames(60, seed=12)
    with tempfile.TemporaryDirectory() as workspace:
        server = Server(workspace, *server_args).start()
        try:
            results = asyncio.run(classroom(server.base, students, photos, preview, seconds, settled))
            peak = server.peak_rss()
        finally:
            server.stop()
    trips = np.array(results.round_trips or [np.nan])
    rates = np.array(results.updates or [0]) / seconds
    return {
        "students": students,
        "updates_per_s": float(rates.mean()),
        "slowest_updates_per_s": float(rates.min()),
        "p50_ms": float(np.percentile(trips, 50)),
        "p95_ms": float(np.percentile(trips, 95)),
        "max_ms": float(trips.max()),
        "training_p50_s": float(np.median(results.training_s)) if results.training_s else float("nan"),
        "training_max_s": max(results.training_s, default=float("nan")),
        "embedding_wait_p50_s": float(np.median(results.embedding_s)) if results.embedding_s else float("nan"),
        "peak_mb": peak / 2**20,
        "answers": int(sum(results.updates)),
        "right_label": results.correct / max(1, sum(results.updates)),
        "errors": results.errors,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--photos", type=int, default=10, help="photos per class and student")
    parser.add_argument("--server-arg", action="append", default=[], help="an option for `teachable serve`")
    parser.add_argument("--settled", action="store_true",
                        help="press Train once every student's samples are embedded (as when they were recorded "
                             "one by one), instead of right after uploading them all at once")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args(argv)
    rows = [measure(n, args.seconds, args.photos, args.server_arg, args.settled) for n in args.students]
    print(f"machine: {describe()}{' — serve ' + ' '.join(args.server_arg) if args.server_arg else ''}"
          f"{' — Train pressed with the samples embedded' if args.settled else ''}")
    print()
    print("| students | preview updates/s each (slowest) | round trip p50 / p95 / max | training wall p50 / max "
          "(of it waiting for embeddings, p50) | server peak memory | right label | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['students']} | {r['updates_per_s']:.1f} ({r['slowest_updates_per_s']:.1f}) "
              f"| {r['p50_ms']:.0f} / {r['p95_ms']:.0f} / {r['max_ms']:.0f} ms "
              f"| {r['training_p50_s']:.1f} / {r['training_max_s']:.1f} s ({r['embedding_wait_p50_s']:.1f} s) "
              f"| {r['peak_mb']:.0f} MB "
              f"| {r['right_label']:.0%} | {len(r['errors'])} |")
    for r in rows:
        for error in r["errors"][:5]:
            print(f"- {r['students']} students: {error}")
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()

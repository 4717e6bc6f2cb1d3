"""A classroom on one server: N clients, each with its own project, uploading webcam samples and
streaming live-preview frames at the same time, for S seconds, against `teachable serve` on loopback.

    python bench/load_test.py [--clients 30] [--seconds 60]

Counts 5xx answers and lost samples (samples in each project afterwards vs. samples whose
upload was acknowledged) and reports latency percentiles. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import describe  # noqa: E402
from servers import jpegs  # noqa: E402


async def student(base: str, ws_base: str, number: int, seconds: float, pictures: list[bytes], stats: dict) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        project = (await http.post("/api/projects", json={"name": f"student {number}"})).json()
        pid, classes = project["id"], [c["id"] for c in project["classes"]]
        await http.put(f"/api/projects/{pid}/settings", json={"classifier": "knn"})
        acknowledged: set[int] = set()
        deadline = time.perf_counter() + seconds
        uploads_done = asyncio.Event()

        async def capture() -> None:
            i = number
            while time.perf_counter() < deadline:
                picture = pictures[i % len(pictures)]
                start = time.perf_counter()
                response = await http.post(f"/api/projects/{pid}/classes/{classes[i % 2]}/samples",
                                           files=[("files", (f"{i}.jpg", picture, "image/jpeg"))], data={"source": "webcam"})
                stats["upload_ms"].append((time.perf_counter() - start) * 1000)
                stats["status"][response.status_code] = stats["status"].get(response.status_code, 0) + 1
                if response.status_code == 201:
                    acknowledged.update(response.json()["ids"])
                i += 7
                await asyncio.sleep(0.2)  # hold-to-record sends a few frames a second
            uploads_done.set()

        async def preview() -> None:
            # wait until both classes have an embedded sample, as the page does
            while time.perf_counter() < deadline:
                summary = (await http.get(f"/api/projects/{pid}")).json()
                if all(c["count"] for c in summary["classes"]) and summary["pending_embeddings"] == 0:
                    break
                await asyncio.sleep(0.5)
            async with websockets.connect(f"{ws_base}/api/projects/{pid}/live", max_size=2**20) as ws:
                i = 0
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    await ws.send(pictures[(number + i) % len(pictures)])
                    reply = await ws.recv()
                    stats["predict_ms"].append((time.perf_counter() - start) * 1000)
                    if '"error"' in reply:
                        stats["predict_errors"] += 1
                    i += 1
                    await asyncio.sleep(0.1)  # the page sends up to 15 frames a second

        await asyncio.gather(capture(), preview())
        await uploads_done.wait()
        summary = (await http.get(f"/api/projects/{pid}")).json()
        stored = sum(c["count"] for c in summary["classes"])
        stats["acknowledged"] += len(acknowledged)
        stats["stored"] += stored


async def run(base: str, clients: int, seconds: float) -> dict:
    stats = {"upload_ms": [], "predict_ms": [], "status": {}, "predict_errors": 0, "acknowledged": 0, "stored": 0}
    pictures = jpegs(40, seed=3, side=224, quality=80)
    ws_base = base.replace("http://", "ws://")
    await asyncio.gather(*(student(base, ws_base, n, seconds, pictures, stats) for n in range(clients)))
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workspace:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "teachable.cli", "serve", "--port", str(port), "--workspace", workspace],
                                  stderr=subprocess.DEVNULL, env=os.environ.copy())
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(base + "/api/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            started = time.perf_counter()
            stats = asyncio.run(run(base, args.clients, args.seconds))
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=60)
    fives = sum(n for code, n in stats["status"].items() if code >= 500)
    print(f"machine: {describe()}")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| clients x duration | {args.clients} x {args.seconds:.0f} s (wall {elapsed:.0f} s) |")
    print(f"| sample uploads (HTTP status: count) | {dict(sorted(stats['status'].items()))} |")
    print(f"| 5xx answers | {fives} |")
    print(f"| samples acknowledged / stored afterwards | {stats['acknowledged']} / {stats['stored']} |")
    print(f"| lost samples | {stats['acknowledged'] - stats['stored']} |")
    print(f"| upload latency p50 / p99 | {np.percentile(stats['upload_ms'], 50):.0f} / {np.percentile(stats['upload_ms'], 99):.0f} ms |")
    if stats["predict_ms"]:
        print(f"| live predictions answered | {len(stats['predict_ms'])} ({stats['predict_errors']} with an error message) |")
        print(f"| live prediction latency p50 / p99 | {np.percentile(stats['predict_ms'], 50):.0f} / {np.percentile(stats['predict_ms'], 99):.0f} ms |")


if __name__ == "__main__":
    main()

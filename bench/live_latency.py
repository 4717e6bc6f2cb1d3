"""Live preview latency over the WebSocket: frame sent -> confidences received.

    python bench/live_latency.py [--seconds 20]

Starts `teachable serve` on a free loopback port with a fresh workspace, builds a 3-class
kNN project from scikit-image photos through the REST API, then streams 224x224 JPEG webcam-
sized frames (random crops of the photos) one after another for N seconds, as the page does.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
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
from photos import photo, random_view  # noqa: E402


def jpeg(image, size=224) -> bytes:
    buffer = io.BytesIO()
    image.resize((size, size)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stream(url: str, frames: list[bytes], seconds: float) -> tuple[list[float], float, int]:
    latencies = []
    async with websockets.connect(url, max_size=2**20) as ws:
        for frame in frames[:3]:  # warm-up
            await ws.send(frame)
            await ws.recv()
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds:
            sent = time.perf_counter()
            await ws.send(frames[i % len(frames)])
            await ws.recv()
            latencies.append((time.perf_counter() - sent) * 1000)
            i += 1
        return latencies, time.perf_counter() - start, i


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    names = ["cat", "coffee", "rocket"]
    with tempfile.TemporaryDirectory() as workspace:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "teachable.cli", "serve", "--port", str(port), "--workspace", workspace],
                                  stderr=subprocess.DEVNULL, env=os.environ.copy())
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=120) as http:
                for _ in range(200):
                    try:
                        http.get("/api/health")
                        break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                project = http.post("/api/projects", json={"name": "bench"}).json()
                pid = project["id"]
                http.put(f"/api/projects/{pid}/settings", json={"classifier": "knn"})
                ids = [c["id"] for c in project["classes"]] + [http.post(f"/api/projects/{pid}/classes", json={"name": "c3"}).json()["id"]]
                for cid, name in zip(ids, names):
                    files = [("files", (f"{i}.jpg", jpeg(random_view(photo(name), rng)), "image/jpeg")) for i in range(10)]
                    http.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files)
                while http.get(f"/api/projects/{pid}").json()["pending_embeddings"]:
                    time.sleep(0.2)
            frames = [jpeg(random_view(photo(names[i % 3]), rng)) for i in range(30)]
            latencies, elapsed, count = asyncio.run(stream(f"ws://127.0.0.1:{port}/api/projects/{pid}/live", frames, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"machine: {describe()}")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| frames (224x224 JPEG, one in flight) | {count} in {elapsed:.1f} s |")
    print(f"| sustained rate | {count / elapsed:.1f} frames/s |")
    print(f"| latency median | {statistics.median(latencies):.1f} ms |")
    print(f"| latency p90 | {np.percentile(latencies, 90):.1f} ms |")
    print(f"| latency p99 | {np.percentile(latencies, 99):.1f} ms |")


if __name__ == "__main__":
    main()

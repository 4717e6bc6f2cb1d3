"""Memory under the worst request and the worst file of each kind: a process's peak resident
memory must stay within a budget whatever a client sends or a file says, and refusing a hostile
file must take under 10 s of CPU.

    python bench/memory_bounds.py [--budget-mb 1536]

Runs `teachable serve` on loopback (and `teachable serve-model`, and the CLI) in their own
processes, with a trained project so the network is loaded as in real use, then sends:
chunked bodies far over the limit (no Content-Length), a model file that unpacks to
gigabytes, 30 parallel thumbnails of a 64-megapixel photo, 10 parallel uploads of a small PNG
that decodes to 64 megapixels, and imports of a zip of 49 MB undecodable entries and of a folder
with a 3 GB file; then hands the CLI each hostile file of issue 22 (TF.js configs that would
allocate gigabytes, Keras files reading other files or unpacking gigabytes, `.tm` projects of
large entries, a kNN `.teachable` of a gigabyte of examples). Prints a Markdown table of each
process's peak (VmHWM) against the budget, with its CPU seconds where the CLI ran.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from crafted import big_jpeg, bomb_model, explain_bomb, knn_bomb  # noqa: E402
from hostile import with_extra_layer, with_layer, write_h5, write_tfjs  # noqa: E402
from machine import describe  # noqa: E402
from servers import Server, free_port, jpegs  # noqa: E402
from teachable import Project  # noqa: E402

MB = 1024 * 1024


def chunked(total: int, start: bytes = b""):
    yield start
    for _ in range(total // MB):
        yield bytes(MB)


MULTIPART = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'


def post(url: str, **kwargs) -> str:
    try:
        return str(httpx.post(url, timeout=300, **kwargs).status_code)
    except httpx.HTTPError as exc:  # the server may close the connection at the limit
        return type(exc).__name__


def trained_project(server: Server) -> tuple[str, int]:
    base = server.base
    project = httpx.post(base + "/api/projects", json={"name": "memory"}).json()
    pid = project["id"]
    for k, cls in enumerate(project["classes"]):
        httpx.post(f"{base}/api/projects/{pid}/classes/{cls['id']}/samples",
                   files=[("files", (f"{i}.jpg", f, "image/jpeg")) for i, f in enumerate(jpegs(8, seed=k))], timeout=120)
    httpx.post(f"{base}/api/projects/{pid}/train", json={"epochs": 5}, timeout=60)
    while httpx.get(f"{base}/api/projects/{pid}/train").json()["state"] not in ("done", "failed"):
        time.sleep(0.2)
    httpx.post(f"{base}/api/projects/{pid}/predict", files=[("f", ("a.jpg", jpegs(1, seed=9)[0], "image/jpeg"))], timeout=60)
    return pid, project["classes"][0]["id"]


def cli_peak(args: list[str], env: dict | None = None) -> tuple[str, int, float]:
    """(exit status, peak resident bytes, CPU seconds) of the CLI run in its own process."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so a child would report
    # the parent's peak (here, the test runner's).
    code = ("import runpy, sys, time; sys.argv = ['teachable'] + sys.argv[1:]; start = time.process_time()\n"
            "try:\n    runpy.run_module('teachable.cli', run_name='__main__')\n"
            "finally:\n    print('PEAK', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')),"
            " time.process_time() - start, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    peak, cpu = result.stderr.rsplit("PEAK", 1)[1].split()[:2]
    return f"exit {result.returncode}", int(peak) * 1024, float(cpu)


def tm_archive(path: Path, entries: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", '{"type": "image", "version": "2.4.10", "appdata": {}}')
        for i in range(entries):
            z.writestr(f"cats-!-{i}.jpg", bytes(50 * MB - 1))
        z.writestr("dogs-!-0.jpg", jpegs(1, seed=3)[0])
    return path


def tm_of_huge_pngs(path: Path, count: int) -> Path:
    """A .tm of ``count`` PNGs of 8,000 x 8,000 one-bit pixels: kilobytes each, 64 megapixels decoded."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", '{"type": "image", "version": "2.4.10", "appdata": {}}')
        for i in range(count):
            image = Image.new("1", (8000, 8000), 0)
            image.putpixel((i, 0), 1)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
            z.writestr(f"{'ab'[i % 2]}-!-{i}.png", buffer.getvalue())
    return path


def live_rows(tmp: Path) -> list[tuple[str, str, int, None]]:
    """Issue 36's live-stream and review findings, each on a fresh server."""
    import asyncio
    import json
    import struct

    import websockets

    from people import person

    rows = []
    server = Server(tmp / "ws-live").start()
    try:
        pid = httpx.post(server.base + "/api/projects", json={"name": "poses", "kind": "pose"}, timeout=60).json()["id"]
        buffer = io.BytesIO()
        person("astronaut").resize((320, 320)).save(buffer, format="JPEG")
        url = f"ws://127.0.0.1:{server.port}/api/projects/{pid}/live?mode=landmarks"

        async def stream() -> int:
            async with websockets.connect(url, max_size=None, open_timeout=120) as ws:
                for _ in range(3):
                    await ws.send(buffer.getvalue())
                    await asyncio.wait_for(ws.recv(), 300)
            return 1

        async def streams(n: int) -> int:
            return sum(await asyncio.gather(*(stream() for _ in range(n))))

        done = asyncio.run(streams(40))
        rows.append(("serve: 40 pose live streams at once, 3 frames each", f"{done} answered", server.peak_rss(), None))
        time.sleep(2)
        with open(f"/proc/{server.process.pid}/status") as handle:
            now = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:"))
        rows.append(("serve: after they closed (resident now)", "—", now, None))
        sockets = []
        for _ in range(60):  # each holds a message of 4 MB, a quarter of it sent
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            raw.sendall((f"GET /api/projects/{pid}/live HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            raw.recv(4096)
            raw.sendall(bytes([0x82, 0xFF]) + struct.pack(">Q", 4 * MB - 64) + bytes(4) + bytes(MB))
            sockets.append(raw)
        time.sleep(2)
        rows.append(("serve: 60 sockets each holding an unfinished 4 MB message", "held", server.peak_rss(), None))
        for raw in sockets:
            raw.close()
        review_pid = httpx.post(server.base + "/api/projects", json={"name": "review"}, timeout=60).json()
        for k, cls in enumerate(review_pid["classes"]):
            for start in range(0, 500, 100):
                httpx.post(f"{server.base}/api/projects/{review_pid['id']}/classes/{cls['id']}/samples", timeout=600,
                           files=[("files", (f"{i}.jpg", f, "image/jpeg")) for i, f in enumerate(jpegs(100, seed=100 * k + start))])
        codes: list[int] = []
        threads = [threading.Thread(target=lambda: codes.append(httpx.get(
            f"{server.base}/api/projects/{review_pid['id']}/review", timeout=900).status_code)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows.append(("serve: 6 reviews at once of a 1,000-sample project", "/".join(sorted({str(c) for c in codes})),
                     server.peak_rss(), None))
    finally:
        server.stop()
    return rows


def hostile_files(tmp: Path) -> list[tuple[str, list[str]]]:
    """(what, CLI arguments) for each hostile file of issue 22, made in ``tmp``."""
    import numpy as np

    photo = tmp / "photo.jpg"
    photo.write_bytes(jpegs(1, seed=4)[0])
    models = {
        "TF.js: ZeroPadding2D 3000": with_extra_layer({"class_name": "ZeroPadding2D", "config": {"name": "p", "padding": 3000}}),
        "TF.js: ZeroPadding2D 100000": with_extra_layer({"class_name": "ZeroPadding2D", "config": {"name": "p", "padding": 100000}}),
        "TF.js: dilation_rate 1e6": with_layer({"dilation_rate": [1000000, 1000000]}),
        "TF.js: 8000x8000 input": with_layer({"batch_input_shape": [None, 8000, 8000, 3]}, index=0),
    }
    out = [(what, ["predict", str(write_tfjs(tmp / f"tfjs{i}", topology)), str(photo)]) for i, (what, topology) in enumerate(models.items())]
    secret = tmp / "secret.bin"
    secret.write_bytes(np.arange(4, dtype="<f4").tobytes())

    def external(group, name):
        group.create_dataset(name, shape=(2, 2), dtype="<f4", external=[(str(secret), 0, 16)])

    def gzip_400mb(group, name):
        dataset = group.create_dataset(name, shape=(100_000_000,), dtype="<f4", chunks=(1_000_000,), compression="gzip")
        for start in range(0, 100_000_000, 1_000_000):
            dataset[start:start + 1_000_000] = np.zeros(1_000_000, "<f4")

    def plain(array):
        return lambda group, name: group.create_dataset(name, data=array)

    from hostile import tiny_weights

    arrays = {f"{n.split('/')[0]}/{n.split('/')[0]}/{n.split('/')[1]}:0": plain(a) for n, a in tiny_weights()}
    (tmp / "h5a").mkdir()
    out.append(("Keras .h5: weights stored in another file", ["predict", str(write_h5(tmp / "h5a" / "keras_model.h5", arrays={
        **arrays, "dense/dense/kernel:0": external})), str(photo)]))
    (tmp / "h5b").mkdir()
    out.append(("Keras .h5: 3 gzip datasets of 400 MB (1 MB file)", ["predict", str(write_h5(tmp / "h5b" / "keras_model.h5", arrays={
        **arrays, **{f"x{i}/x{i}/kernel:0": gzip_400mb for i in range(3)}})), str(photo)]))
    (tmp / "h5c").mkdir()
    out.append(("Keras .h5: 10000x10000 input", ["predict", str(write_h5(
        tmp / "h5c" / "keras_model.h5", topology=with_layer({"batch_input_shape": [None, 10000, 10000, 3]}, index=0))), str(photo)]))
    bomb = tmp / "knn-1gb.teachable"
    bomb.write_bytes(knn_bomb(200_000))
    out.append((f"kNN .teachable of {bomb.stat().st_size / 1024:.1f} kB: 1 GB of examples", ["predict", str(bomb), str(photo)]))
    from teachable.modelfile import MAX_WEIGHTS_BYTES

    largest = tmp / "knn-largest.teachable"
    largest.write_bytes(knn_bomb(MAX_WEIGHTS_BYTES // (1280 * 4 + 8) - 10))
    out.append(("kNN .teachable at the 512 MB limit (loads, predicts)", ["predict", str(largest), str(photo)]))
    explained = tmp / "explain-bomb.teachable"
    explained.write_bytes(explain_bomb())
    out.append((f"head .teachable of {explained.stat().st_size / 1024:.0f} kB: explanation arrays of 640 MB", ["predict", "--explain", str(explained), str(photo)]))

    def one_value_chunks(group, name):
        group.create_dataset(name, shape=(400_000,), dtype="<f4", chunks=(1,), fillvalue=0.0)

    (tmp / "h5d").mkdir()
    out.append(("Keras .h5: 400k values in chunks of one", ["predict", str(write_h5(tmp / "h5d" / "keras_model.h5", arrays={
        **arrays, "x/x/kernel:0": one_value_chunks})), str(photo)]))
    import h5py

    (tmp / "h5e").mkdir()
    nested = write_h5(tmp / "h5e" / "keras_model.h5", arrays=arrays)
    with h5py.File(nested, "a") as handle:
        handle.create_group("/".join(["g"] * 2000))
    out.append(("Keras .h5: 2,000 nested groups", ["predict", str(nested), str(photo)]))
    out.append((".tm: 50 PNGs of 64 megapixels", ["project", "import", "tmpng", str(tm_of_huge_pngs(tmp / "png.tm", 50))]))
    out.append((".tm: 32 entries of 50 MB of zeros (1.6 MB file)", ["project", "import", "tm32", str(tm_archive(tmp / "a.tm", 32))]))
    out.append((".tm: 20 entries of 50 MB of zeros (imported, skipped)", ["project", "import", "tm20", str(tm_archive(tmp / "b.tm", 20))]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mb", type=int, default=1536)
    args = parser.parse_args()
    rows: list[tuple[str, str, int, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = Server(tmp / "ws").start()
        try:
            pid, cid = trained_project(server)
            rows.append(("serve: trained project, one prediction (baseline)", "200", server.peak_rss(), None))
            status = post(f"{server.base}/api/projects/{pid}/predict", content=chunked(600 * MB), headers={"Content-Type": "application/json"})
            rows.append(("serve: 600 MB chunked JSON into /predict", status, server.peak_rss(), None))
            status = post(f"{server.base}/api/projects/{pid}/classes/{cid}/samples", content=chunked(2048 * MB, MULTIPART),
                          headers={"Content-Type": "multipart/form-data; boundary=x"})
            rows.append(("serve: 2 GB chunked multipart upload", status, server.peak_rss(), None))
            bomb = bomb_model(counts=False)
            with sqlite3.connect(server.workspace / f"{pid}.teachable-project", timeout=30) as conn:
                conn.execute("UPDATE models SET is_current = 0")
                conn.execute("INSERT INTO models(created, classifier, settings, data, is_current) VALUES ('now', 'knn', '{}', ?, 1)", (bomb,))
            statuses = {post(f"{server.base}/api/projects/{pid}/predict", files=[("f", ("a.jpg", jpegs(1, seed=1)[0], "image/jpeg"))])
                        for _ in range(5)}
            rows.append((f"serve: predict x5 with a {len(bomb) / 1024:.0f} kB model that unpacks to 2 GB", "/".join(sorted(statuses)), server.peak_rss(), None))
            big = httpx.post(f"{server.base}/api/projects/{pid}/classes/{cid}/samples", files=[("files", ("big.jpg", big_jpeg(), "image/jpeg"))], timeout=300)
            sample = big.json()["ids"][0]
            rows.append(("serve: upload of one 64-megapixel photo", str(big.status_code), server.peak_rss(), None))
            codes: list[int] = []
            threads = [threading.Thread(target=lambda size=size: codes.append(httpx.get(
                f"{server.base}/api/projects/{pid}/samples/{sample}/thumbnail?size={size}", timeout=300).status_code)) for size in range(64, 94)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rows.append(("serve: 30 parallel thumbnails of it", "/".join(sorted({str(c) for c in codes})), server.peak_rss(), None))
            png = io.BytesIO()
            Image.new("RGB", (8000, 8000), (120, 40, 200)).save(png, format="PNG", optimize=True)
            codes = []
            threads = [threading.Thread(target=lambda i=i: codes.append(httpx.post(
                f"{server.base}/api/projects/{pid}/classes/{cid}/samples", files=[("files", (f"{i}.png", png.getvalue(), "image/png"))],
                timeout=300).status_code)) for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rows.append((f"serve: 10 parallel uploads of a {len(png.getvalue()) / 1024:.0f} kB PNG of 64 megapixels",
                         "/".join(sorted({str(c) for c in codes})), server.peak_rss(), None))
        finally:
            server.stop()

        model = tmp / "m.teachable"
        with sqlite3.connect(server.workspace / f"{pid}.teachable-project") as conn:
            model.write_bytes(conn.execute("SELECT data FROM models ORDER BY id LIMIT 1").fetchone()[0])
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "teachable.cli", "serve-model", str(model), "--port", str(port)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            status = post(f"http://127.0.0.1:{port}/api/predict", content=chunked(500 * MB), headers={"Content-Type": "application/json"})
            with open(f"/proc/{process.pid}/status") as handle:
                peak = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmHWM:"))
            rows.append(("serve-model: 500 MB chunked JSON into /api/predict", status, peak, None))
        finally:
            process.terminate()
            process.wait(timeout=30)

        archive = tmp / "junk.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for i in range(40):
                z.writestr(f"cats/{i}.jpg", bytes(49 * MB))
        empty = tmp / "p.teachable-project"
        Project.create(empty).close()
        rows.append(("CLI: import of a zip of 40 undecodable 49 MB entries", *cli_peak(["project", "import", str(empty), str(archive)])))
        folder = tmp / "photos" / "cats"
        folder.mkdir(parents=True)
        (folder / "ok.jpg").write_bytes(jpegs(1, seed=2)[0])
        with open(folder / "huge.jpg", "wb") as handle:
            handle.truncate(3 * 1024**3)
        rows.append(("CLI: import of a folder holding a 3 GB .jpg", *cli_peak(["project", "import", str(empty), str(tmp / "photos")])))
        rows += live_rows(tmp)
        env = {**os.environ, "TEACHABLE_WORKSPACE": str(tmp / "hostile-ws")}
        for what, cli_args in hostile_files(tmp):
            rows.append((f"CLI: {what}", *cli_peak(cli_args, env)))

    budget = args.budget_mb * MB
    print(f"Machine: {describe()}. Budget: {args.budget_mb:,} MB peak resident memory per process.\n")
    print("| worst request or file | answer | peak RSS after it | CPU | within budget |")
    print("| --- | --- | ---: | ---: | :---: |")
    for what, status, peak, cpu in rows:
        ok = peak <= budget and (cpu is None or cpu <= 10 or status == "exit 0")
        print(f"| {what} | {status} | {peak / MB:,.0f} MB | {'—' if cpu is None else f'{cpu:.1f} s'} | {'✔' if ok else '✘'} |")
    if any(peak > budget or (cpu is not None and cpu > 10 and status != "exit 0") for _, status, peak, cpu in rows):
        sys.exit("a request or file went past the memory budget, or took over 10 s of CPU to refuse")


if __name__ == "__main__":
    main()

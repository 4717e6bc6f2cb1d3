"""The server's memory under the worst request of each kind: its peak resident memory must stay
within a budget whatever a client sends.

    python bench/memory_bounds.py [--budget-mb 1536]

Runs `teachable serve` on loopback (and `teachable serve-model`, and the CLI importer) in their
own processes, with a trained project so the network is loaded as in real use, then sends:
chunked bodies far over the limit (no Content-Length), a model file that unpacks to
gigabytes, 30 parallel thumbnails of a 64-megapixel photo, and imports of a zip of 49 MB
undecodable entries and of a folder with a 3 GB file. Prints a Markdown table of each
process's peak (VmHWM) against the budget.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from crafted import big_jpeg, bomb_model  # noqa: E402
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


def cli_peak(args: list[str]) -> tuple[str, int]:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork + exec, so a child would report
    # the parent's peak (here, the test runner's).
    code = ("import runpy, sys; sys.argv = ['teachable'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('teachable.cli', run_name='__main__')\n"
            "finally:\n    print('PEAK', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    return f"exit {result.returncode}", int(result.stderr.rsplit("PEAK", 1)[1].split()[0]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-mb", type=int, default=1536)
    args = parser.parse_args()
    rows: list[tuple[str, str, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = Server(tmp / "ws").start()
        try:
            pid, cid = trained_project(server)
            rows.append(("serve: trained project, one prediction (baseline)", "200", server.peak_rss()))
            status = post(f"{server.base}/api/projects/{pid}/predict", content=chunked(600 * MB), headers={"Content-Type": "application/json"})
            rows.append(("serve: 600 MB chunked JSON into /predict", status, server.peak_rss()))
            status = post(f"{server.base}/api/projects/{pid}/classes/{cid}/samples", content=chunked(2048 * MB, MULTIPART),
                          headers={"Content-Type": "multipart/form-data; boundary=x"})
            rows.append(("serve: 2 GB chunked multipart upload", status, server.peak_rss()))
            bomb = bomb_model(counts=False)
            with sqlite3.connect(server.workspace / f"{pid}.teachable-project", timeout=30) as conn:
                conn.execute("UPDATE models SET is_current = 0")
                conn.execute("INSERT INTO models(created, classifier, settings, data, is_current) VALUES ('now', 'knn', '{}', ?, 1)", (bomb,))
            statuses = {post(f"{server.base}/api/projects/{pid}/predict", files=[("f", ("a.jpg", jpegs(1, seed=1)[0], "image/jpeg"))])
                        for _ in range(5)}
            rows.append((f"serve: predict x5 with a {len(bomb) / 1024:.0f} kB model that unpacks to 2 GB", "/".join(sorted(statuses)), server.peak_rss()))
            big = httpx.post(f"{server.base}/api/projects/{pid}/classes/{cid}/samples", files=[("files", ("big.jpg", big_jpeg(), "image/jpeg"))], timeout=300)
            sample = big.json()["ids"][0]
            rows.append(("serve: upload of one 64-megapixel photo", str(big.status_code), server.peak_rss()))
            codes: list[int] = []
            threads = [threading.Thread(target=lambda size=size: codes.append(httpx.get(
                f"{server.base}/api/projects/{pid}/samples/{sample}/thumbnail?size={size}", timeout=300).status_code)) for size in range(64, 94)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rows.append(("serve: 30 parallel thumbnails of it", "/".join(sorted({str(c) for c in codes})), server.peak_rss()))
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
            rows.append(("serve-model: 500 MB chunked JSON into /api/predict", status, peak))
        finally:
            process.terminate()
            process.wait(timeout=30)

        archive = tmp / "junk.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for i in range(40):
                z.writestr(f"cats/{i}.jpg", bytes(49 * MB))
        empty = tmp / "p.teachable-project"
        Project.create(empty).close()
        status, peak = cli_peak(["project", "import", str(empty), str(archive)])
        rows.append(("CLI: import of a zip of 40 undecodable 49 MB entries", status, peak))
        folder = tmp / "photos" / "cats"
        folder.mkdir(parents=True)
        (folder / "ok.jpg").write_bytes(jpegs(1, seed=2)[0])
        with open(folder / "huge.jpg", "wb") as handle:
            handle.truncate(3 * 1024**3)
        status, peak = cli_peak(["project", "import", str(empty), str(tmp / "photos")])
        rows.append(("CLI: import of a folder holding a 3 GB .jpg", status, peak))

    budget = args.budget_mb * MB
    print(f"Machine: {describe()}. Budget: {args.budget_mb:,} MB peak resident memory per process.\n")
    print("| worst request | answer | peak RSS after it | within budget |")
    print("| --- | --- | ---: | :---: |")
    for what, status, peak in rows:
        print(f"| {what} | {status} | {peak / MB:,.0f} MB | {'✔' if peak <= budget else '✘'} |")
    if any(peak > budget for _, _, peak in rows):
        sys.exit("a request went past the memory budget")


if __name__ == "__main__":
    main()

"""Processes side by side on one workspace, with the server killed at random moments.

    python bench/side_by_side.py [--rounds 200] [--seed 0]

A user keeps `teachable serve` running and, beside it, runs `teachable project list / info / export`
in a terminal, opens the same project in a notebook (the Python API), or starts a second server on
the same workspace. Every one of them opens the same SQLite files. Each round picks at random:
the page's project list and
writes over the API (a class, a sample) on the first or the second server, CLI commands running
meanwhile, a notebook process adding a class, and — now and then, while a write is in flight —
`kill -9` of the first server, which is then started again.

Afterwards every write that was acknowledged (HTTP 201, or the notebook's printed line) must be in
the files, `PRAGMA integrity_check` must say ok for every project, and the servers must never have
held a deleted `-wal`/`-shm` file open (a WAL removed under a live connection: the failure of
sqlite.org/howtocorrupt.html §2.2). Prints a table; exits 1 on any loss.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import Server  # noqa: E402

PROJECTS = ("side one", "side two")
NOTEBOOK = (
    "import sys\n"
    "from teachable import Project\n"
    "with Project.open(sys.argv[1]) as p:\n"
    "    p.add_class(sys.argv[2])\n"
    "    print('added', sys.argv[2], flush=True)\n"
)


@dataclass
class Tally:
    rounds: int = 0
    writes_acknowledged: int = 0
    writes_refused: int = 0  # an answer that is not 201 (a busy file, a server going down)
    refusals: dict[str, int] = field(default_factory=dict)  # why, by status code or error type
    kills: int = 0
    cli_runs: int = 0
    cli_failures: list[str] = field(default_factory=list)
    notebook_writes: int = 0
    deleted_side_files: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    seconds: float = 0.0


def tiny_jpeg(rng: random.Random) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), tuple(rng.randrange(256) for _ in range(3))).save(buffer, format="JPEG")
    return buffer.getvalue()


def deleted_side_files(pid: int) -> list[str]:
    """Files the process holds open whose directory entry is gone, among the project files."""
    found = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if ".teachable-project" in target and target.endswith("(deleted)"):
                found.append(target)
    except OSError:
        pass
    return found


def cli(workspace: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "teachable.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TEACHABLE_WORKSPACE": str(workspace)})


def run(rounds: int, seed: int, workspace: Path, kill_chance: float = 0.15) -> Tally:
    """The side-by-side run; returns what happened (``lost``, ``damaged`` and ``deleted_side_files``
    empty when nothing went wrong)."""
    rng = random.Random(seed)
    tally = Tally()
    CLASS_IDS.clear()
    started = time.perf_counter()
    first, second = Server(workspace).start(), Server(workspace).start()
    acknowledged: dict[str, set[str]] = {}  # project id -> class names
    samples: dict[str, list[tuple[int, int]]] = {}  # project id -> (class id, sample id)
    ids = []
    for name in PROJECTS:
        created = httpx.post(first.base + "/api/projects", json={"name": name}, timeout=30).json()
        ids.append(created["id"])
        acknowledged[created["id"]] = set()
        samples[created["id"]] = []
    try:
        for index in range(rounds):
            tally.rounds += 1
            pid = rng.choice(ids)
            for live in (first, second):  # the page lists the projects now and then
                if rng.random() < 0.5:
                    httpx.get(live.base + "/api/projects", timeout=60)
            running = [cli(workspace, "project", "list")] if rng.random() < 0.5 else []
            if rng.random() < 0.3:
                running.append(cli(workspace, "project", "info", pid))
            if rng.random() < 0.15:
                running.append(cli(workspace, "project", "export", pid, str(workspace.parent / f"export-{index}")))
            notebook = None
            if rng.random() < 0.2:
                notebook_class = f"notebook {index}"
                notebook = (notebook_class, subprocess.Popen(
                    [sys.executable, "-c", NOTEBOOK, str(workspace / f"{pid}.teachable-project"), notebook_class],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
            server = second if rng.random() < 0.25 else first
            kill_now = server is first and rng.random() < kill_chance
            killer = None
            if kill_now:  # while the writes below are in flight
                killer = threading.Timer(rng.uniform(0.0, 0.05), first.kill)
                killer.start()
            for write in range(rng.randint(1, 4)):
                _write(server, pid, f"class {index}.{write}", rng, acknowledged, samples, tally)
            for process in running:
                tally.cli_runs += 1
                _, err = process.communicate(timeout=120)
                if process.returncode != 0 and "There is no project" not in err:
                    tally.cli_failures.append(err.strip()[-300:])
            if notebook is not None:
                name, process = notebook
                out, _ = process.communicate(timeout=120)
                if process.returncode == 0 and f"added {name}" in out:
                    acknowledged[pid].add(name)
                    tally.notebook_writes += 1
            for live in (first, second):
                if live.process.poll() is None:
                    tally.deleted_side_files += deleted_side_files(live.process.pid)
            if killer is not None:
                killer.join()
                tally.kills += 1
                first.start()
        _check(workspace, acknowledged, samples, tally)
    finally:
        first.stop()
        second.stop()
    tally.seconds = time.perf_counter() - started
    return tally


def _write(server: Server, pid: str, name: str, rng: random.Random, acknowledged, samples, tally: Tally) -> None:
    """One write: a new class (while the project has room: 100 classes at most), or a photo added to
    one of the classes already acknowledged."""
    base = f"{server.base}/api/projects/{pid}"
    known = sorted({class_id for class_id, _ in samples[pid]} | set(CLASS_IDS.get(pid, ())))
    try:
        if not known or (len(acknowledged[pid]) < 90 and rng.random() < 0.4):
            answer = httpx.post(base + "/classes", json={"name": name}, timeout=60)
            if answer.status_code != 201:
                _refused(tally, str(answer.status_code))
                return
            acknowledged[pid].add(name)
            CLASS_IDS.setdefault(pid, []).append(answer.json()["id"])
        else:
            class_id = rng.choice(known)
            answer = httpx.post(f"{base}/classes/{class_id}/samples", timeout=60,
                                files=[("files", ("frame.jpg", tiny_jpeg(rng), "image/jpeg"))])
            if answer.status_code != 201:
                _refused(tally, str(answer.status_code))
                return
            samples[pid] += [(class_id, sample_id) for sample_id in answer.json()["ids"]]
        tally.writes_acknowledged += 1
    except httpx.HTTPError as exc:
        _refused(tally, type(exc).__name__)  # the server was killed before it answered: nothing acknowledged


CLASS_IDS: dict[str, list[int]] = {}  # project id -> ids of the classes created over the API


def _refused(tally: Tally, why: str) -> None:
    tally.writes_refused += 1
    tally.refusals[why] = tally.refusals.get(why, 0) + 1


def _check(workspace: Path, acknowledged, samples, tally: Tally) -> None:
    from teachable import Project

    for pid, names in acknowledged.items():
        with Project.open(workspace / f"{pid}.teachable-project") as project:
            if project.integrity_check() != "ok":
                tally.damaged.append(pid)
            present = {c.name for c in project.classes()}
            tally.lost += [f"{pid}: class '{n}'" for n in sorted(names - present)]
            stored = {s.id for s in project.samples()}
            tally.lost += [f"{pid}: sample {s}" for _, s in samples[pid] if s not in stored]


def table(tally: Tally) -> str:
    rows = [
        ("rounds", tally.rounds), ("writes acknowledged", tally.writes_acknowledged),
        ("of them by a notebook process", tally.notebook_writes),
        ("writes not acknowledged", f"{tally.writes_refused} ({', '.join(f'{k}: {v}' for k, v in sorted(tally.refusals.items()))})"),
        ("server killed (SIGKILL)", tally.kills), ("CLI commands run beside", tally.cli_runs),
        ("CLI commands failed", len(tally.cli_failures)), ("acknowledged writes lost", len(tally.lost)),
        ("projects failing integrity_check", len(tally.damaged)),
        ("deleted -wal/-shm held by a server", len(tally.deleted_side_files)), ("seconds", f"{tally.seconds:.0f}"),
    ]
    return "\n".join(["| measure | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder) / "workspace"
        tally = run(args.rounds, args.seed, workspace)
    print(table(tally))
    for line in tally.lost[:20] + tally.cli_failures[:5] + tally.deleted_side_files[:5]:
        print(line)
    if args.json:
        print(json.dumps(tally.__dict__))
    return 1 if tally.lost or tally.damaged or tally.deleted_side_files else 0


if __name__ == "__main__":
    sys.exit(main())

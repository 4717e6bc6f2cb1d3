"""Crash safety and concurrency, with real processes killed by SIGKILL mid-import."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from teachable import Project
from photos import photo, random_view

COUNT = 400
IMPORTER = textwrap.dedent(
    """
    import hashlib, sys
    from pathlib import Path
    from teachable import Project
    project = Project.open(sys.argv[1])
    for path in sorted(Path(sys.argv[2]).glob("*.jpg")):
        data = path.read_bytes()
        [sample_id] = project.add_samples("views", [data], source="import", embed=len(sys.argv) > 3)
        print(sample_id, hashlib.sha256(data).hexdigest(), flush=True)
    """
)


@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(11)
    sources = [photo(name) for name in ("cat", "coffee", "rocket", "astronaut")]
    for i in range(COUNT):
        random_view(sources[i % 4], rng).resize((128, 128)).save(folder / f"{i:04d}.jpg", quality=85)
    return folder


@pytest.mark.parametrize("run", range(4))
def test_sigkill_during_import_loses_no_acknowledged_sample(tmp_path, many_images, run):
    path = tmp_path / "crash.teachable-project"
    with Project.create(path) as p:
        p.add_class("views")
    process = subprocess.Popen(
        [sys.executable, "-c", IMPORTER, str(path), str(many_images), *(["embed"] if run % 2 else [])],
        stdout=subprocess.PIPE, text=True,
    )
    acknowledged = {}
    # A random moment part-way through, counted in acknowledged samples (a delay in seconds was
    # longer than the whole import on a quiet machine: 400 small photos take 0.3 s).
    stop_after = int(np.random.default_rng(run).integers(10, COUNT // 2))
    for line in process.stdout:
        sample_id, digest = line.split()
        acknowledged[int(sample_id)] = digest
        if len(acknowledged) >= stop_after:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < len(acknowledged) < COUNT, "the importer must be killed part-way through"
    with Project.open(path) as p:
        assert p.integrity_check() == "ok"
        stored = {s.id: s.sha256 for s in p.samples()}
        for sample_id, digest in acknowledged.items():
            assert stored.get(sample_id) == digest
            assert hashlib.sha256(p.sample_bytes(sample_id)).hexdigest() == digest
        # whatever was stored is whole, acknowledged or not
        for s in p.samples():
            assert hashlib.sha256(p.sample_bytes(s.id)).hexdigest() == s.sha256


def test_two_processes_adding_concurrently_lose_nothing(tmp_path, many_images):
    path = tmp_path / "shared.teachable-project"
    with Project.create(path) as p:
        p.add_class("views")
    files = sorted(many_images.glob("*.jpg"))[:120]
    halves = [tmp_path / "a", tmp_path / "b"]
    for half, chunk in zip(halves, (files[::2], files[1::2])):
        half.mkdir()
        for f in chunk:
            (half / f.name).write_bytes(f.read_bytes())
    processes = [
        subprocess.Popen([sys.executable, "-c", IMPORTER, str(path), str(half)], stdout=subprocess.PIPE, text=True)
        for half in halves
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in processes]
    assert all(proc.returncode == 0 for proc in processes)
    acknowledged = {int(line.split()[0]) for out in outputs for line in out.splitlines()}
    assert len(acknowledged) == len(files)
    with Project.open(path) as p:
        assert {s.id for s in p.samples()} == acknowledged


def test_threads_sharing_one_project(tmp_path, many_images):
    files = sorted(many_images.glob("*.jpg"))[:40]
    with Project.create(tmp_path / "t.teachable-project") as p:
        p.add_class("views")
        errors = []

        def add(chunk):
            try:
                for f in chunk:
                    p.add_samples("views", [f], embed=False)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(files[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and p.class_info("views").count == 40

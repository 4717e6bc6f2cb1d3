"""Beyond one machine: the networks on a small local Ray cluster (the ray extra). Without the extra,
`--ray` says what to install; bulk predictions and imports on Ray Data, and the Serve deployments'
live frames and sounds, agree with this machine's (faults: test_scale_faults.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photos import write_views

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "teachable.cli"]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def run_cli(*args, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_without_the_extra_ray_says_what_to_install(tmp_path):
    """Ray hidden from the interpreter (as where the extra is not installed): one sentence, exit 1."""
    hidden = "import sys, runpy; sys.modules['ray'] = None; sys.argv[0] = 'teachable'; runpy.run_module('teachable.cli', run_name='__main__')"
    out = subprocess.run([sys.executable, "-c", hidden, "predict", "nothing.teachable", str(tmp_path), "--ray", "local"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error:") and "teachable[ray]" in out.stderr, out.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("ray")
    root = tmp_path_factory.mktemp("scale")
    model = root / "photos.teachable"
    out = run_cli("train", write_views(root / "train", 6, 1, ["cat", "coffee", "rocket"]), "-o", model, "--epochs", "30")
    assert out.returncode == 0, out.stderr
    new = write_views(root / "new", 40, 2, ["cat", "coffee", "rocket"])
    (new / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    return model, new


def json_rows(stdout: str) -> dict[str, dict]:
    return {row["file"]: row for row in map(json.loads, stdout.splitlines())}


def test_a_folder_predicted_on_ray_data_answers_as_this_machine(trained, tmp_path):
    model, folder = trained
    here = run_cli("predict", model, folder, "--json")
    there = run_cli("predict", model, folder, "--json", "--ray", "local", "--ray-actors", "2", "-o", tmp_path / "out.csv")
    assert here.returncode == there.returncode == 1  # one file has no answer: exit 1, as with any failed file
    local, ray = json_rows(here.stdout), json_rows(there.stdout)
    assert len(local) == len(ray) == 121 and local.keys() == ray.keys()
    assert "error" in ray[str(folder / "cat" / "broken.jpg")] and "error" in local[str(folder / "cat" / "broken.jpg")]
    answered = [f for f in local if "label" in local[f]]
    assert all(local[f]["label"] == ray[f]["label"] for f in answered)
    assert max(abs(local[f]["confidences"][c] - ray[f]["confidences"][c]) for f in answered for c in local[f]["confidences"]) < 1e-4
    assert "Token authentication" not in there.stderr and "INFO" not in there.stderr  # Ray's own lines stay in its logs

    # a re-run with the same output skips the answered files and tries the failed one again
    again = run_cli("predict", model, folder, "--ray", "local", "-o", tmp_path / "out.csv")
    assert "120 files already answered" in again.stderr
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "path,label,shares,error" and len(lines) == 122


def test_an_import_on_ray_data_stores_the_embeddings_this_machine_computes(trained, tmp_path):
    from teachable import Project
    from teachable.embed import IMAGE_BACKBONE, local_backbone

    _, folder = trained
    workspace = {"TEACHABLE_WORKSPACE": str(tmp_path / "ws")}
    assert run_cli("project", "create", "photos", env=workspace).returncode == 0
    first = run_cli("project", "import", "photos", folder, "--ray", "local", env=workspace)
    assert first.returncode == 0 and "added 120 samples" in first.stdout, first.stderr
    assert "broken.jpg: " in first.stderr and "is not an image" in first.stderr
    second = run_cli("project", "import", "photos", folder, "--ray", "local", env=workspace)
    assert "added 0 samples (120 duplicates ignored" in second.stdout, second.stdout
    with Project.open(next((tmp_path / "ws").glob("*.teachable-project"))) as project:
        assert not project.missing_embeddings()
        vectors, _, ids = project.embeddings()
        stored = [project.sample_bytes(i) for i in ids[:12]]
    here = local_backbone(IMAGE_BACKBONE).embed(stored)
    assert np.abs(vectors[:12] - here).max() < 1e-5


def test_the_deployments_embed_live_frames_and_sounds_as_this_machine(tmp_path):
    """In this process: the image deployment's live frames (the live precision) and the sound
    deployment's windows of a spoken word equal this machine's; then back to local backbones."""
    pytest.importorskip("ray")
    from sounds import speak

    from teachable.embed import IMAGE_BACKBONE, SOUND_BACKBONE, load_backbone, local_backbone
    from teachable.embed.queue import LIVE
    from teachable.scale.cluster import shutdown
    from teachable.scale.serving import RayBackbone, use_ray, stop_routing

    frames = [p.read_bytes() for p in sorted(write_views(tmp_path / "frames", 3, 5, ["cat", "rocket"]).rglob("*.jpg"))]
    word = speak(tmp_path / "word.wav", "seven", "en", 50, 150).read_bytes()
    use_ray("local", num_cpus=2)
    try:
        image, sound = load_backbone(IMAGE_BACKBONE), load_backbone(SOUND_BACKBONE)
        assert isinstance(image, RayBackbone) and isinstance(sound, RayBackbone)
        there_frames = image.embed_frames(frames + [b"junk"], LIVE)
        there_windows, starts = sound.recording_embeddings(word)
    finally:
        stop_routing()
        shutdown()
    assert isinstance(there_frames[-1], Exception) and "not an image" in str(there_frames[-1])
    here_frames = local_backbone(IMAGE_BACKBONE).embed_frames(frames, LIVE)
    assert np.abs(np.stack(there_frames[:-1]) - np.stack(here_frames)).max() < 1e-5
    here_windows, here_starts = local_backbone(SOUND_BACKBONE).recording_embeddings(word)
    assert starts == here_starts and np.abs(there_windows - here_windows).max() < 1e-5


def test_without_ray_nothing_of_ray_is_imported(tmp_path):
    """The app, the CLI and doctor (which names the extra) run without importing Ray."""
    code = ("import sys, json, pathlib; from teachable.server import create_app; from teachable import cli, doctor; "
            f"create_app(pathlib.Path({str(tmp_path)!r})); report = doctor.report(); "
            "print(json.dumps(['ray' in sys.modules, [p['name'] for p in report['parts']]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    imported, parts = json.loads(out.stdout.strip().splitlines()[-1])
    assert not imported and "Ray" in parts

"""The review on the projects Teachable Machine's users make (issue 31): one background behind every
photo, 12 a class, 3 labels flipped and 3 copies put in. Photos made from scikit-image's: an object
(a cat's face, a coffee cup, a rocket) pasted at a random place and size on one table top."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photos import photo
from teachable import Project
from teachable.explain.samples import review_project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from small_projects import copy_of as _copy  # noqa: E402  (the benchmark's copies, the same three kinds)

OBJECTS = {"cat": (140, 40, 340, 240), "coffee": (200, 60, 460, 330), "rocket": (200, 60, 330, 380)}


def _background() -> Image.Image:
    return photo("coffee").crop((0, 300, 600, 400)).resize((320, 320))  # the table top, as a wall behind


def _photo(name: str, rng: np.random.Generator) -> bytes:
    picture = _background()
    size = int(rng.integers(110, 170))
    thing = photo(name).crop(OBJECTS[name]).resize((size, size))
    picture.paste(thing, tuple(int(v) for v in rng.integers(0, 320 - size, 2)))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    rng = np.random.default_rng(31)
    photos = {name: [_photo(name, rng) for _ in range(12)] for name in OBJECTS}
    flips = [("cat", 2, "rocket"), ("coffee", 5, "cat"), ("rocket", 7, "coffee")]  # (class, index, filed under)
    copies = [("cat", 0, "reencode"), ("coffee", 1, "resize"), ("rocket", 3, "crop")]
    path = tmp_path_factory.mktemp("small") / "small.teachable-project"
    with Project.create(path) as project:
        ids = {}
        for name in OBJECTS:
            project.add_class(name)
        for name, pictures in photos.items():
            for i, data in enumerate(pictures):
                filed = next((to for c, k, to in flips if c == name and k == i), name)
                [ids[name, i]] = project.add_samples(filed, [data])
        copy_ids = {}
        for name, i, how in copies:
            [copy_ids[name, i]] = project.add_samples(name, [_copy(photos[name][i], how)])
        project.ensure_embeddings()
    return path, ids, copy_ids, flips, copies


def test_one_background_project_copies_and_flips(small_project):
    path, ids, copy_ids, flips, copies = small_project
    with Project.open(path) as project:
        result = review_project(project)
    flagged = {f.source: f for f in result.flags}
    duplicates = {(f.source, f.duplicate_of) for f in result.flags if f.reason == "duplicate"}
    injected = {(f"sample:{copy_ids[n, i]}", f"sample:{ids[n, i]}") for n, i, _ in copies}
    assert injected <= duplicates, duplicates  # every copy names its original, not a chain
    assert len(duplicates - injected) <= 1  # different objects on one background are not copies
    for source, original in injected:
        assert flagged[source].voters[0][0] == original and flagged[source].score >= 0.965
    wrong = {f"sample:{ids[n, i]}" for n, i, _ in flips}
    mislabels = [f for f in result.flags if f.reason == "mislabel"]
    assert len({f.source for f in mislabels} & wrong) >= 2
    assert len({f.source for f in mislabels} - wrong) <= 1
    for flag in mislabels:  # each with its evidence: the samples that voted, with their classes
        assert len(flag.voters) >= 3 and all(label in OBJECTS for _, label, _ in flag.voters)
        assert sum(label == flag.suggested for _, label, _ in flag.voters) >= 2


def test_a_project_too_small_to_judge_says_so(tmp_path):
    rng = np.random.default_rng(5)
    with Project.create(tmp_path / "tiny.teachable-project") as project:
        for name in ("cat", "rocket"):
            project.add_class(name)
            project.add_samples(name, [_photo(name, rng) for _ in range(4)])
        project.add_samples("rocket", [_photo("cat", rng)])  # filed wrong, but 4 a class cannot tell
        result = review_project(project)
    assert not [f for f in result.flags if f.reason == "mislabel"]
    assert result.hints[0].kind == "small" and "too small to judge" in result.hints[0].message


def test_webcam_bursts_are_said_once_per_class(tmp_path):
    """Frames recorded in one press of the record button are alike by nature: one hint for the class,
    not a flag per frame."""
    rng = np.random.default_rng(6)
    frame = _photo("cat", rng)
    burst = [_copy(frame, "reencode")] + [_copy(_copy(frame, "crop"), how) for how in ("reencode", "resize")]
    burst += [_photo("cat", np.random.default_rng(100 + i)) for i in range(5)]
    with Project.create(tmp_path / "burst.teachable-project") as project:
        project.add_class("cat")
        project.add_class("rocket")
        project.add_samples("cat", [frame] + burst, source="webcam")  # stored within a second: one burst
        project.add_samples("rocket", [_photo("rocket", rng) for _ in range(9)])
        result = review_project(project)
    assert not [f for f in result.flags if f.reason == "duplicate" and f.label == "cat"]
    [hint] = [h for h in result.hints if h.kind == "bursts"]
    assert hint.classes == ("cat",) and hint.message.startswith("9 of 9 samples of “cat” come from")

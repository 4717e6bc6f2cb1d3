"""The review on the projects Teachable Machine's users make (issue 31): one background behind every
photo, 12 a class, 3 labels flipped and 3 copies put in. Photos made from scikit-image's: an object
(a cat's face, a coffee cup, a rocket) pasted at a random place and size on one table top."""

from __future__ import annotations

import numpy as np
import pytest

from one_background import COPIES, FLIPS, OBJECTS, copy_of as _copy, one_background_photo as _photo, one_background_project
from teachable import Project
from teachable.explain.samples import review_project


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    path = tmp_path_factory.mktemp("small") / "small.teachable-project"
    ids, copy_ids = one_background_project(path)
    return path, ids, copy_ids, FLIPS, COPIES


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


def test_cli_review_json_of_a_one_background_project(small_project):
    """`teachable review PROJECT --json`: every copy names its original with that pair's similarity,
    every mislabel flag its voters with their classes."""
    import json
    import os
    import subprocess
    import sys

    path, ids, copy_ids, flips, copies = small_project
    done = subprocess.run([sys.executable, "-m", "teachable.cli", "review", str(path), "--json"], capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    flags, summary = lines[:-1], lines[-1]
    assert summary["summary"] and summary["samples"] == 39
    duplicates = {(f["source"], f["duplicate_of"]): f for f in flags if f["reason"] == "duplicate"}
    for name, i, _ in copies:
        pair = duplicates[f"sample:{copy_ids[name, i]}", f"sample:{ids[name, i]}"]
        assert pair["voters"] == [{"source": f"sample:{ids[name, i]}", "label": name, "similarity": pair["score"]}]
    mislabels = [f for f in flags if f["reason"] == "mislabel"]
    assert mislabels and all(len(f["voters"]) >= 3 and {v["label"] for v in f["voters"]} <= set(OBJECTS) for f in mislabels)

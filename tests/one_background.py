"""Photos as Teachable Machine's users take them: one background behind every one. Made from
scikit-image's photos: an object (a cat's face, a coffee cup, a rocket) pasted at a random place and
size on one table top (issue 31's tests)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from photos import photo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from small_projects import copy_of  # noqa: E402  (the benchmark's copies: re-encoded, resized, cropped)

OBJECTS = {"cat": (140, 40, 340, 240), "coffee": (200, 60, 460, 330), "rocket": (200, 60, 330, 380)}


def _background() -> Image.Image:
    return photo("coffee").crop((0, 300, 600, 400)).resize((320, 320))  # the table top, as a wall behind


def one_background_photo(name: str, rng: np.random.Generator) -> bytes:
    picture = _background()
    size = int(rng.integers(110, 170))
    thing = photo(name).crop(OBJECTS[name]).resize((size, size))
    picture.paste(thing, tuple(int(v) for v in rng.integers(0, 320 - size, 2)))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()




FLIPS = [("cat", 2, "rocket"), ("coffee", 5, "cat"), ("rocket", 7, "coffee")]  # (class, index, filed under)
COPIES = [("cat", 0, "reencode"), ("coffee", 1, "resize"), ("rocket", 3, "crop")]


def one_background_project(path: Path, seed: int = 31):
    """A project of 12 photos a class (cat, coffee, rocket) on one background, the photos of FLIPS
    filed under the wrong class and a copy of each photo of COPIES added to its class. Returns the
    sample ids: {(class, index): id} of the photos and of the copies."""
    from teachable import Project

    rng = np.random.default_rng(seed)
    photos = {name: [one_background_photo(name, rng) for _ in range(12)] for name in OBJECTS}
    ids, copy_ids = {}, {}
    with Project.create(path) as project:
        for name in OBJECTS:
            project.add_class(name)
        for name, pictures in photos.items():
            for i, data in enumerate(pictures):
                filed = next((to for c, k, to in FLIPS if c == name and k == i), name)
                [ids[name, i]] = project.add_samples(filed, [data])
        for name, i, how in COPIES:
            [copy_ids[name, i]] = project.add_samples(name, [copy_of(photos[name][i], how)])
        project.ensure_embeddings()
    return ids, copy_ids

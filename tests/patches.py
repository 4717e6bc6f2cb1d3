"""Photos whose class is decided only by a pasted patch: the same backgrounds (random views of two
scikit-image photos) in every class, and a patch of the cat's face or of the rocket at a random
place. A heatmap that is faithful to the model must point at the patch."""

from __future__ import annotations

import numpy as np

from photos import photo, random_view

SIDE = 224
CLASSES = ("cat", "rocket")


def patch(name: str, size: int):
    box = {"cat": (140, 40, 340, 240), "rocket": (200, 60, 330, 380)}[name]
    return photo(name).crop(box).resize((size, size))


def patched_photo(name: str, rng: np.random.Generator, size: int = 80) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 224 x 224 photo of class ``name`` and the patch's box (left, top, right, bottom)."""
    background = random_view(photo(["coffee", "astronaut"][int(rng.integers(2))]), rng).resize((SIDE, SIDE))
    left, top = (int(v) for v in rng.integers(0, SIDE - size, 2))
    background.paste(patch(name, size), (left, top))
    return np.asarray(background), (left, top, left + size, top + size)


def patched_set(count: int, seed: int, size: int = 80) -> list[tuple[np.ndarray, str, tuple]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        name = CLASSES[i % 2]
        image, box = patched_photo(name, rng, size)
        out.append((image, name, box))
    return out

"""Real photos shipped in scikit-image, and labelled few-shot datasets made from them.

Extra shots are random crops and mirror images of each photo, the way a person moves the
camera a little between webcam captures. Training and held-out views come from different
random streams, so no held-out view is ever seen in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

PHOTOS = {
    "cat": data.chelsea,
    "coffee": data.coffee,
    "rocket": data.rocket,
    "astronaut": data.astronaut,
}


def photo(name: str) -> Image.Image:
    return Image.fromarray(PHOTOS[name]()).convert("RGB")


def random_view(image: Image.Image, rng: np.random.Generator, scale: tuple[float, float] = (0.55, 0.95)) -> Image.Image:
    """A random square crop covering ``scale`` (55-95%) of the shorter side, mirrored half of the time."""
    width, height = image.size
    side = max(1, int(min(width, height) * rng.uniform(*scale)))
    left = int(rng.integers(0, width - side + 1))
    top = int(rng.integers(0, height - side + 1))
    view = image.crop((left, top, left + side, top + side))
    if rng.random() < 0.5:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return view


def write_views(root: Path, per_class: int, seed: int, classes: list[str] | None = None) -> Path:
    """``root/<class>/<n>.jpg``: ``per_class`` random views of each photo."""
    rng = np.random.default_rng(seed)
    for name in classes or list(PHOTOS):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        source = photo(name)
        for i in range(per_class):
            random_view(source, rng).save(folder / f"{name}-{seed}-{i}.jpg", quality=90)
    return root

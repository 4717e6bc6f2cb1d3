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


FORMATS = ("jpeg", "jpeg-exif-rotated", "png-alpha", "gif", "gif-transparent", "webp", "webp-alpha", "bmp")


def write_formats(image: Image.Image, folder: Path, stem: str) -> dict[str, Path]:
    """The same photo as each file kind users hand an exported model: a JPEG stored sideways with
    EXIF orientation 6, a PNG whose left third is transparent and middle third half-transparent,
    GIFs (one with a transparent colour), lossy WebP, lossless WebP with alpha, and BMP."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = image.convert("RGB")
    rgba = np.asarray(rgb.convert("RGBA")).copy()
    third = rgba.shape[1] // 3
    rgba[:, :third, 3], rgba[:, third:2 * third, 3] = 0, 110
    alpha = Image.fromarray(rgba)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    writers = {
        "jpeg": ("jpg", lambda p: rgb.save(p, quality=90)),
        "jpeg-exif-rotated": ("jpg", lambda p: rgb.transpose(Image.Transpose.ROTATE_90).save(p, quality=90, exif=exif)),
        "png-alpha": ("png", lambda p: alpha.save(p)),
        "gif": ("gif", lambda p: palette.save(p)),
        "gif-transparent": ("gif", lambda p: palette.save(p, transparency=int(np.asarray(palette)[0, 0]))),
        "webp": ("webp", lambda p: rgb.save(p, quality=80)),
        "webp-alpha": ("webp", lambda p: alpha.save(p, lossless=True)),
        "bmp": ("bmp", lambda p: rgb.save(p)),
    }
    paths = {}
    for kind in FORMATS:
        suffix, write = writers[kind]
        paths[kind] = folder / f"{stem}-{kind}.{suffix}"
        write(paths[kind])
    return paths

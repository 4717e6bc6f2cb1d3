"""Real photos of people shipped in scikit-image, and the shifted, rescaled and mirrored copies
pose tests learn from: the astronaut (Eileen Collins) and the cameraman."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

PEOPLE = {"astronaut": data.astronaut, "cameraman": data.camera}


def person(name: str, mirrored: bool = False) -> Image.Image:
    image = Image.fromarray(PEOPLE[name]()).convert("RGB")
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else image


def moved(image: Image.Image, dx: int, dy: int, scale: float) -> Image.Image:
    """The same person, rescaled by ``scale`` and moved by (dx, dy) pixels on a canvas of the
    original size filled with the photo's mean colour: another place in the frame, another
    distance from the camera."""
    width, height = image.size
    small = image.resize((round(width * scale), round(height * scale)), Image.Resampling.BILINEAR)
    fill = tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0))
    canvas = Image.new("RGB", (width, height), fill)
    canvas.paste(small, (dx + (width - small.width) // 2, dy + (height - small.height) // 2))
    return canvas


# (dx, dy, scale): training views and held-out views never overlap.
# All were checked to show MediaPipe a person, in both people and their mirror images.
TRAIN_MOVES = [(0, 0, 1.0), (-40, 0, 0.9), (25, 25, 0.8), (-20, 25, 1.05), (45, -20, 0.95), (0, -20, 1.1)]
HELD_OUT_MOVES = [(25, -20, 0.85), (-40, -20, 0.8), (45, 25, 1.1), (-20, 0, 0.95)]

# Three pose classes: two people, and one of them in the mirror (left and right swapped).
POSE_CLASSES = {"astronaut": ("astronaut", False), "cameraman": ("cameraman", False), "cameraman mirrored": ("cameraman", True)}


def write_pose_folder(root: Path, moves: list[tuple[int, int, float]]) -> Path:
    """``root/<pose class>/<n>.jpg`` for the three pose classes."""
    for label, (name, mirrored) in POSE_CLASSES.items():
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        source = person(name, mirrored)
        for i, move in enumerate(moves):
            moved(source, *move).save(folder / f"{i}.jpg", quality=92)
    return root

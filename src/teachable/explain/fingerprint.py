"""A photo's pixel fingerprint, for finding near duplicates: the centre square as 16 x 16 grey
levels, mean removed, unit length, at three zooms (the whole square, its centre 90% and 81%).

The network's embedding is made to see *what* a photo shows, so on one background two different
hands can be closer (cosine 0.95) than a photo and its half-size copy (0.69); the fingerprint sees
*how it looks*. Two fingerprints are compared at the zoom that matches best (:func:`similarity`),
so a copy with a few percent cropped off each side still lines up with its original. Measured on
one-background hand photos (bench/small_projects.py): copies re-encoded, resized or cropped score
0.98 or more, distinct photos at most 0.94.

JPEGs are decoded at reduced scale (Pillow's draft mode): about 1 ms a photo, cached in the project
beside the embeddings (under the id :data:`FINGERPRINT_ID`).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from ..embed.preprocess import MAX_PIXELS

FINGERPRINT_ID = "pixels-16x16-zoom3-v2"
SIDE = 16
ZOOMS = (1.0, 0.9, 0.81)  # the share of the centre square's side each fingerprint covers
DIM = SIDE * SIDE * len(ZOOMS)


def pixel_fingerprint(data: bytes) -> np.ndarray:
    """The fingerprint of an image's bytes, its zooms one after the other (zeros for what cannot be
    read: it matches nothing)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                return np.zeros(DIM, np.float32)
            image.draft("L", (SIDE * 4, SIDE * 4))
            grey = image.convert("L")
        width, height = grey.size
        parts = []
        for zoom in ZOOMS:
            side = min(width, height) * zoom
            left, top = (width - side) / 2, (height - side) / 2
            values = np.asarray(grey.resize((SIDE, SIDE), Image.Resampling.BOX, box=(left, top, left + side, top + side)),
                                np.float32).ravel()
            values = values - values.mean()
            norm = float(np.linalg.norm(values))
            parts.append(values / norm if norm > 1e-6 else np.zeros_like(values))
    except Exception:  # a sample that cannot be read was refused at upload; be safe anyway
        return np.zeros(DIM, np.float32)
    return np.concatenate(parts).astype(np.float32)


def similarity(rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Fingerprint similarity of every row with every other: the best match of one's whole square
    with any zoom of the other, either way round (a crop of one is a zoom of the other)."""
    zooms = len(ZOOMS)
    a = rows.reshape(len(rows), zooms, SIDE * SIDE)
    b = others.reshape(len(others), zooms, SIDE * SIDE)
    whole_a_to_b = np.einsum("id,jzd->ijz", a[:, 0], b).max(axis=2)
    whole_b_to_a = np.einsum("izd,jd->ijz", a, b[:, 0]).max(axis=2)
    return np.maximum(whole_a_to_b, whole_b_to_a)

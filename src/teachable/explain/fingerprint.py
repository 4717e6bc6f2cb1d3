"""A photo's pixel fingerprint, for finding near duplicates: the centre square as 8 x 8 grey
levels, mean removed, unit length. The network's embedding is made to see *what* a photo shows,
so a re-encoded or resized copy can land at cosine 0.8 of its original, below some distinct photos
of the same flower; the fingerprint sees *how it looks*, and cannot tell two photos of one scene
from different places apart. Weighted together (0.4 and 0.6), the two find copies
(bench/label_noise.py).

JPEGs are decoded at reduced scale (Pillow's draft mode): about 1 ms a photo, cached in the project
beside the embeddings (under the id :data:`FINGERPRINT_ID`).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from ..embed.preprocess import MAX_PIXELS

FINGERPRINT_ID = "pixels-8x8-v1"
SIDE = 8


def pixel_fingerprint(data: bytes) -> np.ndarray:
    """The fingerprint of an image's bytes (zeros for what cannot be read: it matches nothing)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                return np.zeros(SIDE * SIDE, np.float32)
            image.draft("L", (SIDE * 4, SIDE * 4))
            grey = image.convert("L")
        width, height = grey.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        values = np.asarray(grey.crop((left, top, left + side, top + side)).resize((SIDE, SIDE), Image.Resampling.BOX),
                            np.float32).ravel()
    except Exception:  # a sample that cannot be read was refused at upload; be safe anyway
        return np.zeros(SIDE * SIDE, np.float32)
    values = values - values.mean()
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 1e-6 else np.zeros_like(values)

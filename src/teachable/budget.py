"""The memory budget for reading a file from elsewhere, in one place.

Model files (``.teachable``, TF.js, Keras ``.h5``), project files, ``.tm`` projects, dataset zips
and uploads come from classmates, forums and GitHub. Whatever such a file says, reading it must
stay within :data:`PEAK_BYTES` of resident memory and seconds of CPU, so every reader computes what
a file will cost from its headers and configs and refuses it *before* allocating: the numbers
below are the shares of that budget each reader gets (docs/security.md lists them, and
``bench/memory_bounds.py`` measures every hostile file against the total).
"""

from __future__ import annotations

from typing import Callable

MB = 1024 * 1024

# What one process reading any hostile file may reach at its peak (the model of the network
# loaded included, as in real use).
PEAK_BYTES = 1536 * MB

# Every array of a model from elsewhere together (TF.js, Keras), counted as the float32 it
# becomes. Teachable Machine's MobileNet is 2-17 MB; Teachable's own exports about 14 MB.
MAX_MODEL_WEIGHT_BYTES = 256 * MB

# A `.teachable` file's arrays together (a kNN model keeps its examples: 1,280 floats each).
MAX_TEACHABLE_WEIGHT_BYTES = 512 * MB

# The layer outputs one picture makes in a model from elsewhere, summed over every layer (as
# float32); a batch is run in pieces that each stay within MAX_BATCH_ACTIVATION_BYTES.
MAX_IMAGE_ACTIVATION_BYTES = 256 * MB
MAX_BATCH_ACTIVATION_BYTES = 512 * MB

# An image classifier's input side: Teachable Machine's models take 224 x 224.
MAX_INPUT_SIDE = 1024

# File bytes an importer (folder, zip, `.tm`) holds at once before storing them.
MAX_HELD_FILE_BYTES = 64 * MB

# Pixels decoded at the same time by one process, over every thread (uploads, predictions,
# imports): one photo of the largest size accepted; smaller photos share it.
MAX_DECODING_PIXELS = 64_000_000


class ByteCounter:
    """Counts bytes as a reader commits to them and refuses past ``limit`` with ``error(limit)``,
    before the caller allocates."""

    def __init__(self, limit: int, error: Callable[[int], Exception]) -> None:
        self.limit = limit
        self.error = error
        self.used = 0

    def add(self, count: int) -> None:
        if count < 0 or self.used + count > self.limit:
            raise self.error(self.limit)
        self.used += count

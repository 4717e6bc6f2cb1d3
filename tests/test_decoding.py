"""Decoding photos in worker processes gives the same pixels, in order, with errors in place."""

import io

import numpy as np
from PIL import Image
from skimage import data

from teachable.embed.decoding import DecodePool
from teachable.embed.preprocess import pixels
from teachable.errors import ImageTooLargeError, InvalidImageError


def test_worker_processes_decode_like_the_parent(fewshot_train):
    paths = sorted(fewshot_train.rglob("*.jpg"))
    png = io.BytesIO()
    Image.fromarray(data.chelsea()).save(png, format="PNG")
    truncated = paths[0].read_bytes()[:400]
    bomb = io.BytesIO()
    Image.new("L", (9000, 9000)).save(bomb, format="PNG")
    sources = paths[:5] + [b"not an image", png.getvalue(), truncated] + paths[5:9] + [bomb.getvalue()]
    batches = [sources[:4], sources[4:10], sources[10:]]

    pool = DecodePool(workers=2)
    try:
        decoded = list(pool.decode(batches, depth=2))
    finally:
        pool.close()

    assert [batch for batch, _ in decoded] == batches
    results = [r for _, batch_results in decoded for r in batch_results]
    assert len(results) == len(sources)
    for source, result in zip(sources, results):
        if source in (b"not an image", truncated):
            assert isinstance(result, InvalidImageError) and not isinstance(result, ImageTooLargeError)
        elif source is bomb.getvalue():
            assert isinstance(result, ImageTooLargeError)
        else:
            assert result.dtype == np.uint8 and result.shape == (224, 224, 3)
            np.testing.assert_array_equal(result, pixels(source))

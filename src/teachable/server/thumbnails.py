"""Sample thumbnails: the photo's centre square, a sound's spectrogram, or for pose and hand
projects the photo with the skeleton MediaPipe found drawn over it."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import Callable

from PIL import Image, ImageDraw

from ..kinds import Kind
from ..embed.preprocess import MAX_PIXELS, centre_square, load_image

SKELETON_COLOUR = (0, 230, 118)
JOINT_COLOUR = (255, 64, 129)


def draw_skeleton(image: Image.Image, points, connections, visible: float = 0.3) -> Image.Image:
    """``image`` with lines between connected landmarks (x, y as fractions of its size, then
    visibility) and dots on the joints; landmarks MediaPipe thinks are hidden are left out."""
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    line = max(1, round(min(width, height) / 64))
    shown = [(x * width, y * height) if v >= visible else None for x, y, v in points]
    for a, b in connections:
        if shown[a] and shown[b]:
            draw.line([shown[a], shown[b]], fill=SKELETON_COLOUR, width=line)
    for point in shown:
        if point:
            x, y = point
            draw.ellipse([x - line, y - line, x + line, y + line], fill=JOINT_COLOUR)
    return image


def _square_points(points, width: int, height: int):
    """Landmarks of the whole picture, re-expressed in its centred square."""
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return [((x * width - left) / side, (y * height - top) / side, v) for x, y, v in points]


def _small_picture(data: bytes, size: int) -> Image.Image:
    """The picture decoded at no more than needed: a JPEG is decoded straight at a reduced
    scale (1/2 to 1/8) when the thumbnail allows, so a 64-megapixel photo costs ~1 MP."""
    try:
        image = Image.open(io.BytesIO(data))
    except Exception:
        return load_image(data)  # which says what is wrong with it
    if image.format != "JPEG" or image.width * image.height > MAX_PIXELS:
        return load_image(data)  # decodes within the limits, or refuses
    image.draft("RGB", (size * 2, size * 2))
    return load_image(image)


def thumbnail_jpeg(kind: Kind, data: bytes, size: int) -> bytes:
    if kind.audio:
        from ..embed.audio import load_audio, spectrogram_image

        image = spectrogram_image(load_audio(data), size)
    elif not kind.keypoints:
        image = centre_square(_small_picture(data, size), size)
    else:  # the photo with the skeleton found in it
        from ..errors import NothingDetectedError

        picture = load_image(data)
        image = centre_square(picture, size)
        try:
            found = kind.backbone().detect(picture)
        except NothingDetectedError:
            found = None
        if found is not None:
            points = _square_points(found.to_dict()["points"], *picture.size)
            image = draw_skeleton(image, points, kind.skeleton())
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class ThumbnailCache:
    """Thumbnails made once and kept (they are a few kB each), with at most ``decoders``
    pictures being decoded at a time: thirty pages asking for thirty 64-megapixel photos at
    once wait their turn instead of holding thirty decoded photos in memory together."""

    def __init__(self, entries: int = 4096, decoders: int = 2) -> None:
        self._entries = entries
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._decoding = threading.BoundedSemaphore(decoders)

    def get(self, kind: Kind, sha256: str, size: int, data: Callable[[], bytes]) -> bytes:
        key = (kind.name, sha256, size)  # a sample's bytes never change, so its digest names it
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with self._decoding:
            with self._lock:
                cached = self._cache.get(key)
            jpeg = cached if cached is not None else thumbnail_jpeg(kind, data(), size)
        with self._lock:
            self._cache[key] = jpeg
            self._cache.move_to_end(key)
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return jpeg

"""Sample thumbnails: the photo's centre square, a sound's spectrogram, or for pose and hand
projects the photo with the skeleton MediaPipe found drawn over it."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from ..embed import KEYPOINT_KINDS
from ..embed.preprocess import centre_square, load_image

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


def thumbnail_jpeg(kind: str, data: bytes, size: int) -> bytes:
    if kind == "sound":
        from ..embed.audio import load_audio, spectrogram_image

        image = spectrogram_image(load_audio(data), size)
    else:
        picture = load_image(data)
        image = centre_square(picture, size)
        if kind in KEYPOINT_KINDS:
            from ..embed.keypoints import recipe
            from ..embed.landmarks import get_landmark_backbone
            from ..errors import NothingDetectedError

            try:
                found = get_landmark_backbone(kind).detect(picture)
            except NothingDetectedError:
                found = None
            if found is not None:
                points = _square_points(found.to_dict()["points"], *picture.size)
                image = draw_skeleton(image, points, recipe(kind)["connections"])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()

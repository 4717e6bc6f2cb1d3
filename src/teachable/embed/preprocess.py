"""Turning whatever a user hands us (a path, bytes, a PIL image, an array) into model input.

The recipe is the one Teachable Machine uses: apply EXIF orientation, flatten to RGB
(transparent areas become white), crop the centre square, resize it to 224x224 with
bilinear filtering, then scale to ``(rgb - 127) / 128`` in NCHW float32. Exported models
document the same recipe so predictions match outside Teachable.
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Union

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from ..budget import MAX_DECODING_PIXELS
from ..errors import ImageTooLargeError, InvalidImageError
from .reading import read_source
from .spec import INPUT_MEAN, INPUT_SIZE, INPUT_STD

# Decode at most this many pixels (about 8000 x 8000): larger files are refused from their
# header alone, before any pixel data is decompressed.
MAX_PIXELS = 64_000_000

ImageInput = Union[str, Path, bytes, bytearray, memoryview, Image.Image, np.ndarray]

ImageFile.LOAD_TRUNCATED_IMAGES = False


def _describe(source: object) -> str:
    if isinstance(source, (str, Path)):
        return f"'{source}'"
    return "the image"


def _open(source: ImageInput) -> Image.Image:
    """Open without decoding pixels, so the size can be checked first."""
    data = read_source(source, MAX_FILE_BYTES, ImageTooLargeError) if isinstance(source, (str, Path)) else bytes(source)
    if not data:
        raise InvalidImageError(f"{_describe(source)} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
            raise ImageTooLargeError(f"{_describe(source)} is too large to decode safely.") from exc
        raise InvalidImageError(f"{_describe(source)} is not an image Teachable can read.") from exc
    except Exception as exc:  # Pillow reports damaged headers with many exception types
        raise InvalidImageError(f"{_describe(source)} could not be read: {exc}.") from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit and float greys are rescaled, alpha is put on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F":
            top = max(float(values.max()), 1e-12) if values.max() > 1.0 else 1.0
        grey = np.clip(values / top * 255.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise InvalidImageError(f"An image array must be HxW, HxWx3 or HxWx4; got shape {array.shape}.")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageTooLargeError(f"The image array has {array.shape[0] * array.shape[1]:,} pixels; the limit is {MAX_PIXELS:,}.")
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        scale = 255.0 if values.max() <= 1.0 else 1.0
        array = np.clip(values * scale, 0, 255).round().astype(np.uint8)
    return Image.fromarray(array, mode="RGBA" if array.shape[-1] == 4 else "RGB")


class DecodingBudget:
    """Pixels decoded at the same time in this process, over every thread: a decode waits until
    its pixels fit, so ten uploads of a small file that unpacks to 64 megapixels run one after
    another instead of together (photos of ordinary size share the budget without waiting)."""

    def __init__(self, pixels: int) -> None:
        self.total = self.free = pixels
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int):
        pixels = min(pixels, self.total)
        with self._changed:
            self._changed.wait_for(lambda: self.free >= pixels)
            self.free -= pixels
        try:
            yield
        finally:
            with self._changed:
                self.free += pixels
                self._changed.notify_all()


DECODING = DecodingBudget(MAX_DECODING_PIXELS)


def load_image(source: ImageInput, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode any supported input to an upright RGB PIL image, refusing bombs and broken files."""
    if isinstance(source, np.ndarray):
        return _to_rgb(_from_array(source))
    if isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"{_describe(source)} is {width}x{height} pixels; the limit is {max_pixels:,} pixels."
            )
        with DECODING.hold(width * height):
            try:
                image.load()
            except Exception as exc:  # damaged pixel data surfaces as OSError, SyntaxError, ValueError, ...
                raise InvalidImageError(f"{_describe(source)} is damaged or truncated and could not be decoded.") from exc
            return _upright_rgb(image, source)
    return _upright_rgb(image, source)


def _upright_rgb(image: Image.Image, source: ImageInput) -> Image.Image:
    try:
        # Only rotate when the EXIF block asks for it: exif_transpose copies the picture even
        # when it has nothing to do, which cost a fifth of a photo's preparation time.
        if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the user the photo
        pass
    try:
        return _to_rgb(image)
    except Exception as exc:  # an unusual mode or palette that Pillow cannot convert
        raise InvalidImageError(f"{_describe(source)} uses a colour format Teachable cannot convert.") from exc


def centre_square(image: Image.Image, size: int = INPUT_SIZE) -> Image.Image:
    """Crop the largest centred square and resize it (bilinear) to size x size."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image if width == height else image.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.BILINEAR)


def to_tensor(image: Image.Image | np.ndarray) -> np.ndarray:
    """A 224x224 RGB image (PIL or uint8 array) to the network's 3x224x224 float32 input."""
    array = np.asarray(image, dtype=np.float32)
    return ((array - INPUT_MEAN) / INPUT_STD).transpose(2, 0, 1)


def to_tensor_batch(pictures: list[np.ndarray]) -> np.ndarray:
    """224x224x3 uint8 pictures to the network's N x 3 x 224 x 224 float32 input, in one pass
    (the same numbers as ``to_tensor`` on each)."""
    batch = np.empty((len(pictures), 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    for i, picture in enumerate(pictures):
        np.subtract(picture.transpose(2, 0, 1), np.float32(INPUT_MEAN), out=batch[i], dtype=np.float32)
    batch /= np.float32(INPUT_STD)
    return batch


def pixels(source: ImageInput) -> np.ndarray:
    """Raw input to the 224x224x3 uint8 picture the network sees, before scaling."""
    return np.asarray(centre_square(load_image(source)), dtype=np.uint8)


def prepare(source: ImageInput) -> np.ndarray:
    """Everything from raw input to one 3x224x224 network input."""
    return to_tensor(pixels(source))


# The recipe above as data, written into every image model file and export.
IMAGE_PREPROCESSING = {
    "input": "RGB image",
    "steps": [
        "apply EXIF orientation",
        "convert to 8-bit RGB (transparent pixels on white)",
        "crop the centred square (side = the shorter edge)",
        f"resize to {INPUT_SIZE}x{INPUT_SIZE}, bilinear",
        f"x = (rgb - {INPUT_MEAN:g}) / {INPUT_STD:g}, float32, layout NCHW",
    ],
    "size": INPUT_SIZE,
    "mean": INPUT_MEAN,
    "std": INPUT_STD,
    "layout": "NCHW",
}


MEDIA_TYPES = {
    "JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "BMP": "image/bmp",
    "WEBP": "image/webp", "TIFF": "image/tiff", "MPO": "image/jpeg",
}
MAX_FILE_BYTES = 50 * 1024 * 1024


def _peek(data: bytes, read):
    """What ``read`` finds in an opened image's header (nothing decoded), or None for what Pillow
    cannot open."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as opened:
                return read(opened)
    except Exception:  # not an image Pillow knows
        return None


def sniff_image(data: bytes) -> str | None:
    """The media type of an image from its header (nothing decoded), or None."""
    return _peek(data, lambda opened: MEDIA_TYPES.get(opened.format or ""))


def pixel_count(data: bytes) -> int:
    """Width x height from an image's header (nothing decoded; 0 for what is not an image)."""
    return _peek(data, lambda opened: opened.width * opened.height) or 0


def inspect_image(data: bytes, name: str = "the image") -> tuple[str, int, int]:
    """Check that bytes are a complete, decodable image; return (media type, width, height).

    Decodes fully (so truncated files are caught now, not at training time) within the
    pixel limit.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(f"{name} is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,} bytes.")
    try:
        opened = _open(data)
    except InvalidImageError as exc:
        raise type(exc)(str(exc).replace("the image", name, 1)) from None
    media_type = MEDIA_TYPES.get(opened.format or "", "")
    if not media_type:
        raise InvalidImageError(f"{name} is a {opened.format} image; use JPEG, PNG, GIF, BMP, WebP or TIFF.")
    try:
        image = load_image(data)
    except InvalidImageError as exc:
        raise type(exc)(str(exc).replace("the image", name, 1)) from None
    return media_type, image.width, image.height

"""Users' photos in every shape: orientation, modes, sizes, and broken files."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from teachable.embed.preprocess import centre_square, load_image, prepare
from teachable.errors import ImageTooLargeError, InvalidImageError
from photos import photo


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    upright = Image.new("RGB", (40, 20), (255, 0, 0))
    upright.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    rotated = upright.rotate(90, expand=True)  # now 20 wide, 40 tall, blue at the bottom
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    rotated.save(buffer, format="JPEG", exif=exif, quality=95)
    loaded = load_image(buffer.getvalue())
    assert loaded.size == (40, 20)
    left, right = np.asarray(loaded)[10, 5], np.asarray(loaded)[10, 35]
    assert left[2] > 200 and left[0] < 60, left  # blue is back on the left
    assert right[0] > 200 and right[2] < 60, right


@pytest.mark.parametrize(
    "mode,pixel,expected",
    [
        ("L", 128, (128, 128, 128)),
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent -> white background
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("LA", (0, 255), (0, 0, 0)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 32768, (128, 128, 128)),
    ],
)
def test_any_mode_becomes_rgb(mode, pixel, expected):
    image = Image.new(mode, (8, 8), pixel)
    loaded = load_image(_png_bytes(image) if mode not in ("CMYK",) else _jpeg(image))
    assert loaded.mode == "RGB"
    assert tuple(int(v) for v in np.asarray(loaded)[4, 4]) == pytest.approx(expected, abs=2)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


def test_palette_with_transparency():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 20, 30] * 256)
    image.info["transparency"] = 0
    assert tuple(np.asarray(load_image(_png_bytes(image)))[0, 0]) == (255, 255, 255)


def test_centre_square_crop_and_resize():
    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 255, 255), (100, 0, 200, 100))  # the centre square is white
    square = centre_square(image)
    assert square.size == (224, 224)
    assert np.asarray(square).min() > 250


def test_one_pixel_image_is_accepted():
    x = prepare(_png_bytes(Image.new("RGB", (1, 1), (10, 200, 30))))
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert np.allclose(x[1], (200 - 127) / 128)


def test_arrays_and_pil_images_are_accepted():
    cat = photo("cat")
    np.testing.assert_array_equal(prepare(cat), prepare(np.asarray(cat)))
    assert prepare(np.asarray(cat.convert("L"))).shape == (3, 224, 224)


def _huge_png_header(width: int, height: int) -> bytes:
    """A valid-looking PNG that claims to be width x height: refused from the header alone."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="too large|limit"):
        load_image(_huge_png_header(30000, 30000))


@pytest.mark.parametrize(
    "payload,message",
    [
        (b"", "empty"),
        (b"hello, I am a text file\n" * 10, "not an image"),
    ],
)
def test_non_images_are_refused(payload, message):
    with pytest.raises(InvalidImageError, match=message):
        load_image(payload)


def test_truncated_jpeg_is_refused():
    whole = _jpeg(photo("cat"))
    with pytest.raises(InvalidImageError, match="damaged|truncated|could not"):
        load_image(whole[: len(whole) // 2])


def test_text_file_renamed_jpg(tmp_path):
    fake = tmp_path / "holiday.jpg"
    fake.write_text("not really a photo")
    with pytest.raises(InvalidImageError, match="holiday.jpg"):
        load_image(fake)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")

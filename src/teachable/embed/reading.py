"""Reading a sample given as a path or as bytes: one way, with its size bounded before a
byte is read, for photos, sounds and imports alike."""

from __future__ import annotations

from pathlib import Path
from typing import Union

from ..errors import InvalidImageError, TeachableError

Source = Union[str, Path, bytes, bytearray, memoryview]


def read_source(source: Source, limit: int, too_large: type[TeachableError] = InvalidImageError,
                invalid: type[TeachableError] = InvalidImageError) -> bytes:
    """The bytes of a path (refused before reading when over ``limit``) or of bytes-like input;
    ``too_large`` / ``invalid`` are the errors raised (image or sound flavours, model files)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise invalid(f"'{path}' does not exist or is not a file.")
        if path.stat().st_size > limit:
            raise too_large(f"'{path}' is larger than {limit:,} bytes.")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)  # it may have grown since
        if len(data) > limit:
            raise too_large(f"'{path}' is larger than {limit:,} bytes.")
        return data
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    raise invalid(f"A sample must be a file path or bytes, not {type(source).__name__}.")

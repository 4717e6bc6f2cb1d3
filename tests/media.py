"""Fake webcam input for Chromium: real photos written as a Y4M video file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_y4m(path: Path, frames: list[Image.Image], size: tuple[int, int] = (640, 480), fps: int = 15,
              repeat: int = 1) -> Path:
    """Write frames (each shown ``repeat`` times) as 4:2:0 Y4M, which Chromium loops as a camera."""
    width, height = size
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            ycbcr = np.asarray(frame.convert("RGB").resize(size).convert("YCbCr"))
            y = ycbcr[:, :, 0]
            cb = ycbcr[::2, ::2, 1]
            cr = ycbcr[::2, ::2, 2]
            payload = b"FRAME\n" + y.tobytes() + cb.tobytes() + cr.tobytes()
            for _ in range(repeat):
                out.write(payload)
    return path

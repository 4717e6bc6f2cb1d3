"""Where Teachable keeps files on the user's machine."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """Regenerable files (the backbone's ONNX export). ``TEACHABLE_CACHE`` overrides."""
    override = os.environ.get("TEACHABLE_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("teachable"))


def data_dir() -> Path:
    """The default workspace of projects. ``TEACHABLE_WORKSPACE`` overrides."""
    override = os.environ.get("TEACHABLE_WORKSPACE")
    return Path(override) if override else Path(platformdirs.user_data_dir("teachable")) / "projects"


def tls_dir() -> Path:
    """The certificate authority and server certificate of `teachable serve --https`.
    ``TEACHABLE_TLS_DIR`` overrides."""
    override = os.environ.get("TEACHABLE_TLS_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("teachable")) / "tls"

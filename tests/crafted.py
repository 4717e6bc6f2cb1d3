"""Project files crafted as an attacker would: a real project, then changed behind Teachable's back."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from PIL import Image

from teachable import Project
from servers import jpegs

HTML = b"<!doctype html><script>fetch('/api/projects').then(r => r.text()).then(t => document.title = t)</script>"


def png(colour=(200, 30, 30), size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def small_project(path: Path) -> Path:
    """A real two-class project file with one photo in each class."""
    with Project.create(path, name="Victim") as project:
        project.add_class("cat")
        project.add_class("rocket")
        project.add_samples("cat", [jpegs(2, seed=3)[0]], embed=False)
        project.add_samples("rocket", [jpegs(2, seed=3)[1]], embed=False)
    return path


def tamper(path: Path, *statements: str, params: tuple = ()) -> Path:
    """Change a project file behind Teachable's back, as an attacker crafting one would."""
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement, params if "?" in statement else ())
    conn.commit()
    conn.close()
    return path

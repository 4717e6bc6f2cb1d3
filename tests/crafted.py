"""Project files crafted as an attacker would: a real project, then changed behind Teachable's back."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from teachable import Project
from photos import photo
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


def zeros_model(meta: dict, arrays: list[tuple[str, str, tuple, int]]) -> bytes:
    """A .teachable file of ``meta`` whose arrays (name, dtype, shape, item size) are all zeros,
    deflated: kilobytes on disk, however much they unpack to."""
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as inner:
        for name, descr, shape, itemsize in arrays:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
            with inner.open(f"{name}.npy", "w", force_zip64=True) as handle:
                handle.write(header.getvalue())
                left = int(np.prod(shape)) * itemsize
                zeros = bytes(16 * 1024 * 1024)
                while left:
                    handle.write(zeros[:min(left, len(zeros))])
                    left -= min(left, len(zeros))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(meta))
        archive.writestr("weights.npz", npz.getvalue())
    return out.getvalue()


def bomb_model(kind: str = "knn", counts: bool = True) -> bytes:
    """A small .teachable file whose weights claim gigabytes: a stored array of zeros, deflated.
    With ``counts`` its metadata says how many examples it has (2); without, only the array
    headers inside can tell."""
    meta = {"format": "teachable-model", "format_version": 1, "kind": "image", "labels": ["a", "b"],
            "backbone": {"id": "efficientnet-lite0-imagenet-224-v1"},
            "classifier": {"type": kind, "params": {"k": 3} if kind == "knn" else {"hidden_units": 100}}}
    if counts:
        meta["training_counts"] = {"a": 1, "b": 1}
    return zeros_model(meta, [("examples" if kind == "knn" else "w1", "<f4", (400_000, 1280), 4)])


def big_jpeg(side: int = 8000) -> bytes:
    """A 64-megapixel photo (the largest accepted), made of a real one scaled up."""
    buffer = io.BytesIO()
    photo("astronaut").resize((side, side)).save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def knn_bomb(rows: int) -> bytes:
    """A small kNN .teachable whose metadata honestly counts ``rows`` examples, all zeros, deflated
    to kilobytes: within the per-file weights limit, it would unpack to ``rows`` x 5 kB."""
    meta = {"format": "teachable-model", "format_version": 1, "kind": "image", "labels": ["a", "b"],
            "backbone": {"id": "efficientnet-lite0-imagenet-224-v1"}, "training_counts": {"a": rows - 1, "b": 1},
            "classifier": {"type": "knn", "params": {"k": 3}}}
    return zeros_model(meta, [("examples", "<f4", (rows, 1280), 4), ("labels", "<i8", (rows,), 8)])


def explain_bomb(examples: int = 500_000) -> bytes:
    """A small head model (format 2) whose explanation block honestly counts ``examples`` training
    photos: each array within what its counts allow, together gigabytes (issue 36)."""
    meta = {"format": "teachable-model", "format_version": 2, "kind": "image", "labels": ["a", "b"],
            "backbone": {"id": "efficientnet-lite0-imagenet-224-v1"},
            "classifier": {"type": "head", "params": {"hidden_units": 100}},
            "training_counts": {"a": examples - 1, "b": 1},
            "explain": {"examples": examples, "source_bytes": 2, "centred": False}}
    return zeros_model(meta, [("w1", "<f4", (1280, 100), 4), ("b1", "<f4", (100,), 4), ("w2", "<f4", (100, 2), 4),
                              ("b2", "<f4", (2,), 4), ("explain_codes", "|i1", (examples, 1280), 1),
                              ("explain_scales", "<f4", (examples,), 4), ("explain_labels", "<i8", (examples,), 8),
                              ("explain_sources", "|u1", (2,), 1)])

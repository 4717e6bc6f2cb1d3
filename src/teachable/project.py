"""Projects: classes, samples, cached embeddings and trained models in one SQLite file.

A sample is stored as the original bytes the user gave (never re-encoded), so exporting
gives back exactly what went in. Embeddings are cached per (sample, backbone): training
computes only the missing ones, and a new backbone simply has no cached rows yet — nothing
is ever deleted to invalidate them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import unicodedata
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Union

import numpy as np

from .classify.head import DEFAULTS
from .classify.knn import DEFAULT_K
from .dataset import SUFFIXES
from .embed import KEYPOINT_KINDS, backbone_for, default_backbone_id
from .embed.preprocess import MAX_FILE_BYTES, inspect_image
from .errors import (
    ConflictError, DatasetError, InvalidImageError, InvalidNameError, NotEnoughClassesError, NotFoundError,
    NothingDetectedError, ProjectFileError, TeachableError,
)
from .model import Model
from .store.database import Database

SampleInput = Union[str, Path, bytes, bytearray, memoryview]
SOURCES = ("webcam", "upload", "import", "microphone")
MAX_NAME_LENGTH = 100
MAX_CLASSES = 100
KINDS = ("image", "sound", "pose", "hand")
# Teachable Machine's rule for sound projects.
BACKGROUND = "Background Noise"
MIN_BACKGROUND_SAMPLES = 20
MIN_SOUND_SAMPLES = 8
# The classes a new project starts with in the web app (a sound project always has BACKGROUND).
DEFAULT_CLASSES = {"image": ("Class 1", "Class 2"), "sound": ("Class 2",), "pose": ("Class 1", "Class 2"),
                   "hand": ("Class 1", "Class 2")}
DEFAULT_SETTINGS = {
    "classifier": "head",
    "epochs": DEFAULTS["epochs"],
    "batch_size": DEFAULTS["batch_size"],
    "learning_rate": DEFAULTS["learning_rate"],
    "k": DEFAULT_K,
    "validation_split": DEFAULTS["validation_split"],
    "seed": DEFAULTS["seed"],
}
LAYOUT = ("Put each class's files in a folder named after the class (photos/cat/1.jpg, photos/dog/2.jpg) "
          "and import the folder that holds them, or a zip of it.")
# Imports hold at most about this many bytes of files at once before storing them.
MAX_IMPORT_BATCH_BYTES = 64 * 1024 * 1024
# Imports read at most this much from a zip, in total, whatever its entries claim.
MAX_IMPORT_ZIP_BYTES = 8 * 1024 * 1024 * 1024
# The columns of SampleInfo, in order (the bytes themselves are read only when asked for).
SAMPLE_COLUMNS = "id, class_id, media_type, source, sha256, width, height, created, LENGTH(data), duration_ms"
# What a sample of each kind may be stored as (what the checks in _checked_samples produce).
MEDIA_TYPES = {
    "image": ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/tiff"),
    "sound": ("audio/wav", "audio/flac", "audio/ogg", "audio/mpeg"),
}
MEDIA_TYPES["pose"] = MEDIA_TYPES["hand"] = MEDIA_TYPES["image"]
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp",
              "image/webp": ".webp", "image/tiff": ".tif", "audio/wav": ".wav", "audio/flac": ".flac",
              "audio/ogg": ".ogg", "audio/mpeg": ".mp3"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_name(name: object, what: str = "class") -> str:
    """A usable name: trimmed, 1-100 characters, no path separators or control characters."""
    if not isinstance(name, str):
        raise InvalidNameError(f"A {what} name must be text.")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidNameError(f"A {what} name cannot be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"A {what} name can be at most {MAX_NAME_LENGTH} characters (this one has {len(name):,}).")
    if "/" in name or "\\" in name:
        raise InvalidNameError(f"A {what} name cannot contain '/' or '\\\\': '{name}'.")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name) or name in (".", ".."):
        raise InvalidNameError(f"A {what} name cannot contain control characters or be '.' or '..'.")
    return name


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    position: int
    count: int

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "position": self.position, "count": self.count}


@dataclass(frozen=True)
class SampleInfo:
    id: int
    class_id: int
    media_type: str
    source: str
    sha256: str
    width: int | None
    height: int | None
    created: str
    size: int
    duration_ms: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ModelInfo:
    id: int
    created: str
    classifier: str
    settings: dict
    metrics: dict | None
    current: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ImportResult:
    added: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        self.skipped = self.skipped or []


ProgressCallback = Callable[[int], None]
ErrorCallback = Callable[[int, Exception], None]


class Project:
    """An open project file. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, kind: str = "image", name: str | None = None) -> "Project":
        if kind not in KINDS:
            raise TeachableError(f"Unknown project kind '{kind}': this version makes {', '.join(KINDS)} projects.")
        path = Path(path)
        project_name = check_name(name if name is not None else path.stem, "project")
        db = Database.create(path)
        with db.write() as conn:
            for key, value in {
                "kind": kind, "name": project_name, "created": now(),
                "settings": json.dumps(DEFAULT_SETTINGS), "backbone": default_backbone_id(kind),
            }.items():
                conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
        project = cls(db)
        if kind == "sound":
            project.add_class(BACKGROUND)
        return project

    @classmethod
    def open(cls, path: str | Path) -> "Project":
        project = cls(Database.open(Path(path)))
        try:
            if project.kind not in KINDS:
                raise ProjectFileError(f"'{Path(path).name}' is a '{project.kind}' project, which this version cannot open.")
            project._check_contents()
        except Exception:
            project.close()
            raise
        return project

    def close(self) -> None:
        self._db.close()

    def _check_contents(self) -> None:
        """What a project file from elsewhere must satisfy before anything reads it, checked
        cheaply on every open: the names (they become folder names on export), the media types
        and sources (only what an upload could have stored), the sample sizes."""
        kind = self.kind
        try:
            check_name(self.name, "project")
            with self._db.read() as conn:
                names = [row[0] for row in conn.execute("SELECT name FROM classes")]
                media = {row[0] for row in conn.execute("SELECT DISTINCT media_type FROM samples")}
                sources = {row[0] for row in conn.execute("SELECT DISTINCT source FROM samples")}
                largest = conn.execute("SELECT MAX(LENGTH(data)) FROM samples").fetchone()[0] or 0
            for name in names:
                if check_name(name) != name:
                    raise InvalidNameError(f"the class name {name[:100]!r} is not in its stored form")
        except InvalidNameError as exc:
            raise ProjectFileError(f"'{self.path.name}' cannot be opened: {exc}") from None
        if len(names) > MAX_CLASSES:
            raise ProjectFileError(f"'{self.path.name}' has {len(names)} classes; at most {MAX_CLASSES} are allowed.")
        allowed = set(MEDIA_TYPES[kind])
        if not media <= allowed or not sources <= set(SOURCES):
            odd = sorted(map(str, (media - allowed) | (sources - set(SOURCES))))[0]
            raise ProjectFileError(f"'{self.path.name}' holds a sample of a kind Teachable never stores ({odd[:100]!r}).")
        if largest > MAX_FILE_BYTES:
            raise ProjectFileError(f"'{self.path.name}' holds a sample larger than {MAX_FILE_BYTES:,} bytes.")

    def verify_samples(self) -> None:
        """Every sample is what its media type says, read from its bytes: for a project file
        brought in from elsewhere ("Open from file"), as strictly as an upload is checked."""
        from .embed import media_type_of

        kind = self.kind
        with self._db.read() as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM samples ORDER BY id")]
        for sample_id in ids:
            with self._db.read() as conn:
                data, media_type = conn.execute("SELECT data, media_type FROM samples WHERE id = ?", (sample_id,)).fetchone()
            if media_type_of(kind, bytes(data)) != media_type:
                raise ProjectFileError(f"'{self.path.name}' holds sample {sample_id}, which is not the {media_type} it claims to be.")

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._db.path

    def _meta(self, key: str) -> str:
        with self._db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise ProjectFileError(f"'{self.path.name}' is missing its '{key}' setting; the file is damaged.")
        return row[0]

    def _set_meta(self, key: str, value: str) -> None:
        with self._db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def kind(self) -> str:
        return self._meta("kind")

    @property
    def name(self) -> str:
        return self._meta("name")

    def rename(self, name: str) -> None:
        self._set_meta("name", check_name(name, "project"))

    @property
    def backbone_id(self) -> str:
        return self._meta("backbone")

    @property
    def settings(self) -> dict:
        try:
            stored = json.loads(self._meta("settings"))
        except json.JSONDecodeError:
            stored = {}
        return {**DEFAULT_SETTINGS, **{k: v for k, v in stored.items() if k in DEFAULT_SETTINGS}}

    def update_settings(self, **changes) -> dict:
        unknown = sorted(set(changes) - set(DEFAULT_SETTINGS))
        if unknown:
            raise TeachableError(f"Unknown setting(s): {', '.join(unknown)}.")
        settings = {**self.settings, **changes}
        self._set_meta("settings", json.dumps(settings))
        return settings

    def integrity_check(self) -> str:
        return self._db.integrity_check()

    def save_copy(self, target: str | Path) -> Path:
        """A complete, consistent copy of the project file (for download or duplicate)."""
        target = Path(target)
        if target.exists():
            raise ConflictError(f"'{target}' already exists.")
        self._db.backup_to(target)
        return target

    # -- classes ------------------------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.id, c.name, c.position, COUNT(s.id) FROM classes c "
                "LEFT JOIN samples s ON s.class_id = c.id GROUP BY c.id ORDER BY c.position, c.id"
            ).fetchall()
        return [ClassInfo(*row) for row in rows]

    def class_info(self, ref: int | str) -> ClassInfo:
        """A class by id or by name."""
        for info in self.classes():
            if (isinstance(ref, int) and info.id == ref) or (isinstance(ref, str) and info.name == ref):
                return info
        raise NotFoundError(f"There is no class {ref!r} in this project.")

    def add_class(self, name: str) -> ClassInfo:
        name = check_name(name)
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"There is already a class named '{name}'.")
            if conn.execute("SELECT COUNT(*) FROM classes").fetchone()[0] >= MAX_CLASSES:
                raise TeachableError(f"A project can have at most {MAX_CLASSES} classes.")
            position = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM classes").fetchone()[0]
            cursor = conn.execute("INSERT INTO classes(name, position, created) VALUES (?, ?, ?)", (name, position, now()))
        return self.class_info(int(cursor.lastrowid))

    def rename_class(self, ref: int | str, new_name: str) -> ClassInfo:
        info = self.class_info(ref)
        new_name = check_name(new_name)
        with self._db.write() as conn:
            clash = conn.execute("SELECT id FROM classes WHERE name = ?", (new_name,)).fetchone()
            if clash and clash[0] != info.id:
                raise ConflictError(f"There is already a class named '{new_name}'.")
            conn.execute("UPDATE classes SET name = ? WHERE id = ?", (new_name, info.id))
        return self.class_info(info.id)

    def remove_class(self, ref: int | str) -> None:
        """Delete a class with all its samples (and their cached embeddings)."""
        info = self.class_info(ref)
        self._db.deleting(lambda conn: conn.execute("DELETE FROM classes WHERE id = ?", (info.id,)))

    def clear_class(self, ref: int | str) -> int:
        """Delete every sample of a class, keeping the class; returns how many went."""
        info = self.class_info(ref)
        return self._db.deleting(lambda conn: conn.execute("DELETE FROM samples WHERE class_id = ?", (info.id,)).rowcount)

    def reorder_classes(self, ids: list[int]) -> None:
        existing = {c.id for c in self.classes()}
        if sorted(ids) != sorted(existing):
            raise TeachableError("Reordering must list every class exactly once.")
        with self._db.write() as conn:
            for position, class_id in enumerate(ids):
                conn.execute("UPDATE classes SET position = ? WHERE id = ?", (position, class_id))

    # -- samples ------------------------------------------------------------------------------
    def add_samples(
        self,
        class_ref: int | str,
        items: Iterable[SampleInput],
        source: str = "upload",
        embed: bool = True,
        on_error: ErrorCallback | None = None,
        names: list[str] | None = None,
    ) -> list[int]:
        """Store samples in a class; returns their ids (a duplicate gives the existing id).

        Every item is checked (a complete, decodable image within the limits) before anything
        is written, and all are stored in one transaction: without ``on_error`` one bad item
        stores nothing and raises; with it, bad items are reported and the rest stored.
        ``embed=True`` computes their embeddings right away; the server passes False and
        lets a background worker do it. ``names`` label bytes items in error messages.
        """
        ids, _ = self._store_samples(class_ref, items, source, embed, on_error, names)
        return ids

    def _store_samples(self, class_ref, items, source, embed, on_error, names) -> tuple[list[int], int]:
        """add_samples' work; also returns how many samples were new (not duplicates)."""
        if source not in SOURCES:
            raise TeachableError(f"Unknown sample source '{source}'.")
        info = self.class_info(class_ref)
        kind = self.kind
        items = list(items)

        def check(index: int) -> list[tuple] | InvalidImageError:
            item = items[index]
            if names is not None and index < len(names):
                label = names[index]
            else:
                label = str(item) if isinstance(item, (str, Path)) else f"item {index + 1}"
            try:
                return _checked_samples(kind, _read_bytes(item), f"'{label}'")
            except InvalidImageError as exc:
                # A fresh exception: the raised one's traceback holds the file's bytes alive.
                return type(exc)(str(exc))
            except OSError as exc:
                return InvalidImageError(f"'{label}' could not be read: {exc}.")

        # Photos are checked (fully decoded) on every core at once; the keypoint and sound
        # models are not shared between threads.
        if kind == "image" and len(items) > 1:
            outcomes = list(_checking_pool().map(check, range(len(items))))
        else:
            outcomes = [check(index) for index in range(len(items))]
        prepared = []
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, InvalidImageError):
                if on_error is None:
                    raise outcome from None
                on_error(index, outcome)
                continue
            prepared += outcome
        ids: list[int] = []
        inserted = 0
        with self._db.write() as conn:
            if not conn.execute("SELECT 1 FROM classes WHERE id = ?", (info.id,)).fetchone():
                raise NotFoundError(f"The class '{info.name}' was deleted.")
            backbone_id = self.backbone_id
            for data, media_type, width, height, duration, vector in prepared:
                digest = hashlib.sha256(data).hexdigest()
                row = conn.execute("SELECT id FROM samples WHERE class_id = ? AND sha256 = ?", (info.id, digest)).fetchone()
                if row:
                    ids.append(row[0])
                    continue
                cursor = conn.execute(
                    "INSERT INTO samples(class_id, data, media_type, source, sha256, width, height, created, duration_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (info.id, data, media_type, source, digest, width, height, now(), duration),
                )
                ids.append(int(cursor.lastrowid))
                inserted += 1
                if vector is not None:  # keypoint kinds: found while checking, stored at once
                    conn.execute("INSERT INTO embeddings(sample_id, backbone, vector) VALUES (?, ?, ?)",
                                 (ids[-1], backbone_id, np.asarray(vector, np.float32).tobytes()))
        if embed and ids:
            self.ensure_embeddings(sample_ids=ids)
        return ids, inserted

    def samples(self, class_ref: int | str | None = None) -> list[SampleInfo]:
        query = f"SELECT {SAMPLE_COLUMNS} FROM samples"
        params: tuple = ()
        if class_ref is not None:
            query += " WHERE class_id = ?"
            params = (self.class_info(class_ref).id,)
        with self._db.read() as conn:
            rows = conn.execute(query + " ORDER BY id", params).fetchall()
        return [SampleInfo(*row) for row in rows]

    def sample(self, sample_id: int) -> SampleInfo:
        with self._db.read() as conn:
            row = conn.execute(f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no sample {sample_id} in this project.")
        return SampleInfo(*row)

    def sample_bytes(self, sample_id: int) -> bytes:
        with self._db.read() as conn:
            row = conn.execute("SELECT data FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no sample {sample_id} in this project.")
        return bytes(row[0])

    def remove_sample(self, sample_id: int) -> None:
        removed = self._db.deleting(lambda conn: conn.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),)).rowcount)
        if removed == 0:
            raise NotFoundError(f"There is no sample {sample_id} in this project.")

    def move_sample(self, sample_id: int, class_ref: int | str) -> None:
        target = self.class_info(class_ref)
        self.sample(sample_id)
        with self._db.write() as conn:
            try:
                conn.execute("UPDATE samples SET class_id = ? WHERE id = ?", (target.id, int(sample_id)))
            except Exception as exc:
                if "UNIQUE" in str(exc):
                    raise ConflictError(f"The class '{target.name}' already has this sample.") from None
                raise

    # -- embeddings ---------------------------------------------------------------------------
    def missing_embeddings(self, backbone_id: str | None = None) -> list[int]:
        backbone_id = backbone_id or self.backbone_id
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT s.id FROM samples s LEFT JOIN embeddings e ON e.sample_id = s.id AND e.backbone = ? "
                "WHERE e.sample_id IS NULL ORDER BY s.id", (backbone_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def ensure_embeddings(
        self,
        sample_ids: list[int] | None = None,
        batch_size: int = 32,
        on_progress: ProgressCallback | None = None,
        device: str = "auto",
    ) -> int:
        """Compute and store the embeddings that are missing; returns how many were computed.

        Each batch is committed as soon as it is done, so an interrupted run keeps its work.
        """
        backbone_id = self.backbone_id
        missing = self.missing_embeddings(backbone_id)
        if sample_ids is not None:
            wanted = set(sample_ids)
            missing = [i for i in missing if i in wanted]
        if not missing:
            return 0
        backbone = backbone_for(self.kind, backbone_id, device)
        batch_size = _embedding_batch(backbone, batch_size)
        done = 0
        for start in range(0, len(missing), batch_size):
            batch_ids = missing[start : start + batch_size]
            with self._db.read() as conn:
                rows = conn.execute(
                    f"SELECT id, data FROM samples WHERE id IN ({','.join('?' * len(batch_ids))})", batch_ids
                ).fetchall()
            present = [(row[0], bytes(row[1])) for row in rows]  # a sample may be deleted meanwhile
            if present:
                vectors, kept = backbone.embed_many([data for _, data in present], batch_size, on_error=lambda *_: None)
                with self._db.write() as conn:
                    for position, vector in zip(kept, vectors):
                        sample_id = present[position][0]
                        if conn.execute("SELECT 1 FROM samples WHERE id = ?", (sample_id,)).fetchone():
                            conn.execute(
                                "INSERT OR REPLACE INTO embeddings(sample_id, backbone, vector) VALUES (?, ?, ?)",
                                (sample_id, backbone_id, np.asarray(vector, np.float32).tobytes()),
                            )
                done += len(kept)
            if on_progress:
                on_progress(len(batch_ids))
        return done

    def embeddings(self, backbone_id: str | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(vectors, class ids, sample ids) of every sample with a cached embedding, by sample id."""
        backbone_id = backbone_id or self.backbone_id
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT s.id, s.class_id, e.vector FROM samples s JOIN embeddings e "
                "ON e.sample_id = s.id AND e.backbone = ? ORDER BY s.id", (backbone_id,)
            ).fetchall()
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), []
        vectors = np.stack([np.frombuffer(row[2], dtype=np.float32) for row in rows])
        return vectors, np.array([row[1] for row in rows], np.int64), [row[0] for row in rows]

    # -- training and models ------------------------------------------------------------------
    def train(self, on_epoch=None, on_embed_progress: ProgressCallback | None = None, device: str = "auto",
              **settings) -> Model:
        """Train on every sample (computing only missing embeddings), store the model as current."""
        settings = {**self.settings, **settings}
        unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
        if unknown:
            raise TeachableError(f"Unknown setting(s): {', '.join(unknown)}.")
        if self.kind == "sound":
            check_sound_counts(self.classes())
        with self._db.write() as conn:  # checked and claimed in one transaction: one run at a time
            self._check_not_training(conn)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('training', ?)",
                         (json.dumps({"pid": os.getpid(), "started": now()}),))
        try:
            return self._train(settings, on_epoch, on_embed_progress, device)
        finally:
            with self._db.write() as conn:
                conn.execute("DELETE FROM meta WHERE key = 'training'")

    def _train(self, settings: dict, on_epoch, on_embed_progress, device: str) -> Model:
        from .training import fit

        self.ensure_embeddings(on_progress=on_embed_progress, device=device)
        classes = self.classes()
        vectors, class_ids, _ = self.embeddings()
        position = {info.id: i for i, info in enumerate(classes)}
        y = np.array([position[c] for c in class_ids], np.int64)
        model = fit(vectors, y, [c.name for c in classes], self.backbone_id, self.kind,
                    on_epoch=on_epoch, device=device, **settings)
        unreadable = len(self.missing_embeddings())
        if unreadable:
            model.notes.append(f"{unreadable} sample(s) could not be embedded and were left out.")
        self.store_model(model, settings)
        return model

    def check_not_training(self) -> None:
        """Raise ConflictError while a training run of this project is going on (in any process)."""
        with self._db.read() as conn:
            self._check_not_training(conn)

    def _check_not_training(self, conn) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'training'").fetchone()
        if row is None:
            return
        try:
            pid = int(json.loads(row[0]).get("pid", 0))
        except (ValueError, TypeError, AttributeError, OverflowError):
            return  # an unreadable marker: interrupted_training() reports and clears it
        if pid and _process_alive(pid):
            raise ConflictError("This project is already training; wait for it to finish.")

    def interrupted_training(self) -> str | None:
        """If a training run died with its process (a crash, a kill), say so once and forget it."""
        with self._db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'training'").fetchone()
        if row is None:
            return None
        try:
            marker = json.loads(row[0])
            pid = int(marker.get("pid", 0))
        except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
            marker, pid = {}, 0
        if pid and pid != os.getpid() and _process_alive(pid):
            return None  # another program is training this project right now
        with self._db.write() as conn:
            conn.execute("DELETE FROM meta WHERE key = 'training'")
        return (f"The training run started at {marker.get('started', 'an unknown time')} was interrupted before it "
                "finished (the program stopped). The previous model is unchanged; train again.")

    def store_model(self, model: Model, settings: dict) -> int:
        metrics = json.dumps(model.report.to_dict()) if model.report else None
        with self._db.write() as conn:
            conn.execute("UPDATE models SET is_current = 0")
            cursor = conn.execute(
                "INSERT INTO models(created, classifier, settings, metrics, data, is_current) VALUES (?, ?, ?, ?, ?, 1)",
                (model.created or now(), model.classifier.kind, json.dumps(settings), metrics, model.to_bytes()),
            )
        return int(cursor.lastrowid)

    def models(self) -> list[ModelInfo]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, created, classifier, settings, metrics, is_current FROM models ORDER BY id"
            ).fetchall()
        return [ModelInfo(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]) if r[4] else None, bool(r[5])) for r in rows]

    def current_model_id(self) -> int | None:
        """The id of the current model (one small query: the live preview asks on every frame)."""
        with self._db.read() as conn:
            row = conn.execute("SELECT id FROM models WHERE is_current = 1 ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def model_bytes(self, model_id: int | None = None) -> bytes:
        """The `.teachable` bytes of a model (the current one by default)."""
        with self._db.read() as conn:
            if model_id is None:
                row = conn.execute("SELECT data FROM models WHERE is_current = 1 ORDER BY id DESC LIMIT 1").fetchone()
            else:
                row = conn.execute("SELECT data FROM models WHERE id = ?", (int(model_id),)).fetchone()
        if row is None:
            raise NotFoundError("This project has no trained model yet." if model_id is None else f"There is no model {model_id}.")
        return bytes(row[0])

    def model(self, model_id: int | None = None, device: str = "auto") -> Model:
        from .modelfile import model_from_bytes

        return model_from_bytes(self.model_bytes(model_id), device)

    # -- datasets in and out ------------------------------------------------------------------
    def export_dataset(self, target: str | Path) -> Path:
        """Write class folders with every sample's original bytes: a directory, or a ``.zip``."""
        target = Path(target)
        entries = self._dataset_entries()  # names checked again: they become paths
        if target.suffix.lower() == ".zip":
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".zip.tmp")
            os.close(fd)
            try:
                with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
                    for relative, sample_id in entries:
                        archive.writestr(relative, self.sample_bytes(sample_id))
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            target.mkdir(parents=True, exist_ok=True)
            root = target.resolve()
            for info in self.classes():
                folder = (target / check_name(info.name)).resolve()
                if folder.parent != root:
                    raise InvalidNameError(f"The class name '{info.name}' would be written outside '{target}'.")
                folder.mkdir(exist_ok=True)
            for relative, sample_id in entries:
                (target / relative).write_bytes(self.sample_bytes(sample_id))
        return target

    def _dataset_entries(self) -> list[tuple[str, int]]:
        names = {info.id: check_name(info.name) for info in self.classes()}
        return [
            (f"{names[s.class_id]}/{s.id:06d}{EXTENSIONS.get(s.media_type, '.bin')}", s.id)
            for s in self.samples()
        ]

    def import_dataset(
        self,
        source: str | Path,
        on_progress: ProgressCallback | None = None,
        embed: bool = True,
        batch_size: int = 32,
    ) -> ImportResult:
        """Add class folders (a directory or a zip) to the project; creates missing classes.

        Samples are committed in batches as they are read, so an interrupted import keeps
        what it stored; files that are not usable images are listed in ``skipped``.
        """
        result = ImportResult()
        batch: dict[str, list[tuple[str, bytes]]] = {}
        pending = pending_bytes = 0
        unembedded: list[int] = []
        # Embeddings are computed in the backbone's preferred batch size (a GPU wants
        # ~1,000 photos at once to keep its decoding processes busy), not per stored batch.
        embed_every = _embedding_batch(backbone_for(self.kind, self.backbone_id), batch_size) if embed else 0

        def flush(final: bool = False) -> None:
            nonlocal pending, pending_bytes
            for class_name, items in batch.items():
                try:
                    info = self.class_info(class_name)
                except NotFoundError:
                    info = self.add_class(class_name)
                ids, new = self._store_samples(
                    info.id, [data for _, data in items], "import", False,
                    lambda index, exc, items=items: result.skipped.append((items[index][0], str(exc))),
                    [label for label, _ in items],
                )
                result.added += new
                result.duplicates += len(ids) - new
                unembedded.extend(ids)
            if embed and unembedded and (len(unembedded) >= embed_every or final):
                self.ensure_embeddings(sample_ids=unembedded)
                unembedded.clear()
            if on_progress:
                on_progress(pending)
            batch.clear()
            pending = pending_bytes = 0

        found = 0
        for class_name, label, read in dataset_files(Path(source), result, SUFFIXES[self.kind]):
            found += 1
            try:
                class_name = check_name(class_name)
                data = read()
            except (TeachableError, OSError) as exc:
                result.skipped.append((label, str(exc)))
                continue
            batch.setdefault(class_name, []).append((label, data))
            pending += 1
            pending_bytes += len(data)
            if pending >= batch_size or pending_bytes >= MAX_IMPORT_BATCH_BYTES:  # big files: fewer at once
                flush()
        flush(final=True)
        if not found:
            raise DatasetError(f"'{Path(source).name}' has no {self.kind} files inside class folders "
                               f"({len(result.skipped)} other entries skipped). {LAYOUT}")
        return result


def check_sound_counts(classes: list[ClassInfo]) -> None:
    """Teachable Machine's rule: >= 20 background-noise samples and >= 8 in every other class."""
    problems = []
    names = [c.name for c in classes]
    if BACKGROUND not in names:
        problems.append(f"a class named '{BACKGROUND}' with at least {MIN_BACKGROUND_SAMPLES} samples of the room's quiet")
    for c in classes:
        need = MIN_BACKGROUND_SAMPLES if c.name == BACKGROUND else MIN_SOUND_SAMPLES
        if c.count < need:
            problems.append(f"'{c.name}' has {c.count} sample(s), needs {need}")
    if len([c for c in classes if c.name != BACKGROUND]) < 1:
        problems.append("at least one class besides background noise")
    if problems:
        raise NotEnoughClassesError("A sound project needs " + "; ".join(problems) + ".")


def _embedding_batch(backbone, requested: int) -> int:
    """Samples to embed at once: what the caller asked, or more where the backbone wants more."""
    return max(requested, getattr(backbone, "bulk_batch_size", requested))


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _checking_pool() -> ThreadPoolExecutor:
    """Threads that decode photos to check them (Pillow decodes outside the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, 8)), thread_name_prefix="teachable-check")
        return _pool


def _checked_samples(kind: str, data: bytes, label: str) -> list[tuple]:
    """What to store for one uploaded item: (bytes, media type, width, height, duration in ms,
    embedding or None).

    An image is stored as it is. A sound of up to 1.5 s too; a longer recording becomes
    one-second clips. A pose or hand photo must show a person or a hand: its landmarks are
    found now (a picture without one is refused) and its features stored with it.
    """
    if kind == "sound":
        from .embed.audio import inspect_audio

        return [(clip, media, None, None, ms, None) for clip, media, ms in inspect_audio(data, label)]
    media_type, width, height = inspect_image(data, label)
    vector = None
    if kind in KEYPOINT_KINDS:
        from .embed.landmarks import get_landmark_backbone

        try:
            vector = get_landmark_backbone(kind).embed_one(data)
        except NothingDetectedError as exc:
            raise NothingDetectedError(str(exc).replace("the picture", label)) from None
    return [(data, media_type, width, height, None, vector)]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_file_bounded(path: Path) -> bytes:
    """A file's bytes, refusing (before reading) one larger than a sample may be."""
    path = Path(path)
    if not path.is_file():
        raise InvalidImageError(f"'{path}' does not exist or is not a file.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidImageError(f"'{path}' is larger than {MAX_FILE_BYTES:,} bytes.")
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # it may have grown since
    if len(data) > MAX_FILE_BYTES:
        raise InvalidImageError(f"'{path}' is larger than {MAX_FILE_BYTES:,} bytes.")
    return data


def _read_bytes(item: SampleInput) -> bytes:
    if isinstance(item, (str, Path)):
        return read_file_bounded(Path(item))
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    raise InvalidImageError(f"A sample must be a file path or bytes, not {type(item).__name__}.")


def _files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (not hidden), without following links to other folders."""
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / name for name in files if not name.startswith(".")]
    return sorted(p for p in found if p.is_file())


def dataset_files(source: Path, result: ImportResult, suffixes: set[str] = SUFFIXES["image"]
                   ) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(class name, file label, reader) for each wanted file in class folders of a directory or zip."""
    if source.is_dir():
        root = source.resolve()
        classes = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise DatasetError(f"'{source}' has no class folders. {LAYOUT}")
        for folder in classes:
            for path in _files_under(folder):
                if not path.resolve().is_relative_to(root):  # a link out of the folder being imported
                    result.skipped.append((str(path), "a link to a file outside the imported folder"))
                    continue
                if path.suffix.lower() not in suffixes:
                    result.skipped.append((str(path), "not a file of this project's kind"))
                    continue
                yield folder.name, str(path), lambda path=path: read_file_bounded(path)
        return
    if not source.is_file():
        raise DatasetError(f"'{source}' is neither a folder nor a zip file.")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        raise DatasetError(f"'{source}' is not a valid zip file.") from None
    with archive:
        total = 0
        entries = sorted((info for info in archive.infolist() if not info.is_dir()), key=lambda i: i.filename)
        for info in entries:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.filename.startswith("/") or ".." in parts or len(parts) < 2 or any(p.startswith(".") for p in parts) or parts[0] == "__MACOSX":
                result.skipped.append((info.filename, "not inside a class folder, or an unsafe path"))
                continue
            if PurePosixPath(parts[-1]).suffix.lower() not in suffixes:
                result.skipped.append((info.filename, "not a file of this project's kind"))
                continue
            if info.file_size > MAX_FILE_BYTES:
                result.skipped.append((info.filename, f"larger than {MAX_FILE_BYTES:,} bytes"))
                continue
            total += info.file_size
            if total > MAX_IMPORT_ZIP_BYTES:
                raise DatasetError(f"'{source}' unpacks to more than {MAX_IMPORT_ZIP_BYTES:,} bytes.")

            def read(info=info) -> bytes:
                try:
                    with archive.open(info) as handle:
                        data = handle.read(MAX_FILE_BYTES + 1)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                    raise InvalidImageError(f"'{info.filename}' is damaged in the zip: {exc}.") from None
                if len(data) > MAX_FILE_BYTES:
                    raise InvalidImageError(f"'{info.filename}' is larger than {MAX_FILE_BYTES:,} bytes.")
                return data

            yield parts[0], info.filename, read


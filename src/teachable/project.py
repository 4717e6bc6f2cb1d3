"""Projects: classes, samples, cached embeddings and trained models in one SQLite file.

:class:`Project` is the front a program uses; the work is done by small parts with one job
each: the SQL in ``store/`` (classes, samples, embeddings, models, the project's own facts),
checking and reading files in :mod:`.intake`, what differs between project kinds in
:mod:`.kinds`, and training in :func:`.training.fit`.

A sample is stored as the original bytes the user gave (never re-encoded), so exporting
gives back exactly what went in. Embeddings are cached per (sample, backbone): training
computes only the missing ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .embed.preprocess import MAX_FILE_BYTES
from .errors import ConflictError, InvalidNameError, ProjectFileError, TeachableError
from .explain.memory import sample_source
from .intake import SOURCES, ErrorCallback, ImportResult, SampleInput, check_items, embedding_batch, import_dataset
from .kinds import EXTENSIONS, KINDS, Kind, get_kind
from .model import Model
from .names import check_name
from .settings import DEFAULT_SETTINGS, BY_NAME, check_settings
from .wording import counted
from .store.classes import MAX_CLASSES, ClassInfo, ClassStore
from .store.database import Database
from .store.embeddings import EmbeddingStore
from .store.meta import MetaStore, now
from .store.models import ModelInfo, ModelStore
from .store.reviews import ReviewMarks
from .store.samples import SampleInfo, SampleStore

__all__ = ["ClassInfo", "ImportResult", "ModelInfo", "Project", "SampleInfo"]
ProgressCallback = Callable[[int], None]


class Project:
    """An open project file. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._meta = MetaStore(db)
        self._classes = ClassStore(db)
        self._samples = SampleStore(db)
        self._embeddings = EmbeddingStore(db)
        self._models = ModelStore(db)
        # One embedding run at a time: the server's background embedder and a training job
        # would otherwise both embed the same missing samples.
        self._embedding_turn = threading.Lock()
        self.review_marks = ReviewMarks(db)  # samples a reviewer said are fine (explain/samples.py)

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, kind: str = "image", name: str | None = None) -> "Project":
        rules = get_kind(kind)
        path = Path(path)
        project_name = check_name(name if name is not None else path.stem, "project")
        project = cls(Database.create(path))
        project._meta.create({"kind": rules.name, "name": project_name, "created": now(),
                              "settings": json.dumps(DEFAULT_SETTINGS), "backbone": rules.backbone_id})
        if rules.special_class:
            project.add_class(rules.special_class)
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

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_contents(self) -> None:
        """What a project file from elsewhere must satisfy before anything reads it, checked
        cheaply on every open: the names (they become folder names on export), the media types
        and sources (only what an upload could have stored), the sample sizes."""
        try:
            check_name(self.name, "project")
            names = self._classes.names()
            for name in names:
                if check_name(name) != name:
                    raise InvalidNameError(f"the class name {name[:100]!r} is not in its stored form")
        except InvalidNameError as exc:
            raise ProjectFileError(f"'{self.path.name}' cannot be opened: {exc}") from None
        if len(names) > MAX_CLASSES:
            raise ProjectFileError(f"'{self.path.name}' has {len(names)} classes; at most {MAX_CLASSES} are allowed.")
        contents = self._samples.contents()
        allowed = set(self.rules.media_types)
        if not contents.media_types <= allowed or not contents.sources <= set(SOURCES):
            odd = sorted(map(str, (contents.media_types - allowed) | (contents.sources - set(SOURCES))))[0]
            raise ProjectFileError(f"'{self.path.name}' holds a sample of a kind Teachable never stores ({odd[:100]!r}).")
        if contents.largest > MAX_FILE_BYTES:
            raise ProjectFileError(f"'{self.path.name}' holds a sample larger than {MAX_FILE_BYTES:,} bytes.")

    def verify_samples(self) -> None:
        """Every sample is what its media type says, read from its bytes: for a project file
        brought in from elsewhere ("Open from file"), as strictly as an upload is checked."""
        rules = self.rules
        for sample_id in self._samples.ids():
            data, media_type = self._samples.typed(sample_id)
            if rules.media_type_of(data) != media_type:
                raise ProjectFileError(f"'{self.path.name}' holds sample {sample_id}, which is not the {media_type} it claims to be.")

    # -- the project's own facts --------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def kind(self) -> str:
        return self._meta.get("kind")

    @property
    def rules(self) -> Kind:
        """Everything that depends on this project's kind (see :mod:`teachable.kinds`)."""
        return get_kind(self.kind)

    @property
    def name(self) -> str:
        return self._meta.get("name")

    def rename(self, name: str) -> None:
        self._meta.set("name", check_name(name, "project"))

    @property
    def backbone_id(self) -> str:
        """The backbone this project's samples are embedded with: its kind's current one (a project
        made with an older backbone, such as sound's speech_embedding alone, is re-embedded)."""
        stored = self._meta.get("backbone")
        rules = self.rules
        return rules.backbone_id if stored in rules.legacy_backbones else stored

    def _retire_legacy_backbone(self) -> None:
        """Forget the vectors of an older backbone (they are never mixed with the current one's) and
        record the current one: done when embeddings are next computed."""
        stored = self._meta.get("backbone")
        if stored != self.backbone_id:
            self._embeddings.forget(stored)
            self._meta.set("backbone", self.backbone_id)

    @property
    def settings(self) -> dict:
        """The stored training settings; a stored value that is no longer valid reads as the default."""
        try:
            stored = json.loads(self._meta.get("settings"))
        except (json.JSONDecodeError, RecursionError):
            stored = {}
        settings = dict(DEFAULT_SETTINGS)
        for name, value in (stored.items() if isinstance(stored, dict) else ()):
            if name in BY_NAME:
                try:
                    settings[name] = BY_NAME[name].check(value)
                except TeachableError:
                    pass
        return settings

    def update_settings(self, **changes) -> dict:
        settings = {**self.settings, **check_settings(changes)}
        self._meta.set("settings", json.dumps(settings))
        return settings

    @property
    def published(self) -> str | None:
        """The secret part of this project's published model URL (``/tm/<key>/``), or None."""
        try:
            return self._meta.get("published") or None
        except ProjectFileError:
            return None

    def publish(self, on: bool) -> str | None:
        """Switch publishing of the current image model on (keeping its key) or off; returns the key.
        Only image projects publish, and a current model must have a TensorFlow.js form (a head)."""
        key = self.published
        if not on:
            self._meta.set("published", "")
            return None
        if "tfjs" not in self.rules.exports:
            raise ConflictError(f"Only image models can be published; this is a {self.kind} project.")
        current = self.current_model_id()
        if current is not None:
            from .export.tfjs import check_exportable

            check_exportable(self.model(current))
        if key is None:
            key = secrets.token_urlsafe(18)
            self._meta.set("published", key)
        return key

    def review_state(self) -> str:
        """A digest of everything a review reads: every sample's class and set, which have an
        embedding, and the reviewer's marks. Equal digests, equal reviews, whoever changed the file."""
        digest = hashlib.sha256()
        with self._db.read() as conn:
            for row in conn.execute("SELECT s.id, s.class_id, s.held_out, e.sample_id IS NOT NULL FROM samples s "
                                    "LEFT JOIN embeddings e ON e.sample_id = s.id AND e.backbone = ? ORDER BY s.id",
                                    (self.backbone_id,)):
                digest.update(repr(row).encode())
        digest.update(repr(sorted(self.review_marks.fine())).encode())
        return digest.hexdigest()

    def integrity_check(self) -> str:
        return self._db.integrity_check()

    def save_copy(self, target: str | Path) -> Path:
        """A complete, consistent copy of the project file (for download or duplicate). The copy
        is never published: the key of a published URL belongs to this file alone, and it is
        wiped from the copy's pages too."""
        target = Path(target)
        if target.exists():
            raise ConflictError(f"'{target}' already exists.")
        self._db.backup_to(target, forget_meta=("published",))
        return target

    # -- classes ------------------------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        return self._classes.all()

    def class_info(self, ref: int | str) -> ClassInfo:
        """A class by id or by name."""
        return self._classes.get(ref)

    def add_class(self, name: str) -> ClassInfo:
        return self._classes.add(check_name(name))

    def rename_class(self, ref: int | str, new_name: str) -> ClassInfo:
        info = self._unlocked(self.class_info(ref), "renamed")
        return self._classes.rename(info.id, check_name(new_name))

    def remove_class(self, ref: int | str) -> None:
        """Delete a class with all its samples (and their cached embeddings)."""
        self._classes.remove(self._unlocked(self.class_info(ref), "deleted").id)

    def _unlocked(self, info: ClassInfo, change: str) -> ClassInfo:
        """The kind's special class (a sound project's "Background Noise") stays as it is."""
        if info.name == self.rules.special_class:
            raise ConflictError(f"Every {self.kind} project has the class “{info.name}”: it cannot be {change} "
                                "(record the room's quiet in it).")
        return info

    def clear_class(self, ref: int | str) -> int:
        """Delete every sample of a class, keeping the class; returns how many went."""
        return self._classes.clear(self.class_info(ref).id)

    def reorder_classes(self, ids: list[int]) -> None:
        self._classes.reorder(ids)

    # -- samples ------------------------------------------------------------------------------
    def add_samples(
        self,
        class_ref: int | str,
        items: Iterable[SampleInput],
        source: str = "upload",
        embed: bool = True,
        on_error: ErrorCallback | None = None,
        names: list[str] | None = None,
        test: bool = False,
    ) -> list[int]:
        """Store samples in a class; returns their ids (a duplicate gives the existing id).

        Every item is checked (a complete, decodable image within the limits) before anything
        is written, and all are stored in one transaction: without ``on_error`` one bad item
        stores nothing and raises; with it, bad items are reported and the rest stored.
        ``embed=True`` computes their embeddings right away; the server passes False and
        lets a background worker do it. ``names`` label bytes items in error messages. ``test``:
        into the class's test set, never trained on (measured by :meth:`test_report`).
        """
        ids, _ = self.store_samples(class_ref, list(items), source, embed, on_error, names, test)
        return ids

    def store_samples(self, class_ref, items, source, embed, on_error, names, test: bool = False) -> tuple[list[int], int]:
        """add_samples' work; also returns how many samples were new (not duplicates)."""
        if source not in SOURCES:
            raise TeachableError(f"Unknown sample source '{source}'.")
        info = self.class_info(class_ref)
        checked = check_items(self.rules, items, names, on_error)
        ids, inserted = self._samples.insert(info.id, checked, source, self.backbone_id, test)
        if embed and ids:
            self.ensure_embeddings(sample_ids=ids)
        return ids, inserted

    def samples(self, class_ref: int | str | None = None) -> list[SampleInfo]:
        return self._samples.all(None if class_ref is None else self.class_info(class_ref).id)

    def sample(self, sample_id: int) -> SampleInfo:
        return self._samples.get(sample_id)

    def sample_bytes(self, sample_id: int) -> bytes:
        return self._samples.data(sample_id)

    def remove_sample(self, sample_id: int) -> None:
        self._samples.remove(sample_id)

    def move_sample(self, sample_id: int, class_ref: int | str) -> None:
        target = self.class_info(class_ref)
        self._samples.move(sample_id, target.id, target.name)

    # -- embeddings ---------------------------------------------------------------------------
    def missing_embeddings(self, backbone_id: str | None = None) -> list[int]:
        backbone_id = backbone_id or self.backbone_id
        return self._embeddings.missing(backbone_id, self._vector_bytes(backbone_id))

    def _vector_bytes(self, vector_id: str) -> int | None:
        """The size every cached vector of this id has: one of another size (a damaged or hand-made
        file) reads as missing and is computed again, instead of failing deep in NumPy."""
        from .explain.fingerprint import DIM, FINGERPRINT_ID

        if vector_id == self.backbone_id:
            return self.rules.dim * 4
        return DIM * 4 if vector_id == FINGERPRINT_ID else None

    def ensure_embeddings(
        self,
        sample_ids: list[int] | None = None,
        batch_size: int = 32,
        on_progress: ProgressCallback | None = None,
        device: str = "auto",
    ) -> int:
        """Compute and store the embeddings that are missing; returns how many were computed.

        Each batch is committed as soon as it is done, so an interrupted run keeps its work.
        A second call while one runs waits for it, then embeds only what is still missing.
        """
        with self._embedding_turn:
            return self._embed_missing(sample_ids, batch_size, on_progress, device)

    def _embed_missing(self, sample_ids: list[int] | None, batch_size: int, on_progress: ProgressCallback | None,
                       device: str) -> int:
        self._retire_legacy_backbone()
        backbone_id = self.backbone_id
        missing = self.missing_embeddings(backbone_id)
        if sample_ids is not None:
            wanted = set(sample_ids)
            missing = [i for i in missing if i in wanted]
        if not missing:
            return 0
        rules = self.rules
        rules.check_backbone(backbone_id)
        backbone = rules.backbone(device)
        batch_size = embedding_batch(backbone, batch_size)
        done = 0
        for start in range(0, len(missing), batch_size):
            batch_ids = missing[start : start + batch_size]
            present = self._samples.data_of(batch_ids)  # a sample may be deleted meanwhile
            if present:
                vectors, kept = backbone.embed_many([data for _, data in present], batch_size, on_error=lambda *_: None)
                self._embeddings.put(backbone_id, [(present[position][0], vector) for position, vector in zip(kept, vectors)])
                done += len(kept)
            if on_progress:
                on_progress(len(batch_ids))
        return done

    def embeddings(self, backbone_id: str | None = None, test: bool = False) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(vectors, class ids, sample ids) of every training sample (``test``: of the test sets)
        with a cached embedding, by sample id."""
        backbone_id = backbone_id or self.backbone_id
        return self._embeddings.all(backbone_id, test, self._vector_bytes(backbone_id))

    def embeddings_of(self, sample_ids: list[int]) -> np.ndarray:
        """The cached embeddings of these samples (training or test), those that have one."""
        return self._embeddings.of(self.backbone_id, sample_ids, self._vector_bytes(self.backbone_id))

    def cache_vectors(self, vector_id: str, vectors: list[tuple[int, np.ndarray]]) -> None:
        """Cache vectors of another kind than the backbone's (a photo's pixel fingerprint, say)
        beside the embeddings: :meth:`embeddings` and :meth:`missing_embeddings` read them by id."""
        self._embeddings.put(vector_id, vectors)

    # -- training and models ------------------------------------------------------------------
    def train(self, on_epoch=None, on_embed_progress: ProgressCallback | None = None, device: str = "auto",
              **settings) -> Model:
        """Train on every sample (computing only missing embeddings), store the model as current."""
        settings = {**self.settings, **check_settings(settings)}
        self.rules.check_counts(self.classes())
        self._meta.claim_training()  # one run at a time, in any process
        try:
            return self._train(settings, on_epoch, on_embed_progress, device)
        finally:
            self._meta.release_training()

    def _train(self, settings: dict, on_epoch, on_embed_progress, device: str) -> Model:
        from .training import fit

        self.ensure_embeddings(on_progress=on_embed_progress, device=device)
        classes = self.classes()
        vectors, class_ids, sample_ids = self.embeddings()
        trained_on = self.trained_on()
        position = {info.id: i for i, info in enumerate(classes)}
        y = np.array([position[c] for c in class_ids], np.int64)
        model = fit(vectors, y, [c.name for c in classes], self.backbone_id, self.kind,
                    on_epoch=on_epoch, device=device, sources=[sample_source(i) for i in sample_ids], **settings)
        unreadable = len(self.missing_embeddings())
        if unreadable:
            model.notes.append(f"{counted(unreadable, 'sample')} could not be embedded and {'was' if unreadable == 1 else 'were'} "
                               "left out.")
        self.store_model(model, settings, trained_on)
        return model

    def check_not_training(self) -> None:
        """Raise ConflictError while a training run of this project is going on (in any process)."""
        self._meta.check_not_training()

    def interrupted_training(self) -> str | None:
        """If a training run died with its process (a crash, a kill), say so once and forget it."""
        return self._meta.interrupted_training()

    def store_model(self, model: Model, settings: dict, trained_on: dict | None = None) -> int:
        return self._models.add(model.to_bytes(), model.classifier.kind, settings,
                                model.report.to_dict() if model.report else None, model.created, trained_on)

    def trained_on(self) -> dict:
        """What a model trained now would learn from: the class names in order, and a digest
        of which sample is in which class (stored with each model, to tell when it is stale)."""
        names = {c.id: c.name for c in self.classes()}
        membership = ";".join(f"{class_id}:{sample_id}" for class_id, sample_id in self._samples.membership())
        return {"classes": list(names.values()), "samples": hashlib.sha256(membership.encode()).hexdigest()}

    def models(self) -> list[ModelInfo]:
        return self._models.all()

    def current_model_id(self) -> int | None:
        """The id of the current model (one small query: the live preview asks on every frame)."""
        return self._models.current_id()

    def model_bytes(self, model_id: int | None = None) -> bytes:
        """The `.teachable` bytes of a model (the current one by default)."""
        return self._models.data(model_id)

    def model(self, model_id: int | None = None, device: str = "auto") -> Model:
        return Model.from_bytes(self.model_bytes(model_id), device)

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
        return [(f"{names[s.class_id]}/{s.id:06d}{EXTENSIONS.get(s.media_type, '.bin')}", s.id)
                for s in self.samples() if not s.test]  # test sets stay in the project

    def import_dataset(
        self,
        source: str | Path,
        on_progress: ProgressCallback | None = None,
        embed: bool = True,
        batch_size: int = 32,
    ) -> ImportResult:
        """Add class folders (a directory or a zip) to the project; creates missing classes.

        Samples are committed in batches as they are read, so an interrupted import keeps
        what it stored; files that are not usable samples are listed in ``skipped``. (The
        work: :func:`teachable.intake.import_dataset`.)"""
        return import_dataset(self, Path(source), on_progress, embed, batch_size)

"""Teachable Machine project files (``.tm``, "Save project to file"), opened as Teachable projects.

A ``.tm`` is a zip of ``manifest.json`` (``type`` image or pose, ``version``, the training settings in
``appdata``) and one JPEG per sample named ``<class name>-!-<index>.jpg``; classes come in the order
they first appear. Pose projects keep camera frames, so their keypoints are computed on import;
frames with nobody in them are kept as "nobody in view" samples of their class (a "background" class
is usually all of them) and counted in the report.

Everything is checked before anything is kept: the zip is read within limits (entries, sizes, no
paths), the project is built in a hidden file in the workspace and only moved into place when it is
complete, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..budget import MAX_HELD_FILE_BYTES
from ..embed.preprocess import MAX_FILE_BYTES, pixel_count
from ..errors import InvalidImageError, NothingDetectedError, ProjectFileError, TeachableError, json_problem
from ..names import check_name
from ..settings import check_settings
from ..store.database import remove_files

MAX_ENTRIES = 5000
# What one import may cost, whatever its zip says: pixels decoded (a 35 kB .tm of 64-megapixel PNGs
# took 48 s of CPU; Teachable Machine's own samples are 224 x 224, 50 kilopixels) and seconds.
MAX_IMPORT_PIXELS = 600_000_000
MAX_IMPORT_SECONDS = 600.0
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
KNOWN_MAJOR = "2"
TYPES = {"image": "image", "pose": "pose"}
SAMPLE = re.compile(r"^(?P<cls>.+)-!-(?P<index>\d{1,9})\.(?:jpe?g|png)$", re.IGNORECASE | re.DOTALL)
SETTINGS = {"trainEpochs": "epochs", "trainBatchSize": "batch_size", "trainLearningRate": "learning_rate"}


class TeachableMachineProjectError(ProjectFileError):
    """A ``.tm`` file that cannot be opened: not a zip, no manifest, an unknown type or version."""


@dataclass
class TmProject:
    """What a ``.tm`` holds: its kind, settings and, per class in order, the sample entries."""

    kind: str
    version: str
    settings: dict
    classes: dict[str, list[zipfile.ZipInfo]]

    @property
    def sample_count(self) -> int:
        return sum(len(v) for v in self.classes.values())


@dataclass
class TmImportReport:
    """What came over: samples added, and what did not with why."""

    project_id: str = ""
    added: int = 0
    duplicates: int = 0
    nobody: int = 0  # pose frames with nobody in view (kept, as "nobody in view" samples)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"added {self.added} sample{'' if self.added == 1 else 's'}"]
        if self.duplicates:
            out.append(f"{self.duplicates} {'was an exact copy' if self.duplicates == 1 else 'were exact copies'} of another "
                       "sample in the same class and kept once (Teachable stores each picture once per class)")
        if self.nobody:
            out.append(f"{self.nobody} frame{'' if self.nobody == 1 else 's'} had nobody in view: kept as \"nobody in view\" "
                       "samples of their class")
        out += [f"skipped {name}: {why}" for name, why in self.skipped]
        return out


def _fail(message: str) -> TeachableMachineProjectError:
    return TeachableMachineProjectError(message)


class ImportCancelled(TeachableError):
    """The import was stopped: the client went away, or the server is shutting down."""


@dataclass
class ImportBudget:
    """Limits one import by the pixels it decodes and the time it takes, and lets another thread
    stop it (``stop``: set when the client leaves or the server shuts down)."""

    pixels: int = MAX_IMPORT_PIXELS
    seconds: float = MAX_IMPORT_SECONDS
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    used: int = 0

    def check(self) -> None:
        if self.stop.is_set():
            raise ImportCancelled("The import was stopped before it finished; nothing was kept.")
        if time.monotonic() - self.started > self.seconds:
            raise _fail(f"The import took longer than {self.seconds:.0f} s and was stopped; nothing was kept.")

    def spend(self, pictures: list[bytes]) -> None:
        """Count the pictures' pixels (read from their headers, before any is decoded)."""
        self.check()
        for data in pictures:
            self.used += pixel_count(data)
        if self.used > self.pixels:
            raise _fail(f"The project's pictures hold more than {self.pixels // 1_000_000:,} megapixels; Teachable "
                        "Machine's own samples are 224 x 224 pixels. Nothing was kept.")


def _manifest(archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> tuple[str, str, dict]:
    info = infos.get("manifest.json")
    if info is None:
        raise _fail("This is not a Teachable Machine project: it has no manifest.json.")
    if info.file_size > MAX_MANIFEST_BYTES:
        raise _fail("The project's manifest.json is too large.")
    try:
        manifest = json.loads(archive.read(info).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        # ValueError: json's own errors, and a number of more than 4,300 digits
        raise _fail(f"The project's manifest.json is not readable JSON: {json_problem(exc)}.") from None
    if not isinstance(manifest, dict):
        raise _fail("The project's manifest.json is not a JSON object.")
    kind = manifest.get("type")
    if kind == "audio":
        raise _fail("This is a Teachable Machine audio project; Teachable opens image and pose projects. "
                    "Create a sound project and record or upload its clips instead.")
    if kind not in TYPES:
        raise _fail(f"This Teachable Machine project has the type {kind!r}; Teachable opens image and pose projects.")
    version = manifest.get("version")
    if not isinstance(version, str) or version.split(".")[0] != KNOWN_MAJOR:
        raise _fail(f"This Teachable Machine project has the version {version!r}, which Teachable does not know "
                    f"(it reads version {KNOWN_MAJOR}.x).")
    appdata = manifest.get("appdata") if isinstance(manifest.get("appdata"), dict) else {}
    settings = {ours: appdata[theirs] for theirs, ours in SETTINGS.items()
                if isinstance(appdata.get(theirs), int | float) and not isinstance(appdata.get(theirs), bool)}
    return TYPES[kind], version, settings


def read_tm(archive: zipfile.ZipFile) -> TmProject:
    """Check a ``.tm`` zip's entries and manifest; nothing is decompressed but the manifest."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _fail(f"The project has {len(infos)} entries; Teachable opens at most {MAX_ENTRIES}.")
    if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        raise _fail("The project unpacks to more than 1 GB.")
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
            raise _fail(f"The project holds an entry with a path ({name[:80]!r}); Teachable Machine writes plain file names only.")
        if name in by_name:
            raise _fail(f"The project holds the entry {name[:80]!r} twice.")
        by_name[name] = info
    kind, version, settings = _manifest(archive, by_name)
    classes: dict[str, list[tuple[int, zipfile.ZipInfo]]] = {}
    for info in infos:
        if info.filename == "manifest.json":
            continue
        match = SAMPLE.match(info.filename)
        if match is None:
            raise _fail(f"The project holds an entry Teachable Machine does not write: {info.filename[:80]!r}.")
        if info.file_size > MAX_FILE_BYTES:
            raise _fail(f"The sample {info.filename[:80]!r} is larger than a sample may be.")
        classes.setdefault(match["cls"], []).append((int(match["index"]), info))
    ordered = {name: [info for _, info in sorted(entries, key=lambda e: e[0])] for name, entries in classes.items()}
    return TmProject(kind, version, settings, ordered)


def _open_zip(source: Path, shown: str | None = None) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _fail(f"'{shown or source.name}' is not a Teachable Machine project file (not a readable zip: {exc}).") from None


def _project_settings(project, settings: dict) -> None:
    """Teachable Machine trains a softmax head: so does the project, with the manifest's settings
    (a value outside our ranges keeps our default rather than refusing the project)."""
    usable = {}
    for name, value in settings.items():
        try:
            usable.update(check_settings({name: value}))
        except TeachableError:
            continue
    project.update_settings(classifier="head", **usable)


def _held_chunks(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], budget: ImportBudget):
    """The entries' bytes in chunks of at most 32 samples and MAX_HELD_FILE_BYTES, read one entry
    at a time: a project of large entries never has more than one chunk unpacked at once."""
    chunk: list[tuple[zipfile.ZipInfo, bytes]] = []
    held = 0
    for entry in entries:
        budget.check()  # unpacking is work too (a gigabyte of zeros in a 1 MB file)
        try:
            data = archive.read(entry)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise _fail(f"The sample {entry.filename[:80]!r} is damaged in the project file: {exc}.") from None
        chunk.append((entry, data))
        held += len(data)
        if len(chunk) >= 32 or held >= MAX_HELD_FILE_BYTES:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _store_chunk(project, class_id: int, chunk: list[tuple[zipfile.ZipInfo, bytes]], report: TmImportReport) -> None:
    def skipped(index: int, exc: InvalidImageError) -> None:
        if isinstance(exc, NothingDetectedError):
            report.nobody += 1
        else:
            report.skipped.append((chunk[index][0].filename, str(exc)))

    ids, new = project.store_samples(class_id, [data for _, data in chunk], "import", False, skipped,
                                     [entry.filename for entry, _ in chunk])
    report.added += new
    report.duplicates += len(ids) - new


def count_nobody(project) -> int:
    """How many of a pose or hand project's samples are frames with nobody in view."""
    if not project.rules.keypoints:
        return 0
    from ..embed.keypoints import is_nobody

    return int(is_nobody(project.embeddings()[0]).sum())


def tm_sample_count(source: Path) -> int:
    """How many samples a ``.tm`` holds (for a progress bar); the checks of :func:`read_tm` apply."""
    with _open_zip(Path(source)) as archive:
        return read_tm(archive).sample_count


def import_tm(workspace, source: Path, name: str | None = None,
              on_progress: Callable[[int], None] | None = None, budget: ImportBudget | None = None,
              shown_as: str | None = None) -> TmImportReport:
    """Open a ``.tm`` as a new project in ``workspace``; returns what came over. ``name`` defaults
    to the file's name; a name already taken becomes "Name (2)". ``budget`` bounds the work (and
    can stop it); ``shown_as``: the file's name in messages (an upload's, not its temporary file's)."""
    from ..project import Project

    source = Path(source)
    shown = shown_as or source.name
    project_name = check_name(name or source.stem, "project")
    report = TmImportReport()
    budget = budget or ImportBudget()
    with _open_zip(source, shown) as archive:
        tm = read_tm(archive)
        if not tm.sample_count:
            raise _fail(f"'{shown}' is an empty Teachable Machine project (no classes with samples): nothing to open.")
        for class_name in tm.classes:
            check_name(class_name)
        staging = workspace.staging_path()
        try:
            with Project.create(staging, kind=tm.kind, name=project_name) as project:
                _project_settings(project, tm.settings)
                for class_name, entries in tm.classes.items():
                    info = project.add_class(class_name) if class_name != project.rules.special_class else project.class_info(class_name)
                    for chunk in _held_chunks(archive, entries, budget):
                        budget.spend([data for _, data in chunk])
                        _store_chunk(project, info.id, chunk, report)
                        if on_progress:
                            on_progress(len(chunk))
                if not report.added:
                    raise _fail(f"None of the {tm.sample_count} samples in '{shown}' could be read"
                                + (f" ({report.nobody} had nobody in them)" if report.nobody else "")
                                + ": nothing to open.")
                project.ensure_embeddings(on_progress=lambda n: budget.check())
                report.nobody = count_nobody(project)
            report.project_id = workspace.adopt(staging)
        finally:
            remove_files(staging)  # gone once adopted; after a failure, all of it
    return report

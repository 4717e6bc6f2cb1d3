"""What happens to a file before it becomes a sample: read within bounds, checked by its
project's kind (decoded in full; landmarks found for pose and hand projects), and, for whole
datasets, found in class folders of a directory or a zip.

The project stores what comes out of here; the CLI counts and lists with the same functions.
"""

from __future__ import annotations

import os
import threading
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Union

from .budget import MAX_HELD_FILE_BYTES
from .embed.preprocess import MAX_FILE_BYTES
from .embed.reading import read_source
from .errors import DatasetError, InvalidImageError, NotFoundError, TeachableError
from .kinds import CheckedSample, Kind

SampleInput = Union[str, Path, bytes, bytearray, memoryview]
SOURCES = ("webcam", "upload", "import", "microphone")
# Imports read at most this much from a zip, in total, whatever its entries claim.
MAX_IMPORT_ZIP_BYTES = 8 * 1024 * 1024 * 1024
LAYOUT = ("Put each class's files in a folder named after the class (photos/cat/1.jpg, photos/dog/2.jpg) "
          "and import the folder that holds them, or a zip of it.")
ErrorCallback = Callable[[int, Exception], None]


@dataclass
class ImportResult:
    added: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Pose and hand projects: of the pictures imported, how many have nobody (no hand) in view, kept as
    # "nobody in view" samples, as the webcam and a Teachable Machine .tm import keep them.
    nobody: int = 0


def read_item(item: SampleInput) -> bytes:
    """The bytes of a sample given as a path or as bytes; a file larger than a sample may be is
    refused before it is read."""
    return read_source(item, MAX_FILE_BYTES)


def check_items(kind: Kind, items: list[SampleInput], names: list[str] | None = None,
                on_error: ErrorCallback | None = None) -> list[CheckedSample]:
    """Check every item before anything is stored. Without ``on_error`` one bad item raises;
    with it, bad items are reported (by position) and the rest returned. ``names`` label
    bytes items in messages."""

    def check(index: int) -> list[CheckedSample] | InvalidImageError:
        item = items[index]
        if names is not None and index < len(names):
            label = names[index]
        else:
            label = str(item) if isinstance(item, (str, Path)) else f"item {index + 1}"
        try:
            return kind.check_sample(read_item(item), f"'{label}'")
        except InvalidImageError as exc:
            return type(exc)(str(exc))  # a fresh exception: the raised one's traceback holds the bytes alive
        except OSError as exc:
            return InvalidImageError(f"'{label}' could not be read: {exc}.")

    # Photos are checked (fully decoded) on every core at once; the keypoint and sound models
    # are not shared between threads.
    if kind.parallel_checks and len(items) > 1:
        outcomes = list(_checking_pool().map(check, range(len(items))))
    else:
        outcomes = [check(index) for index in range(len(items))]
    accepted: list[CheckedSample] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, InvalidImageError):
            if on_error is None:
                raise outcome from None
            on_error(index, outcome)
            continue
        accepted += outcome
    return accepted


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _checking_pool() -> ThreadPoolExecutor:
    """Threads that decode photos to check them (Pillow decodes outside the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, 8)), thread_name_prefix="teachable-check")
        return _pool


def embedding_batch(backbone, requested: int) -> int:
    """Samples to embed at once: what the caller asked, or more where the backbone wants more
    (a GPU wants ~1,000 photos at once to keep its decoding processes busy)."""
    return max(requested, getattr(backbone, "bulk_batch_size", requested))


def _files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (not hidden), without following links to other folders."""
    found = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / name for name in files if not name.startswith(".")]
    return sorted(p for p in found if p.is_file())


def dataset_files(source: Path, result: ImportResult, kind: Kind) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(class name, file label, reader) for each of the kind's files in the class folders of a
    directory or zip; everything else is listed in ``result.skipped`` with the reason."""
    source = Path(source)
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
                if not kind.accepts(path.name):
                    result.skipped.append((str(path), "not a file of this project's kind"))
                    continue
                yield folder.name, str(path), lambda path=path: read_item(path)
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
            if not kind.accepts(parts[-1]):
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


def import_dataset(project, source: Path, on_progress: Callable[[int], None] | None = None, embed: bool = True,
                   batch_size: int = 32) -> ImportResult:
    """What happens on import: the kind's files found in class folders (a directory or a zip),
    each read within bounds, checked and stored in batches into ``project`` (a
    :class:`teachable.Project`), missing classes created, embeddings computed as it goes."""
    from .names import check_name

    rules = project.rules
    result = ImportResult()
    batch: dict[str, list[tuple[str, bytes]]] = {}
    pending = pending_bytes = 0
    unembedded: list[int] = []
    imported: list[int] = []
    embed_every = embedding_batch(rules.backbone(), batch_size) if embed else 0

    def flush(final: bool = False) -> None:
        nonlocal pending, pending_bytes
        for class_name, items in batch.items():
            try:
                info = project.class_info(class_name)
            except NotFoundError:
                info = project.add_class(class_name)
            ids, new = project.store_samples(
                info.id, [data for _, data in items], "import", False,
                lambda index, exc, items=items: result.skipped.append((items[index][0], str(exc))),
                [label for label, _ in items],
            )
            result.added += new
            result.duplicates += len(ids) - new
            unembedded.extend(ids)
            imported.extend(ids)
        if embed and unembedded and (len(unembedded) >= embed_every or final):
            project.ensure_embeddings(sample_ids=unembedded)
            unembedded.clear()
        if on_progress:
            on_progress(pending)
        batch.clear()
        pending = pending_bytes = 0

    found = 0
    for class_name, label, read in dataset_files(source, result, rules):
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
        if pending >= batch_size or pending_bytes >= MAX_HELD_FILE_BYTES:  # big files: fewer at once
            flush()
    flush(final=True)
    if rules.keypoints and imported:
        from .embed.keypoints import is_nobody

        result.nobody = int(is_nobody(project.embeddings_of(sorted(set(imported)))).sum())
    if not found:
        raise DatasetError(f"'{source.name}' has no {rules.name} files inside class folders "
                           f"({len(result.skipped)} other entries skipped). {LAYOUT}")
    return result

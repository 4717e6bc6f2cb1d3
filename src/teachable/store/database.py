"""The project file: one SQLite database holding a whole project.

SQLite as an application file format: one file to save, copy, e-mail and open again. WAL
journaling and short transactions make every acknowledged write durable across crashes;
``PRAGMA application_id`` marks the file as ours and ``PRAGMA user_version`` carries the
schema version, so foreign files and files from a newer Teachable are refused cleanly.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from ..errors import ProjectFileError, StorageFullError, TeachableError

T = TypeVar("T")
APPLICATION_ID = 0x54434842  # "TCHB"
SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 60_000
TABLES = frozenset({"meta", "classes", "samples", "embeddings", "models"})
# A file of this size kept beside the projects and given up when the disk is full, so that
# deleting samples (which must write to the log first) still works and space can be freed.
RESERVE_NAME = ".teachable-reserve"
RESERVE_BYTES = 2 * 1024 * 1024


# Each entry upgrades the schema from version (index) to (index + 1).
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE classes (
        id       INTEGER PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        position INTEGER NOT NULL,
        created  TEXT NOT NULL
    );
    CREATE TABLE samples (
        id         INTEGER PRIMARY KEY,
        class_id   INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        data       BLOB NOT NULL,
        media_type TEXT NOT NULL,
        source     TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        width      INTEGER,
        height     INTEGER,
        created    TEXT NOT NULL,
        UNIQUE (class_id, sha256)
    );
    CREATE INDEX samples_by_class ON samples(class_id, id);
    CREATE TABLE embeddings (
        sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        backbone  TEXT NOT NULL,
        vector    BLOB NOT NULL,
        PRIMARY KEY (sample_id, backbone)
    ) WITHOUT ROWID;
    CREATE TABLE models (
        id         INTEGER PRIMARY KEY,
        created    TEXT NOT NULL,
        classifier TEXT NOT NULL,
        settings   TEXT NOT NULL,
        metrics    TEXT,
        data       BLOB NOT NULL,
        is_current INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: sound samples record their duration.
    """
    ALTER TABLE samples ADD COLUMN duration_ms INTEGER;
    """,
    # 3: what each model was trained on (class names, a digest of the samples), so a model that
    # no longer matches the project is told apart from a current one.
    """
    ALTER TABLE models ADD COLUMN trained_on TEXT;
    """,
    # 4: test samples (a class's own test set): never trained on, used to measure the model on
    # new conditions.
    """
    ALTER TABLE samples ADD COLUMN held_out INTEGER NOT NULL DEFAULT 0;
    """,
]


class Database:
    """A connection to one project file, safe to share between threads of one process.

    Writes go through :meth:`write`, an immediate transaction: two processes writing the same
    file take turns (waiting up to a minute) instead of failing or losing rows.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._conn = connection
        self._lock = threading.RLock()

    @classmethod
    def create(cls, path: Path) -> "Database":
        path = Path(path)
        if path.exists():
            raise TeachableError(f"'{path.name}' already exists.")
        path.parent.mkdir(parents=True, exist_ok=True)
        db = cls(path, _connect(path))
        with db.write() as conn:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db._migrate(0)
        return db

    @classmethod
    def open(cls, path: Path) -> "Database":
        """Open an existing project file, through SQLite alone.

        The file is never read with a plain ``open()``: closing any other descriptor on a database
        drops every POSIX lock SQLite holds on it in this process (sqlite.org/howtocorrupt.html
        §2.2), and another process's connection would then delete the write-ahead log under ours.
        SQLite reads the header itself: ``mode=rw`` never creates a file, and no pragma that writes
        (WAL mode) runs before the file has shown it is ours."""
        path = Path(path)
        if not path.is_file():
            raise ProjectFileError(f"'{path.name}' does not exist or is not a file.")
        conn = None
        try:
            conn = _connection(_uri(path, "rw"), uri=True)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if conn is not None:
                conn.close()
            if "not a database" in str(exc):
                raise ProjectFileError(f"'{path.name}' is not a Teachable project file.") from None
            raise ProjectFileError(f"'{path.name}' is damaged and cannot be opened: {exc}.") from None
        if app_id != APPLICATION_ID:
            conn.close()
            if version == 0 and not _has_tables(path):
                raise ProjectFileError(f"'{path.name}' is not a Teachable project file.")
            raise ProjectFileError(f"'{path.name}' is an SQLite database, but not a Teachable project.")
        if version > SCHEMA_VERSION:
            conn.close()
            raise ProjectFileError(
                f"'{path.name}' was saved by a newer Teachable (project format {version}; this one reads up to "
                f"{SCHEMA_VERSION}). Upgrade Teachable to open it."
            )
        try:
            _configure(conn)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            conn.close()
            raise ProjectFileError(f"'{path.name}' is damaged and cannot be opened: {exc}.") from None
        db = cls(path, conn)
        try:
            db._migrate(version)
            db._check_tables()
            db._check_schema()
        except BaseException:
            db.close()
            raise
        return db

    def _check_tables(self) -> None:
        """A file whose schema lost a table is damaged; say so now rather than on first use."""
        with self.read() as conn:
            present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted(TABLES - present)
        if missing:
            raise ProjectFileError(f"'{self.path.name}' is damaged: its {', '.join(missing)} table(s) are missing.")

    def _check_schema(self) -> None:
        """Only the objects Teachable itself creates: a file from elsewhere could carry triggers
        or views that run or fake things whenever the app reads or writes it."""
        with self.read() as conn:
            found = {(kind, name, " ".join((sql or "").split())) for kind, name, sql in
                     conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex_%'")}
        unexpected = sorted(found - expected_schema())
        if unexpected:
            kind, name, _ = unexpected[0]
            raise ProjectFileError(f"'{self.path.name}' is not a Teachable project as Teachable writes them: it holds "
                                   f"an unexpected {kind} '{name[:100]}'.")

    def _migrate(self, current: int) -> None:
        for version in range(current, SCHEMA_VERSION):
            with self.write() as conn:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable transaction: everything in it is stored, or nothing."""
        with self._lock, self._translated():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translated():
            yield self._conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's low-level failures as errors a person can act on."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise StorageFullError(
                    f"The disk is full: '{self.path.name}' could not be saved. Nothing of this change was "
                    "kept; free some space and try again."
                ) from None
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                raise
            # Missing tables or columns, undecodable text: the file's content is damaged.
            raise ProjectFileError(f"'{self.path.name}' is damaged: {exc}.") from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise ProjectFileError(f"'{self.path.name}' is damaged: {exc}.") from None

    def deleting(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write that only removes things; on a full disk, give up the reserve beside
        the file (if there is one) and try once more, so a user can always delete."""
        try:
            with self.write() as conn:
                return change(conn)
        except StorageFullError:
            if not release_reserve(self.path.parent):
                raise
        with self.write() as conn:
            return change(conn)

    def integrity_check(self) -> str:
        with self.read() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file, so the file alone holds everything."""
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def backup_to(self, target: Path, forget_meta: tuple[str, ...] = ()) -> None:
        """A consistent copy of the whole project, even while others write to it; the ``meta``
        values named in ``forget_meta`` are emptied in the copy, overwritten on disk (secure
        delete), so no trace of them travels with it."""
        destination = sqlite3.connect(str(target))
        try:
            with self._lock:
                self._conn.backup(destination)
            destination.execute("PRAGMA journal_mode=DELETE")
            if forget_meta:
                destination.execute("PRAGMA secure_delete = ON")
                with destination:
                    destination.executemany("UPDATE meta SET value = '' WHERE key = ?", [(k,) for k in forget_meta])
        finally:
            destination.close()

    def close(self) -> None:
        with self._lock:
            try:
                self.checkpoint()
            except sqlite3.Error:
                pass
            self._conn.close()


SIDE_FILES = ("-wal", "-shm", "-journal")  # what SQLite may leave beside a database


def remove_files(path: Path, missing_ok: bool = True) -> None:
    """Delete a database file and the side files SQLite keeps beside it."""
    for suffix in SIDE_FILES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Path(path).unlink(missing_ok=missing_ok)


def ensure_reserve(folder: Path) -> None:
    """Put the reserve file in ``folder`` if it is missing and there is room for it."""
    reserve = Path(folder) / RESERVE_NAME
    if reserve.exists():
        return
    try:
        with open(reserve, "wb") as handle:
            handle.write(bytes(RESERVE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        reserve.unlink(missing_ok=True)


def release_reserve(folder: Path) -> bool:
    reserve = Path(folder) / RESERVE_NAME
    try:
        reserve.unlink()
        return True
    except OSError:
        return False


_schema: frozenset | None = None


def expected_schema() -> frozenset:
    """(type, name, SQL) of every object the migrations create, whitespace folded."""
    global _schema
    if _schema is None:
        conn = sqlite3.connect(":memory:")
        for migration in MIGRATIONS:
            conn.executescript(migration)
        _schema = frozenset((kind, name, " ".join((sql or "").split())) for kind, name, sql in
                            conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex_%'"))
        conn.close()
    return _schema


def _connection(target: str, uri: bool = False) -> sqlite3.Connection:
    """A connection as every one of Teachable's is made (waiting up to a minute for a busy file),
    configured by nothing yet."""
    return sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)


def _uri(path: Path, mode: str) -> str:
    """An SQLite URI for ``path`` opened in ``mode`` (``rw`` never creates the file; ``ro`` never writes)."""
    return f"{Path(path).absolute().as_uri()}?mode={mode}"


def _connect(path: Path) -> sqlite3.Connection:
    conn = _connection(str(path))
    _configure(conn)
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def _has_tables(path: Path) -> bool:
    """Whether an SQLite-readable file holds anything (an empty file reads as an empty database)."""
    conn = sqlite3.connect(_uri(path, "ro"), uri=True)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        return False
    finally:
        conn.close()


def is_sqlite_file(path: Path) -> bool:
    """Whether SQLite reads ``path`` as a database with content, asked of SQLite itself (never a plain
    ``open()`` of a file that may be a live project: see :meth:`Database.open`)."""
    return Path(path).is_file() and _has_tables(Path(path))

"""The project's own facts (kind, name, backbone, settings) and its training marker."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone

from ..errors import ConflictError, ProjectFileError
from .database import Database

TRAINING = "training"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MetaStore:
    """Key-value facts of one project file."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str:
        with self._db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise ProjectFileError(f"'{self._db.path.name}' is missing its '{key}' setting; the file is damaged.")
        return row[0]

    def set(self, key: str, value: str) -> None:
        with self._db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def create(self, values: dict[str, str]) -> None:
        with self._db.write() as conn:
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", values.items())

    # -- the training marker: one run at a time, across processes -------------------------------
    def claim_training(self) -> None:
        """Mark the project as training by this process; ConflictError if a live one already is."""
        with self._db.write() as conn:  # checked and claimed in one transaction
            self._check_not_training(conn)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                         (TRAINING, json.dumps({"pid": os.getpid(), "started": now()})))

    def release_training(self) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (TRAINING,))

    def check_not_training(self) -> None:
        with self._db.read() as conn:
            self._check_not_training(conn)

    def _check_not_training(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (TRAINING,)).fetchone()
        if row is None:
            return
        try:
            pid = int(json.loads(row[0]).get("pid", 0))
        except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
            return  # an unreadable marker: interrupted_training() reports and clears it
        if pid and process_alive(pid):
            raise ConflictError("This project is already training; wait for it to finish.")

    def interrupted_training(self) -> str | None:
        """If a training run died with its process (a crash, a kill), say so once and forget it."""
        with self._db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (TRAINING,)).fetchone()
        if row is None:
            return None
        try:
            marker = json.loads(row[0])
            pid = int(marker.get("pid", 0))
        except (ValueError, TypeError, AttributeError, OverflowError, RecursionError):
            marker, pid = {}, 0
        if pid and pid != os.getpid() and process_alive(pid):
            return None  # another program is training this project right now
        self.release_training()
        return (f"The training run started at {marker.get('started', 'an unknown time')} was interrupted before it "
                "finished (the program stopped). The previous model is unchanged; train again.")

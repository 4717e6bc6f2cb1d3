"""Where samples are stored: each one's original bytes (never re-encoded) in its class, with
what checking it found (media type, size, duration). Keypoint features found while checking
are stored in the same transaction as their sample."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..errors import ConflictError, NotFoundError
from .database import Database
from .meta import now

# The columns of SampleInfo, in order (the bytes themselves are read only when asked for).
COLUMNS = "id, class_id, media_type, source, sha256, width, height, created, LENGTH(data), duration_ms, held_out"


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
    test: bool = False  # in the class's test set: never trained on

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", bool(self.test))

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Contents:
    """What a project file holds, in summary: enough to refuse a crafted one cheaply."""

    media_types: set[str]
    sources: set[str]
    largest: int


class SampleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, class_id: int, checked: Iterable, source: str, backbone_id: str,
               test: bool = False) -> tuple[list[int], int]:
        """Store checked samples (:class:`teachable.kinds.CheckedSample`) in one transaction;
        returns their ids (a duplicate gives the existing id) and how many were new. ``test``:
        into the class's test set (a sample already in the class stays where it is)."""
        ids: list[int] = []
        inserted = 0
        with self._db.write() as conn:
            if not conn.execute("SELECT 1 FROM classes WHERE id = ?", (class_id,)).fetchone():
                raise NotFoundError("The class was deleted meanwhile.")
            for sample in checked:
                digest = hashlib.sha256(sample.data).hexdigest()
                row = conn.execute("SELECT id FROM samples WHERE class_id = ? AND sha256 = ?", (class_id, digest)).fetchone()
                if row:
                    ids.append(row[0])
                    continue
                cursor = conn.execute(
                    "INSERT INTO samples(class_id, data, media_type, source, sha256, width, height, created, duration_ms, "
                    "held_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (class_id, sample.data, sample.media_type, source, digest, sample.width, sample.height, now(),
                     sample.duration_ms, int(test)),
                )
                ids.append(int(cursor.lastrowid))
                inserted += 1
                if sample.features is not None:
                    conn.execute("INSERT INTO embeddings(sample_id, backbone, vector) VALUES (?, ?, ?)",
                                 (ids[-1], backbone_id, np.asarray(sample.features, np.float32).tobytes()))
        return ids, inserted

    def all(self, class_id: int | None = None) -> list[SampleInfo]:
        query, params = f"SELECT {COLUMNS} FROM samples", ()
        if class_id is not None:
            query, params = query + " WHERE class_id = ?", (class_id,)
        with self._db.read() as conn:
            rows = conn.execute(query + " ORDER BY id", params).fetchall()
        return [SampleInfo(*row) for row in rows]

    def membership(self) -> list[tuple[int, int]]:
        """(class id, sample id) of every training sample (test samples are never trained on)."""
        with self._db.read() as conn:
            return conn.execute("SELECT class_id, id FROM samples WHERE held_out = 0 ORDER BY id").fetchall()

    def ids(self) -> list[int]:
        with self._db.read() as conn:
            return [row[0] for row in conn.execute("SELECT id FROM samples ORDER BY id")]

    def get(self, sample_id: int) -> SampleInfo:
        with self._db.read() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no sample {sample_id} in this project.")
        return SampleInfo(*row)

    def data(self, sample_id: int) -> bytes:
        with self._db.read() as conn:
            row = conn.execute("SELECT data FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"There is no sample {sample_id} in this project.")
        return bytes(row[0])

    def data_of(self, sample_ids: list[int]) -> list[tuple[int, bytes]]:
        """(id, bytes) of those samples that still exist."""
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT id, data FROM samples WHERE id IN ({','.join('?' * len(sample_ids))})",
                                sample_ids).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def remove(self, sample_id: int) -> None:
        removed = self._db.deleting(lambda conn: conn.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),)).rowcount)
        if removed == 0:
            raise NotFoundError(f"There is no sample {sample_id} in this project.")

    def move(self, sample_id: int, class_id: int, class_name: str) -> None:
        self.get(sample_id)
        with self._db.write() as conn:
            try:
                conn.execute("UPDATE samples SET class_id = ? WHERE id = ?", (class_id, int(sample_id)))
            except Exception as exc:
                if "UNIQUE" in str(exc):
                    raise ConflictError(f"The class '{class_name}' already has this sample.") from None
                raise

    def contents(self) -> Contents:
        with self._db.read() as conn:
            media = {row[0] for row in conn.execute("SELECT DISTINCT media_type FROM samples")}
            sources = {row[0] for row in conn.execute("SELECT DISTINCT source FROM samples")}
            largest = conn.execute("SELECT MAX(LENGTH(data)) FROM samples").fetchone()[0] or 0
        return Contents(media, sources, largest)

    def typed(self, sample_id: int) -> tuple[bytes, str]:
        """A sample's bytes and the media type stored with them."""
        with self._db.read() as conn:
            data, media_type = conn.execute("SELECT data, media_type FROM samples WHERE id = ?", (sample_id,)).fetchone()
        return bytes(data), media_type

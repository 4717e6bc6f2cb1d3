"""Where a project's classes are stored: names, order, and how many samples each has."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConflictError, NotFoundError, TeachableError
from .database import Database
from .meta import now

MAX_CLASSES = 100


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    position: int
    count: int  # training samples
    test_count: int = 0  # samples of its test set

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "position": self.position, "count": self.count,
                "test_count": self.test_count}


class ClassStore:
    """The classes table. Names are checked by the caller (:func:`teachable.names.check_name`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[ClassInfo]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.id, c.name, c.position, COUNT(s.id) - COALESCE(SUM(s.held_out), 0), COALESCE(SUM(s.held_out), 0) "
                "FROM classes c LEFT JOIN samples s ON s.class_id = c.id GROUP BY c.id ORDER BY c.position, c.id"
            ).fetchall()
        return [ClassInfo(*row) for row in rows]

    def names(self) -> list[str]:
        with self._db.read() as conn:
            return [row[0] for row in conn.execute("SELECT name FROM classes")]

    def get(self, ref: int | str) -> ClassInfo:
        """A class by id or by name."""
        for info in self.all():
            if (isinstance(ref, int) and info.id == ref) or (isinstance(ref, str) and info.name == ref):
                return info
        if isinstance(ref, int):  # an id the page had: the class went meanwhile (another tab, say)
            raise NotFoundError("This class no longer exists: it was deleted, perhaps in another tab. Reload the page.")
        raise NotFoundError(f"There is no class {ref!r} in this project.")

    def add(self, name: str) -> ClassInfo:
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                raise ConflictError(f"There is already a class named '{name}'.")
            if conn.execute("SELECT COUNT(*) FROM classes").fetchone()[0] >= MAX_CLASSES:
                raise TeachableError(f"A project can have at most {MAX_CLASSES} classes.")
            position = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM classes").fetchone()[0]
            cursor = conn.execute("INSERT INTO classes(name, position, created) VALUES (?, ?, ?)", (name, position, now()))
        return self.get(int(cursor.lastrowid))

    def rename(self, class_id: int, new_name: str) -> ClassInfo:
        with self._db.write() as conn:
            clash = conn.execute("SELECT id FROM classes WHERE name = ?", (new_name,)).fetchone()
            if clash and clash[0] != class_id:
                raise ConflictError(f"There is already a class named '{new_name}'.")
            conn.execute("UPDATE classes SET name = ? WHERE id = ?", (new_name, class_id))
        return self.get(class_id)

    def remove(self, class_id: int) -> None:
        """Delete a class with all its samples (and their cached embeddings)."""
        self._db.deleting(lambda conn: conn.execute("DELETE FROM classes WHERE id = ?", (class_id,)))

    def clear(self, class_id: int) -> int:
        """Delete every sample of a class, keeping the class; returns how many went."""
        return self._db.deleting(lambda conn: conn.execute("DELETE FROM samples WHERE class_id = ?", (class_id,)).rowcount)

    def reorder(self, ids: list[int]) -> None:
        if sorted(ids) != sorted(c.id for c in self.all()):
            raise TeachableError("Reordering must list every class exactly once.")
        with self._db.write() as conn:
            conn.executemany("UPDATE classes SET position = ? WHERE id = ?", [(p, i) for p, i in enumerate(ids)])

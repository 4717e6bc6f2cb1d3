"""What the person reviewing a project said of flagged samples: "this one is fine" (remembered,
so a review does not flag it again for the same reason)."""

from __future__ import annotations

import json

from .database import Database

KEY = "review_fine"


class ReviewMarks:
    def __init__(self, db: Database) -> None:
        self._db = db

    def fine(self) -> set[tuple[int, str]]:
        """(sample id, reason) pairs marked fine."""
        with self._db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (KEY,)).fetchone()
        try:
            marks = json.loads(row[0]) if row else []
        except (json.JSONDecodeError, RecursionError):
            return set()
        if not isinstance(marks, list):
            return set()
        return {(int(m[0]), str(m[1])) for m in marks
                if isinstance(m, list) and len(m) == 2 and isinstance(m[0], int) and not isinstance(m[0], bool)}

    def mark_fine(self, sample_id: int, reason: str) -> None:
        marks = sorted(self.fine() | {(int(sample_id), reason)})
        with self._db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (KEY, json.dumps([list(m) for m in marks])))

"""Where trained models are kept: every one, as its `.teachable` bytes, the newest current."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import NotFoundError
from .database import Database
from .meta import now


@dataclass(frozen=True)
class ModelInfo:
    id: int
    created: str
    classifier: str
    settings: dict
    metrics: dict | None
    current: bool
    trained_on: dict | None = None  # {"classes": [names], "samples": digest}; None for older models

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class ModelStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, data: bytes, classifier: str, settings: dict, metrics: dict | None, created: str = "",
            trained_on: dict | None = None) -> int:
        """Store a model and make it the current one."""
        with self._db.write() as conn:
            conn.execute("UPDATE models SET is_current = 0")
            cursor = conn.execute(
                "INSERT INTO models(created, classifier, settings, metrics, data, is_current, trained_on) "
                "VALUES (?, ?, ?, ?, ?, 1, ?)",
                (created or now(), classifier, json.dumps(settings), json.dumps(metrics) if metrics else None, data,
                 json.dumps(trained_on) if trained_on else None),
            )
        return int(cursor.lastrowid)

    def all(self) -> list[ModelInfo]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, created, classifier, settings, metrics, is_current, trained_on FROM models ORDER BY id").fetchall()
        return [ModelInfo(r[0], r[1], r[2], _json(r[3]) or {}, _json(r[4]), bool(r[5]), _json(r[6])) for r in rows]

    def current_id(self) -> int | None:
        """The id of the current model (one small query: the live preview asks on every frame)."""
        with self._db.read() as conn:
            row = conn.execute("SELECT id FROM models WHERE is_current = 1 ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def data(self, model_id: int | None = None) -> bytes:
        """The `.teachable` bytes of a model (the current one by default)."""
        with self._db.read() as conn:
            if model_id is None:
                row = conn.execute("SELECT data FROM models WHERE is_current = 1 ORDER BY id DESC LIMIT 1").fetchone()
            else:
                row = conn.execute("SELECT data FROM models WHERE id = ?", (int(model_id),)).fetchone()
        if row is None:
            raise NotFoundError("This project has no trained model yet." if model_id is None else f"There is no model {model_id}.")
        return bytes(row[0])


def _json(text: str | None):
    """A stored JSON column, or None where it is empty or unreadable (a damaged file still lists)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None

"""Where embeddings are cached: one vector per (sample, backbone). A new backbone simply has
no rows yet, so nothing is ever deleted to invalidate them. Callers that know the size a vector
must have (``size``, in bytes) never see one of another size: such a row (a damaged or hand-made
file) reads as missing, and is computed again."""

from __future__ import annotations

import numpy as np

from .database import Database


class EmbeddingStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def missing(self, backbone_id: str, size: int | None = None) -> list[int]:
        """Ids of the samples with no embedding (of ``size`` bytes) from this backbone yet."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT s.id FROM samples s LEFT JOIN embeddings e ON e.sample_id = s.id AND e.backbone = ? "
                "WHERE e.sample_id IS NULL OR length(e.vector) != coalesce(?, length(e.vector)) ORDER BY s.id",
                (backbone_id, size)
            ).fetchall()
        return [row[0] for row in rows]

    def forget(self, backbone_id: str) -> None:
        """Delete every vector of one backbone (one no longer used)."""
        with self._db.write() as conn:
            conn.execute("DELETE FROM embeddings WHERE backbone = ?", (backbone_id,))

    def put(self, backbone_id: str, vectors: list[tuple[int, np.ndarray]]) -> None:
        """Store (sample id, vector) pairs in one transaction, skipping samples deleted meanwhile."""
        with self._db.write() as conn:
            for sample_id, vector in vectors:
                if conn.execute("SELECT 1 FROM samples WHERE id = ?", (sample_id,)).fetchone():
                    conn.execute("INSERT OR REPLACE INTO embeddings(sample_id, backbone, vector) VALUES (?, ?, ?)",
                                 (sample_id, backbone_id, np.asarray(vector, np.float32).tobytes()))

    def all(self, backbone_id: str, test: bool = False, size: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(vectors, class ids, sample ids) of every training sample (``test``: every test
        sample) with a cached embedding, by sample id."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT s.id, s.class_id, e.vector FROM samples s JOIN embeddings e "
                "ON e.sample_id = s.id AND e.backbone = ? WHERE s.held_out = ? "
                "AND length(e.vector) = coalesce(?, length(e.vector)) ORDER BY s.id", (backbone_id, int(test), size)
            ).fetchall()
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), []
        vectors = np.stack([np.frombuffer(row[2], dtype=np.float32) for row in rows])
        return vectors, np.array([row[1] for row in rows], np.int64), [row[0] for row in rows]

    def of(self, backbone_id: str, sample_ids: list[int], size: int | None = None) -> np.ndarray:
        """The cached vectors of these samples (those that have one), in no particular order."""
        vectors: list[np.ndarray] = []
        with self._db.read() as conn:
            for start in range(0, len(sample_ids), 500):  # below SQLite's limit of bound parameters
                chunk = list(sample_ids[start : start + 500])
                rows = conn.execute(f"SELECT vector FROM embeddings WHERE backbone = ? AND sample_id IN "
                                    f"({', '.join('?' * len(chunk))}) AND length(vector) = coalesce(?, length(vector))",
                                    (backbone_id, *chunk, size)).fetchall()
                vectors += [np.frombuffer(row[0], dtype=np.float32) for row in rows]
        return np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)

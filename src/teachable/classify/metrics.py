"""Accuracy, accuracy per class and the confusion matrix: how well a model does, and where it fails."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..wording import counted


@dataclass
class Report:
    """Evaluation of predictions against true labels. ``confusion[i][j]``: true i predicted j."""

    labels: list[str]
    accuracy: float
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    count: int
    notes: list[str] = field(default_factory=list)
    # The samples in each cell (their sources: "sample:12", "cat/1.jpg"), where known.
    cells: list[list[list[str]]] | None = None

    def with_cells(self, sources: list[str], truth: np.ndarray, predicted: np.ndarray) -> "Report":
        """Name the samples behind each cell of the confusion matrix."""
        n = len(self.labels)
        self.cells = [[[] for _ in range(n)] for _ in range(n)]
        for source, t, p in zip(sources, truth, predicted):
            self.cells[int(t)][int(p)].append(str(source))
        return self

    @classmethod
    def from_predictions(cls, labels: list[str], truth: np.ndarray, predicted: np.ndarray) -> "Report":
        truth = np.asarray(truth, dtype=np.int64)
        predicted = np.asarray(predicted, dtype=np.int64)
        n = len(labels)
        confusion = np.zeros((n, n), np.int64)
        np.add.at(confusion, (truth, predicted), 1)
        per_class: dict[str, float | None] = {}
        for i, name in enumerate(labels):
            total = int(confusion[i].sum())
            per_class[name] = float(confusion[i, i] / total) if total else None
        accuracy = float((truth == predicted).mean()) if len(truth) else 0.0
        return cls(list(labels), accuracy, per_class, confusion.tolist(), int(len(truth)))

    def to_dict(self) -> dict:
        return {
            "labels": self.labels,
            "accuracy": self.accuracy,
            "per_class": self.per_class,
            "confusion": self.confusion,
            "count": self.count,
            "notes": list(self.notes),
            **({"cells": self.cells} if self.cells is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        return cls(
            labels=[str(x) for x in data["labels"]],
            accuracy=float(data["accuracy"]),
            per_class={str(k): (None if v is None else float(v)) for k, v in data["per_class"].items()},
            confusion=[[int(c) for c in row] for row in data["confusion"]],
            count=int(data["count"]),
            notes=[str(n) for n in data.get("notes", [])],
            cells=_cells(data.get("cells"), len(data["labels"])),
        )

    def format(self) -> str:
        """A plain-text table for the terminal."""
        width = max([len(name) for name in self.labels] + [10])
        lines = [f"accuracy: {self.accuracy:.1%} on {counted(self.count, 'sample')}", "", "per class:"]
        for name in self.labels:
            value = self.per_class[name]
            lines.append(f"  {name:<{width}}  {'n/a' if value is None else f'{value:.1%}'}")
        lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
        short = [name if len(name) <= 12 else name[:11] + "…" for name in self.labels]
        column = max([5] + [len(name) for name in short])
        lines.append(" " * (width + 2) + " ".join(f"{name:>{column}}" for name in short))
        for name, row in zip(self.labels, self.confusion):
            lines.append(f"  {name:<{width}}" + " ".join(f"{c:>{column}}" for c in row))
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _cells(value: object, n: int) -> list[list[list[str]]] | None:
    """Cells read back from a model file: n x n lists of text, or nothing."""
    if (not isinstance(value, list) or len(value) != n
            or not all(isinstance(row, list) and len(row) == n and all(isinstance(c, list) for c in row) for row in value)):
        return None
    return [[[str(s) for s in cell] for cell in row] for row in value]

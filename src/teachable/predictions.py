"""Predicting many files: folders expanded into the files a model reads, one row per file (path,
label, class shares, error), and the output file a long job writes as it goes (CSV or Parquet),
which a re-run reads to skip the files already answered.

``teachable predict MODEL FOLDER -o predictions.csv`` uses it on this machine, and with ``--ray``
the same rows come from Ray Data actors (:mod:`teachable.scale.bulk`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from .errors import DatasetError, MissingDependencyError, TeachableError
from .kinds import get_kind

COLUMNS = ("path", "label", "shares", "error")
OUTPUT_SUFFIXES = (".csv", ".parquet")


def files_to_predict(paths: Iterable[Path], kind: str) -> list[Path]:
    """The given files as they are, and the files below each given folder that ``kind`` reads
    (sorted, hidden ones left out, links to other folders not followed). A folder with none of
    them is an error: it was named to be predicted."""
    rules = get_kind(kind)
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        before = len(found)
        for top, dirs, names in os.walk(path, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [Path(top) / n for n in sorted(names) if not n.startswith(".") and rules.accepts(n)]
        if len(found) == before:
            raise DatasetError(f"'{path}' holds no {rules.name} files this model reads ({', '.join(sorted(rules.suffixes))}).")
    return found


def prediction_row(model, path: str) -> dict[str, str | None]:
    """One file's row: its label and class shares (JSON), or the sentence saying why it has none."""
    try:
        result = model.predict(path)
    except TeachableError as exc:
        return {"path": path, "label": None, "shares": None, "error": str(exc)}
    except OSError as exc:
        return {"path": path, "label": None, "shares": None, "error": f"cannot read it ({exc.strerror or exc})"}
    shares = {name: round(float(p), 6) for name, p in result.confidences.items()}
    return {"path": path, "label": result.label, "shares": json.dumps(shares, ensure_ascii=False), "error": None}


def check_output(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise TeachableError(f"The predictions file must end in .csv or .parquet, not '{path.name}'.")
    if path.suffix.lower() == ".parquet":
        _pyarrow()


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingDependencyError("Writing Parquet needs pyarrow, which is not installed: install it with "
                                     "`pip install pyarrow` (the ray extra has it), or write .csv.") from None
    return pyarrow


def answered(path: Path) -> list[dict[str, str | None]]:
    """The rows of an earlier run's output that have a label (files with errors are tried again).
    A file there that is not such an output is refused, never written over."""
    if not path.exists():
        return []
    refused = TeachableError(f"'{path}' exists and is not a predictions file of Teachable's (columns "
                             f"{', '.join(COLUMNS)}): choose another name, or remove it.")
    try:
        if path.suffix.lower() == ".parquet":
            table = _pyarrow().parquet.read_table(path)
            columns, rows = table.column_names, table.to_pylist()
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                rows = [{k: (v or None) for k, v in row.items()} for row in reader]
                columns = reader.fieldnames or []
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise refused from exc
    except Exception as exc:  # pyarrow's own errors for a file that is not Parquet
        if type(exc).__module__.startswith("pyarrow"):
            raise refused from exc
        raise
    if list(columns) != list(COLUMNS):
        raise refused
    return [row for row in rows if row.get("label")]


class PredictionsFile:
    """Rows written as they arrive: a CSV is appended to (and flushed) row by row; a Parquet file is
    written whole on close (kept rows first), since Parquet cannot be appended to."""

    def __init__(self, path: Path, kept: list[dict]) -> None:
        self.path = path
        self.parquet = path.suffix.lower() == ".parquet"
        self.rows: list[dict] = list(kept)
        if not self.parquet:
            self._handle = path.open("w", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._handle, COLUMNS)
            self._writer.writeheader()
            for row in kept:
                self._writer.writerow({k: row.get(k) for k in COLUMNS})
            self._handle.flush()

    def write(self, row: dict) -> None:
        if self.parquet:
            self.rows.append(row)
            return
        self._writer.writerow({k: row.get(k) for k in COLUMNS})
        self._handle.flush()

    def close(self) -> None:
        if self.parquet:
            pyarrow = _pyarrow()
            columns = {k: [row.get(k) for row in self.rows] for k in COLUMNS}
            pyarrow.parquet.write_table(pyarrow.table(columns, schema=pyarrow.schema([(k, pyarrow.string()) for k in COLUMNS])),
                                        self.path)
        else:
            self._handle.close()

    def __enter__(self) -> "PredictionsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def local_rows(model, paths: list[str]) -> Iterator[dict]:
    """The rows computed on this machine, one file after the other."""
    for path in paths:
        yield prediction_row(model, path)

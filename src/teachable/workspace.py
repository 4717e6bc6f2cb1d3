"""A workspace: the folder where a user's projects live, one file each."""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import NotFoundError, TeachableError
from .names import check_name
from .paths import data_dir
from .project import Project
from .store.database import ensure_reserve, remove_files

SUFFIX = ".teachable-project"


@dataclass(frozen=True)
class ProjectEntry:
    """A project in the workspace; ``id`` is its file name without the suffix."""

    id: str
    name: str
    kind: str
    path: Path
    classes: int
    samples: int
    modified: float
    trained: bool = False  # has a current model

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "kind": self.kind, "classes": self.classes,
                "samples": self.samples, "modified": self.modified, "trained": self.trained}


def slug(name: str) -> str:
    """A file-name-safe id from a project name (ASCII letters, digits, dashes)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower()[:60]
    return cleaned or "project"


class Workspace:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else data_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        ensure_reserve(self.root)

    def path_of(self, project_id: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,80}", project_id or ""):
            raise NotFoundError(f"There is no project '{project_id}'.")
        path = self.root / f"{project_id}{SUFFIX}"
        if not path.is_file():
            raise NotFoundError(f"There is no project '{project_id}'.")
        return path

    def _free_id(self, name: str, current: str | None = None) -> str:
        """An unused id for a name; ``current`` (the project being renamed) counts as free."""
        base = slug(name)
        candidate, n = base, 2
        while candidate != current and (self.root / f"{candidate}{SUFFIX}").exists():
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def list(self) -> list[ProjectEntry]:
        entries = []
        for path in sorted(self.root.glob(f"*{SUFFIX}")):
            try:
                with Project.open(path) as project:
                    classes = project.classes()
                    entries.append(ProjectEntry(path.name[: -len(SUFFIX)], project.name, project.kind, path,
                                                len(classes), sum(c.count for c in classes), path.stat().st_mtime,
                                                project.current_model_id() is not None))
            except TeachableError:
                continue  # a damaged or foreign file is not listed; it stays untouched on disk
        return sorted(entries, key=lambda e: -e.modified)

    def create(self, name: str, kind: str = "image", default_classes: tuple[str, ...] = ()):

        name = check_name(name, "project")
        project = Project.create(self.root / f"{self._free_id(name)}{SUFFIX}", kind=kind, name=name)
        for class_name in default_classes:
            if class_name != project.rules.special_class:  # already there
                project.add_class(class_name)
        return project

    def resolve(self, ref: str) -> str:
        """The id of a project given as people type it: its id, its name ("My Photos"), or what
        its name becomes as an id ("my_photos" -> "my-photos")."""
        if ref in self:
            return ref
        named = [entry.id for entry in self.list() if entry.name == ref]
        if len(named) == 1:
            return named[0]
        if slug(ref) in self:
            return slug(ref)
        raise NotFoundError(f"There is no project '{ref}'.")

    def open(self, project_id: str):

        return Project.open(self.path_of(project_id))

    def id_of(self, path: Path) -> str:
        return Path(path).name[: -len(SUFFIX)]

    def rename(self, project_id: str, new_name: str) -> str:
        """Rename a project (its name and its file); returns the new id."""

        new_name = check_name(new_name, "project")
        with self.open(project_id) as project:
            project.rename(new_name)
        new_id = self._free_id(new_name, current=project_id)
        if new_id != project_id:
            os.replace(self.path_of(project_id), self.root / f"{new_id}{SUFFIX}")
        return new_id

    def duplicate(self, project_id: str, new_name: str | None = None) -> str:
        with self.open(project_id) as project:
            name = new_name or f"{project.name} (copy)"
            target = self.root / f"{self._free_id(name)}{SUFFIX}"
            project.save_copy(target)
        with Project.open(target) as copy:  # never published: save_copy leaves the key behind
            copy.rename(name)
        return self.id_of(target)

    def delete(self, project_id: str) -> None:
        remove_files(self.path_of(project_id), missing_ok=False)
        ensure_reserve(self.root)  # if it was given up to let deletes through a full disk

    def add_file(self, source: Path, name: str | None = None) -> str:
        """Copy a project file (opened from elsewhere) into the workspace; returns its id. A
        project whose name is taken is named "Name (2)", "Name (3)"... so the two are told apart."""
        with Project.open(source) as project:
            project.verify_samples()  # from elsewhere: checked as strictly as an upload
            original = project.name
            wanted = self._free_name(name or original)
            target = self.root / f"{self._free_id(wanted)}{SUFFIX}"
            project.save_copy(target)
        if wanted != original:  # (and never published: save_copy leaves any key behind)
            with Project.open(target) as copy:
                copy.rename(wanted)
        return self.id_of(target)

    def staging_path(self) -> Path:
        """A hidden file name in the workspace for a project being built (not listed until adopted)."""
        return self.root / f".building-{uuid.uuid4().hex}{SUFFIX}.tmp"

    def adopt(self, staging: Path) -> str:
        """Move a finished project file (built at :meth:`staging_path`) into the workspace under its
        own name ("Name (2)" when taken); returns its id."""
        with Project.open(staging) as project:
            wanted = self._free_name(project.name)
            if wanted != project.name:
                project.rename(wanted)
        target = self.root / f"{self._free_id(wanted)}{SUFFIX}"
        os.replace(staging, target)
        return self.id_of(target)

    def _free_name(self, name: str) -> str:
        taken = {entry.name for entry in self.list()}
        candidate, n = name, 2
        while candidate in taken:
            suffix = f" ({n})"
            candidate, n = name[: 100 - len(suffix)] + suffix, n + 1
        return candidate

    def __contains__(self, project_id: str) -> bool:
        try:
            self.path_of(project_id)
            return True
        except NotFoundError:
            return False


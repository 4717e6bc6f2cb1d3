"""A project's classes: add, rename, delete, clear."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import ClassId, ProjectDep
from ..schemas import ERRORS, ClassOut, ClearOut, Rename

router = APIRouter(prefix="/api/projects/{project_id}/classes", tags=["classes"], responses=ERRORS)


@router.post("", status_code=201, response_model=ClassOut)
def add_class(h: ProjectDep, body: Rename) -> dict:
    info = h.project.add_class(body.name)
    h.samples_changed()
    return info.to_dict()


@router.patch("/{class_id}", response_model=ClassOut)
def rename_class(h: ProjectDep, class_id: ClassId, body: Rename) -> dict:
    info = h.project.rename_class(class_id, body.name)
    h.samples_changed()
    return info.to_dict()


@router.delete("/{class_id}", status_code=204)
def delete_class(h: ProjectDep, class_id: ClassId) -> Response:
    h.project.remove_class(class_id)
    h.samples_changed()
    return Response(status_code=204)


@router.post("/{class_id}/clear", response_model=ClearOut)
def clear_class(h: ProjectDep, class_id: ClassId) -> dict:
    removed = h.project.clear_class(class_id)
    h.samples_changed()
    return {"removed": removed}

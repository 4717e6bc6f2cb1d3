"""Projects: list, create, open from a file, rename, duplicate, delete, download, settings."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from ...advice import model_status, source_warning
from ...errors import ConflictError, TeachableError
from ...kinds import get_kind
from ...settings import DEFAULT_SETTINGS
from ...store.database import remove_files
from ..deps import ProjectDep, RegistryDep, WorkspaceDep
from ..limits import MAX_PROJECT_UPLOAD_BYTES
from ..projects import OpenProject, ProjectRegistry
from ..run import CLIENT_GONE
from ..schemas import ERRORS, ProjectCreate, ProjectEntryOut, ProjectOut, Rename, SettingsIn, TmImportOut, VersionOut

router = APIRouter(prefix="/api/projects", tags=["projects"], responses=ERRORS)


def summary(registry: ProjectRegistry, project_id: str) -> dict:
    """A project as the page shows it: classes, settings, model, training, version."""
    h: OpenProject = registry.get(project_id)
    p = h.project
    current = next((m for m in reversed(p.models()) if m.current), None)
    return {
        "id": project_id, "name": p.name, "kind": p.kind, "skeleton": p.rules.skeleton(),
        "classes": [c.to_dict() for c in p.classes()],
        "settings": p.settings, "defaults": dict(DEFAULT_SETTINGS),
        "pending_embeddings": h.pending_embeddings(),
        "model": current.to_dict() if current else None,
        "model_status": model_status(p, current),
        "warnings": [w for w in (source_warning(p),) if w],
        "training": last_training(h, current),
        "version": h.version,
    }


def last_training(h: OpenProject, current) -> dict:
    """The training job of this session; for a project just opened, the current model's own
    training (its curves and report travel with it), as a finished run."""
    job = h.job.to_dict()
    if job["state"] != "idle" or current is None:
        return job
    try:
        model = h.current_model()
    except TeachableError:
        return job
    history = [epoch.to_dict() for epoch in model.history]
    return {**job, "state": "done", "settings": current.settings, "history": history, "epoch": len(history),
            "epochs": len(history), "model_id": current.id, "report": current.metrics, "notes": list(model.notes)}


@router.get("/{project_id}/version", response_model=VersionOut)
def project_version(h: ProjectDep) -> dict:
    """A number that changes whenever the project does (classes, samples, model): pages ask it
    every few seconds and reload what changed, so two tabs stay in step."""
    return {"version": h.version}


@router.get("", response_model=list[ProjectEntryOut])
def list_projects(workspace: WorkspaceDep) -> list[dict]:
    return [e.to_dict() for e in workspace.list()]


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(body: ProjectCreate, workspace: WorkspaceDep, registry: RegistryDep) -> dict:
    with workspace.create(body.name, kind=body.kind, default_classes=get_kind(body.kind).default_classes) as project:
        project_id = workspace.id_of(project.path)
    return summary(registry, project_id)


async def _receive(file: UploadFile, root: Path, suffix: str) -> Path:
    """The upload written to a private temporary file in the workspace (removed by the caller)."""
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=root)
    with os.fdopen(fd, "wb") as out:
        total = 0
        while chunk := await file.read(1 << 20):
            total += len(chunk)
            if total > MAX_PROJECT_UPLOAD_BYTES:
                raise TeachableError("The project file is too large.")
            out.write(chunk)
    return Path(tmp)


@router.post("/open", status_code=201, response_model=ProjectOut)
async def open_project_file(workspace: WorkspaceDep, registry: RegistryDep, file: UploadFile = File(...)) -> dict:
    """Upload a project file (as saved by 'Save to file') into the workspace."""
    tmp = None
    try:
        tmp = await _receive(file, workspace.root, ".upload.tmp")
        project_id = await asyncio.to_thread(workspace.add_file, tmp)
    finally:
        if tmp is not None:
            remove_files(tmp)
    return summary(registry, project_id)


async def _stop_when_client_leaves(request: Request, work, budget) -> None:
    """The client may leave a long import: then it stops (keeping nothing) rather than run on."""
    while not work.done():
        await asyncio.sleep(0.5)
        if not work.done() and await client_gone(request):
            budget.stop.set()


async def client_gone(request: Request) -> bool:
    """Whether the client of a long request has gone away: asked of the socket under `teachable
    serve` (run.py), of the ASGI messages elsewhere."""
    probe = request.scope.get(CLIENT_GONE)
    return probe() if probe is not None else await request.is_disconnected()


@router.post("/import-tm", status_code=201, response_model=TmImportOut)
async def import_teachable_machine(request: Request, workspace: WorkspaceDep, registry: RegistryDep,
                                   file: UploadFile = File(...)) -> dict:
    """Open a Teachable Machine project (`.tm`, image or pose) as a new project: its classes in order,
    every sample, its training settings. Pose frames with nobody in them are counted, not kept.
    The import stops (keeping nothing) when the client goes away or the server shuts down."""
    from ...tm.projects import ImportBudget, import_tm

    name = Path(file.filename or "Teachable Machine project").stem or "Teachable Machine project"
    tmp = None
    budget = ImportBudget()
    try:
        tmp = await _receive(file, workspace.root, ".tm.tmp")
        work = asyncio.ensure_future(asyncio.to_thread(import_tm, workspace, tmp, name[:100], budget=budget,
                                                       shown_as=Path(file.filename or "project.tm").name[:100]))
        watch = asyncio.ensure_future(_stop_when_client_leaves(request, work, budget))
        try:
            report = await request.app.state.imports.run(work, budget.stop)
        finally:
            watch.cancel()
    finally:
        if tmp is not None:
            remove_files(tmp)
    return {"project": summary(registry, report.project_id), "added": report.added, "duplicates": report.duplicates,
            "nobody": report.nobody, "skipped": [f"{n}: {why}" for n, why in report.skipped], "messages": report.lines()}


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(project_id: str, registry: RegistryDep) -> dict:
    return summary(registry, project_id)


@router.patch("/{project_id}", response_model=ProjectOut)
def rename_project(project_id: str, body: Rename, h: ProjectDep, workspace: WorkspaceDep, registry: RegistryDep) -> dict:
    if h.training:  # renaming closes the project, and would lose the run
        raise ConflictError("This project is training; rename it when training has finished.")
    registry.close(project_id)
    return summary(registry, workspace.rename(project_id, body.name))


@router.delete("/{project_id}", status_code=204)
def delete_project(project_id: str, workspace: WorkspaceDep, registry: RegistryDep) -> Response:
    workspace.path_of(project_id)
    registry.close(project_id)
    workspace.delete(project_id)
    return Response(status_code=204)


@router.post("/{project_id}/duplicate", status_code=201, response_model=ProjectOut)
def duplicate_project(project_id: str, h: ProjectDep, workspace: WorkspaceDep, registry: RegistryDep) -> dict:
    return summary(registry, workspace.duplicate(project_id))


@router.get("/{project_id}/file", response_class=FileResponse)
def download_project(project_id: str, h: ProjectDep):
    """The whole project as one file, to keep or share ('Save to file')."""
    fd, tmp = tempfile.mkstemp(suffix=".teachable-project")
    os.close(fd)
    os.unlink(tmp)
    h.project.save_copy(Path(tmp))
    return FileResponse(tmp, media_type="application/vnd.sqlite3", filename=f"{project_id}.teachable-project",
                        background=BackgroundTask(os.unlink, tmp))


@router.put("/{project_id}/settings", response_model=dict)
def put_settings(h: ProjectDep, body: SettingsIn) -> dict:  # type: ignore[valid-type]
    settings = h.project.update_settings(**body.given())
    h.bump()
    return settings

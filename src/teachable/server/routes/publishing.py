"""Published models: a project's current image model at a stable URL, as Teachable Machine's
"Upload my model" gives one, so ``tmImage.load(URL + "model.json", URL + "metadata.json")``,
``ml5.imageClassifier(URL)`` and ``tf.loadLayersModel`` work against this server unchanged.

Publishing is a per-project switch, off by default (``PUT /api/projects/{id}/publish``). When on,
``/tm/<key>/model.json``, ``weights.bin`` and ``metadata.json`` answer GET from any origin (CORS);
``<key>`` is a random secret made when publishing is switched on, so the URL is the permission:
it needs no access token, reads nothing but those three files, and switching off ends it.
"""

from __future__ import annotations

import asyncio
import threading
import time

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from ...errors import NotFoundError
from ..access import PUBLIC_PREFIX
from ..deps import ProjectDep
from ..projects import ProjectRegistry
from ..schemas import ERRORS

FILES = {"model.json": "application/json", "weights.bin": "application/octet-stream",
         "metadata.json": "application/json"}
CORS = {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS", "Access-Control-Allow-Headers": "*",
        "Cache-Control": "no-cache"}
RESCAN_SECONDS = 2.0
NOT_PUBLISHED = "No model is published at this address (it may have been switched off)."

router = APIRouter(tags=["published models"])


class PublishIn(BaseModel):
    published: bool


class PublishOut(BaseModel):
    published: bool
    path: str | None  # "/tm/<key>/" on this server, when published


def published_file(files: dict[str, bytes], file_name: str) -> Response:
    """One of the three files, with the headers that let a page on any origin read it."""
    if file_name not in FILES:
        raise NotFoundError(f"A published model has model.json, weights.bin and metadata.json; not {file_name[:40]!r}.")
    return Response(files[file_name], media_type=FILES[file_name], headers=CORS)


def preflight() -> Response:
    return Response(status_code=204, headers=CORS)


class PublishedModels:
    """Which project a key belongs to (found by a rate-limited scan), and each one's files, made
    once per trained model."""

    def __init__(self, registry: ProjectRegistry) -> None:
        self.registry = registry
        self._owner: dict[str, str] = {}
        self._files: dict[str, tuple[int, dict[str, bytes]]] = {}
        self._scanned = 0.0
        self._lock = threading.Lock()

    def _scan(self) -> None:
        owners = {}
        workspace = self.registry.workspace
        for entry in workspace.list():
            try:  # opened and closed again: a scan must not leave every project open
                with workspace.open(entry.id) as project:
                    key = project.published
            except Exception:  # a damaged file is simply not published
                continue
            if key:
                owners[key] = entry.id
        self._owner, self._scanned = owners, time.monotonic()

    def files(self, key: str) -> dict[str, bytes]:
        with self._lock:
            project_id = self._owner.get(key)
            if project_id is None and time.monotonic() - self._scanned > RESCAN_SECONDS:
                self._scan()
                project_id = self._owner.get(key)
            if project_id is None:
                raise NotFoundError(NOT_PUBLISHED)
            try:
                handle = self.registry.get(project_id)
                published = handle.project.published
            except Exception:
                published = None
            if published != key:
                self._owner.pop(key, None)
                raise NotFoundError(NOT_PUBLISHED)
            model_id = handle.project.current_model_id()
            if model_id is None:
                raise NotFoundError("This project is published but has no trained model yet.")
            cached = self._files.get(key)
            if cached is not None and cached[0] == model_id:
                return cached[1]
            from ...export.tfjs import tfjs_files

            files = tfjs_files(handle.current_model(), handle.project.name)
            self._files[key] = (model_id, files)
            return files


@router.get("/api/projects/{project_id}/publish", response_model=PublishOut, responses=ERRORS)
def get_publishing(h: ProjectDep) -> dict:
    key = h.project.published
    return {"published": key is not None, "path": f"{PUBLIC_PREFIX}{key}/" if key else None}


@router.put("/api/projects/{project_id}/publish", response_model=PublishOut, responses=ERRORS)
def set_publishing(h: ProjectDep, body: PublishIn) -> dict:
    """Switch publishing of the project's current image model on or off (off by default)."""
    key = h.project.publish(body.published)
    h.bump()
    return {"published": key is not None, "path": f"{PUBLIC_PREFIX}{key}/" if key else None}


@router.api_route(PUBLIC_PREFIX + "{key}/{file_name}", methods=["GET", "HEAD"], response_class=Response,
                  responses=ERRORS)
async def read_published(key: str, file_name: str, request: Request) -> Response:
    """model.json, weights.bin or metadata.json of a published model, readable from any origin."""
    files = await asyncio.to_thread(request.app.state.published_models.files, key)
    return published_file(files, file_name)


@router.options(PUBLIC_PREFIX + "{key}/{file_name}", include_in_schema=False)
def preflight_published(key: str, file_name: str) -> Response:
    return preflight()

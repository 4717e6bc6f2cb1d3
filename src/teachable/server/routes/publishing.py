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
from pathlib import Path

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from ...errors import NotFoundError
from ...workspace import SUFFIX
from ..access import PUBLIC_PREFIX
from ..deps import ProjectDep
from ..projects import ProjectRegistry
from ..schemas import ERRORS

FILES = {"model.json": "application/json", "weights.bin": "application/octet-stream",
         "metadata.json": "application/json"}
CORS = {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS", "Access-Control-Allow-Headers": "*",
        "Cache-Control": "no-cache"}
RESCAN_SECONDS = 0.5
NOT_PUBLISHED = "No model is published at this address (it may have been switched off)."

router = APIRouter(tags=["published models"])


class PublishIn(BaseModel):
    published: bool


class PublishOut(BaseModel):
    published: bool
    path: str | None  # "/tm/<key>/" on this server, when published
    # The link students open (no token needed): the sketch editor with this model, on the address
    # `teachable serve` printed for the network (None when it listens on this computer only).
    classroom_link: str | None = None


def _answer(request: Request, key: str | None) -> dict:
    path = f"{PUBLIC_PREFIX}{key}/" if key else None
    origin = getattr(request.app.state, "classroom_origin", None)
    return {"published": key is not None, "path": path,
            "classroom_link": f"{origin}/sketch/?model={path}" if origin and path else None}


def published_file(files: dict[str, bytes], file_name: str) -> Response:
    """One of the three files, with the headers that let a page on any origin read it."""
    if file_name not in FILES:
        raise NotFoundError(f"A published model has model.json, weights.bin and metadata.json; not {file_name[:40]!r}.")
    return Response(files[file_name], media_type=FILES[file_name], headers=CORS)


def preflight(request: Request | None = None) -> Response:
    """CORS preflight for a published model; a browser that asks whether a public page may read from
    this private or local network (Private Network Access's header, or Local Network Access's) hears
    yes, here only: a published model is meant to be read from anywhere its address is known."""
    response = Response(status_code=204, headers=CORS)
    for asked, allow in (("access-control-request-private-network", "Access-Control-Allow-Private-Network"),
                         ("access-control-request-local-network", "Access-Control-Allow-Local-Network")):
        if request is not None and request.headers.get(asked, "").lower() == "true":
            response.headers[allow] = "true"
    return response


class PublishedModels:
    """Which project a key belongs to, and each one's files (made once per trained model).

    The keys are indexed in memory, file by file: a lookup of an unknown key only compares each
    project file's size and modification times (its own and its write-ahead log's) with what the
    index saw, and reopens just the files that changed. So a stream of made-up keys costs a
    directory listing at most every RESCAN_SECONDS, never a scan of every project."""

    def __init__(self, registry: ProjectRegistry) -> None:
        self.registry = registry
        self._index: dict[Path, tuple[tuple, str | None]] = {}  # file -> (its signature, its key)
        self._owner: dict[str, str] = {}
        self._files: dict[str, tuple[int, dict[str, bytes]]] = {}
        self._refreshed = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _signature(path: Path) -> tuple | None:
        try:
            main = path.stat()
        except OSError:
            return None
        try:
            wal = path.with_name(path.name + "-wal").stat()
            log = (wal.st_mtime_ns, wal.st_size)
        except OSError:
            log = None
        return main.st_mtime_ns, main.st_size, log

    def _refresh(self) -> None:
        workspace = self.registry.workspace
        index: dict[Path, tuple[tuple, str | None]] = {}
        for path in workspace.root.glob(f"*{SUFFIX}"):
            signature = self._signature(path)
            if signature is None:
                continue
            known = self._index.get(path)
            if known is not None and known[0] == signature:
                index[path] = known
                continue
            try:  # opened and closed again: the index must not leave every project open
                with workspace.open(workspace.id_of(path)) as project:
                    key = project.published
            except Exception:  # a damaged file is simply not published
                key = None
            index[path] = (signature, key)
        self._index = index
        self._owner = {key: workspace.id_of(path) for path, (_, key) in index.items() if key}
        self._refreshed = time.monotonic()

    def note(self, project_id: str, key: str | None) -> None:
        """A project was switched on or off here: its URL works (or stops) at once."""
        with self._lock:
            self._owner = {k: v for k, v in self._owner.items() if v != project_id}
            if key:
                self._owner[key] = project_id

    def files(self, key: str) -> dict[str, bytes]:
        with self._lock:
            project_id = self._owner.get(key)
            if project_id is None and time.monotonic() - self._refreshed > RESCAN_SECONDS:
                self._refresh()
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
def get_publishing(h: ProjectDep, request: Request) -> dict:
    return _answer(request, h.project.published)


@router.put("/api/projects/{project_id}/publish", response_model=PublishOut, responses=ERRORS)
def set_publishing(h: ProjectDep, body: PublishIn, request: Request) -> dict:
    """Switch publishing of the project's current image model on or off (off by default)."""
    key = h.project.publish(body.published)
    request.app.state.published_models.note(request.path_params["project_id"], key)
    h.bump()
    return _answer(request, key)


@router.api_route(PUBLIC_PREFIX + "{key}/{file_name}", methods=["GET", "HEAD"], response_class=Response,
                  responses=ERRORS)
async def read_published(key: str, file_name: str, request: Request) -> Response:
    """model.json, weights.bin or metadata.json of a published model, readable from any origin."""
    files = await asyncio.to_thread(request.app.state.published_models.files, key)
    return published_file(files, file_name)


@router.options(PUBLIC_PREFIX + "{key}/{file_name}", include_in_schema=False)
def preflight_published(key: str, file_name: str, request: Request) -> Response:
    return preflight(request)

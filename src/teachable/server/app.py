"""The web app: the HTTP API (everything the page does goes through it) and the page itself.

The API is one router per resource (``routes/``), with typed dependencies (``deps.py``) and
response models (``schemas.py``); this module assembles them with the access rules, the
limits and the static files.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ..version import __version__
from ..workspace import Workspace
from .access import AccessMiddleware
from .common import install_common
from .docs import install_docs
from .limits import body_limit
from .projects import ProjectRegistry, RunningImports
from .routes import ROUTERS
from .routes.publishing import PublishedModels
from .routes.tflite_jobs import TfliteJobs
from .thumbnails import ThumbnailCache


def create_app(
    workspace: Workspace | str | Path | None = None,
    token: str | None = None,
    allowed_hosts: set[str] | None = None,
    allow_origins: list[str] | tuple[str, ...] = (),
) -> FastAPI:
    """The app for one workspace; ``teachable serve`` runs it under uvicorn.

    ``token``: required on every request when set (see :mod:`.access`). ``allowed_hosts``: the
    Host names accepted (loopback names when serving on 127.0.0.1). ``allow_origins``: other web
    origins allowed to call the API from a browser (CORS is closed by default).
    """
    workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    registry = ProjectRegistry(workspace)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await app.state.imports.stop_all()  # each removes what it had built before the process ends
        registry.close_all()

    app = FastAPI(
        title="Teachable",
        version=__version__,
        description="Train image, sound, pose and hand gesture classifiers from a few examples, locally. "
                    "Errors are JSON: `{\"error\": message}`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.registry = registry
    app.state.imports = RunningImports()
    app.state.live_streams = [0]  # live WebSockets open now (routes/prediction.py bounds them)
    app.state.thumbnails = ThumbnailCache()
    app.state.published_models = PublishedModels(registry)
    app.state.tflite_jobs = TfliteJobs()
    install_common(app, limit_for=body_limit)
    for router in ROUTERS:
        app.include_router(router)

    # -- access: outermost, so nothing runs for a request that is not allowed --------------------
    if allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(allow_origins), allow_methods=["*"],
                           allow_headers=["*"], allow_credentials=False)
    app.add_middleware(AccessMiddleware, token=token, allowed_hosts=allowed_hosts, allowed_origins=tuple(allow_origins))

    # -- API docs (no CDN) -----------------------------------------------------------------------
    install_docs(app)

    # -- the page -------------------------------------------------------------------------------
    static = resources.files("teachable.server").joinpath("static")

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(static.joinpath("index.html").read_bytes(), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    return app

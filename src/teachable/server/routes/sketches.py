"""The sketch page: p5.js + ml5.js (or tmImage) code next to the published model, on the same server.

Pages on the internet cannot read a model on a classroom laptop over plain HTTP (mixed content),
and a classroom may have no internet at all. So Teachable serves its own small editor at
``/sketch/`` with p5.js, ml5.js, TensorFlow.js, tmImage and CodeMirror from packaged copies
(``/vendor/``, put there by ``scripts/vendor_js.py`` at install; licences in ``/vendor/NOTICE.md``).

The user's code never runs in the page's own origin: it runs in a frame served on a second port
of the same server (``sketch_frame.py``: only the frame and the libraries there), so it is
another origin to the browser. The API refuses it (the access rules refuse every other origin),
the page's DOM, token and cookie are out of its reach, and it still may use the camera (a
sandboxed opaque origin may not, in Chromium). Only what any web page may read answers it — the
published models and the libraries. Sketches are kept in the browser (localStorage, per
project); ``POST /api/projects/{id}/sketch.zip`` turns one into a folder that runs elsewhere.
"""

from __future__ import annotations

import io
import json
import zipfile
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ...errors import MissingDependencyError, NotFoundError
from ..common import CSP
from ..deps import ProjectDep
from ..schemas import ERRORS

router = APIRouter(tags=["sketches"])  # `teachable serve` only (its projects)
page_router = APIRouter(tags=["sketches"])  # `teachable serve` and `teachable serve-model`
STATIC = resources.files("teachable.server").joinpath("static")
VENDOR = STATIC.joinpath("vendor")
VENDOR_FILES = {
    "p5.min.js": "text/javascript", "ml5.min.js": "text/javascript", "tf.min.js": "text/javascript",
    "teachablemachine-image.min.js": "text/javascript", "codemirror.js": "text/javascript",
    "codemirror-javascript.js": "text/javascript", "codemirror.css": "text/css", "NOTICE.md": "text/markdown",
}
MAX_SKETCH_CHARS = 200_000


def frame_policy(origin: str, app_port: int | None) -> str:
    """The sketch frame's policy: scripts from its server and the sketch itself, anything any page
    may read (models elsewhere too), the camera's streams; framed only by the app's page (its port,
    on any of this computer's names)."""
    ancestors = f"http://*:{app_port} https://*:{app_port}" if app_port else "'none'"
    return (f"default-src 'self' {origin}; script-src 'self' {origin} 'unsafe-inline' 'unsafe-eval' blob:; "
            "style-src 'self' 'unsafe-inline'; img-src * data: blob:; media-src * data: blob: mediastream:; "
            f"connect-src * data: blob:; worker-src blob: 'self'; font-src * data:; frame-ancestors {ancestors}")


def vendor_bytes(name: str) -> bytes:
    item = VENDOR.joinpath(name)
    if not item.is_file():
        raise MissingDependencyError(
            f"{name} is not installed with this copy of Teachable: run `make vendor` (it needs Node.js's npm once).")
    return item.read_bytes()


def libraries_installed() -> bool:
    return all(VENDOR.joinpath(name).is_file() for name in VENDOR_FILES)


@page_router.get("/sketch/", include_in_schema=False)
def sketch_page(request: Request) -> Response:
    """The editor; of every page of the app, the one that may frame something: the sketch frame."""
    port = getattr(request.app.state, "sketch_frame_port", None)
    host = request.url.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    frames = f"{request.url.scheme}://{host}:{port}" if port else "'none'"
    return Response(STATIC.joinpath("sketch.html").read_bytes(), media_type="text/html",
                    headers={"Content-Security-Policy": f"{CSP}; frame-src {frames}"})


@page_router.get("/sketch", include_in_schema=False)
def sketch_redirect() -> Response:
    return Response(status_code=307, headers={"Location": "/sketch/"})


frame_router = APIRouter(tags=["sketches"])  # the second port's app: sketch_frame.py


@frame_router.get("/sketch/frame", include_in_schema=False)
def sketch_frame(request: Request) -> Response:
    origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
    # The runner is put inline, so the frame is one request; it accepts code only from the app's page.
    runner = STATIC.joinpath("sketch-runner.js").read_text("utf-8")
    runner = runner.replace('"__APP_PORT__"', json.dumps(str(request.app.state.app_port)))
    page = STATIC.joinpath("sketch-frame.html").read_text("utf-8").replace("/* sketch-runner.js */", runner)
    return Response(page.encode("utf-8"), media_type="text/html",
                    headers={"Content-Security-Policy": frame_policy(origin, request.app.state.app_port)})


def vendor_file(name: str) -> Response:
    """A packaged library, readable from the sketch frame's origin too."""
    if name not in VENDOR_FILES:
        raise NotFoundError(f"No library called {name[:60]!r} here.")
    return Response(vendor_bytes(name), media_type=VENDOR_FILES[name],
                    headers={"Cross-Origin-Resource-Policy": "cross-origin", "Access-Control-Allow-Origin": "*",
                             "Cache-Control": "max-age=86400"})


for _router in (page_router, frame_router):
    _router.add_api_route("/vendor/{name}", vendor_file, methods=["GET"], include_in_schema=False)


@page_router.get("/tls/authority.pem", include_in_schema=False)
def tls_authority(request: Request) -> Response:
    """The certificate authority of `teachable serve --https`, for students' browsers to trust."""
    path = getattr(request.app.state, "tls_authority", None)
    if path is None:
        raise NotFoundError("This server is not running with --https.")
    return Response(path.read_bytes(), media_type="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="teachable-authority.pem"'})


@page_router.get("/api/sketch/frame", response_model=dict, responses=ERRORS)
def frame_address(request: Request) -> dict:
    """Where the sketch page's frame is served: the port of the second listener (same host)."""
    port = getattr(request.app.state, "sketch_frame_port", None)
    if port is None:
        raise MissingDependencyError("This server runs no sketch frame (start it with `teachable serve`).")
    model = getattr(request.app.state, "sketch_model", None)  # serve-model: its one model, no projects
    return {"port": port, **({"model": model, "title": request.app.state.sketch_title} if model else {})}


class SketchIn(BaseModel):
    code: Annotated[str, Field(max_length=MAX_SKETCH_CHARS)]
    title: Annotated[str, Field(max_length=200)] = "Teachable sketch"


def libraries_for(code: str) -> list[str]:
    """The packaged files a sketch needs, in the order to load them (p5.js first: ml5.js hooks
    into it as it loads)."""
    names = ["p5.min.js"]
    if "ml5." in code:
        names.append("ml5.min.js")
    elif "tmImage." in code or "tf." in code:
        names.append("tf.min.js")
        if "tmImage." in code:
            names.append("teachablemachine-image.min.js")
    return names


def sketch_zip(code: str, title: str) -> bytes:
    """index.html + sketch.js + the libraries it uses + their licences: open index.html from any
    web server (python -m http.server) and the sketch runs as it did here."""
    libraries = libraries_for(code)
    scripts = "\n".join(f'  <script src="{name}"></script>' for name in libraries)
    index = (f'<!doctype html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>{_escape(title)}</title>\n'
             f'{scripts}\n</head>\n<body>\n  <script src="sketch.js"></script>\n</body>\n</html>\n')
    readme = ("This sketch was made in Teachable's sketch editor.\n\n"
              "Serve this folder with any web server and open it, for example:\n"
              "  python3 -m http.server 8080   then open http://localhost:8080/\n\n"
              "The model it loads must still be published (its URL is in sketch.js).\n"
              "Licences of the libraries: NOTICE.md.\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("sketch/index.html", index)
        archive.writestr("sketch/sketch.js", code)
        archive.writestr("sketch/README.txt", readme)
        for name in libraries + ["NOTICE.md"]:
            archive.writestr(f"sketch/{name}", vendor_bytes(name))
    return buffer.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def zip_response(code: str, title: str, file_name: str) -> Response:
    data = sketch_zip(code, title)
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in file_name)[:60] or "sketch"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}-sketch.zip"'})


@router.post("/api/projects/{project_id}/sketch.zip", response_class=Response, responses=ERRORS)
def download_sketch(h: ProjectDep, body: SketchIn) -> Response:
    """The sketch as a folder that runs elsewhere (zip): index.html, sketch.js, the libraries."""
    return zip_response(body.code, body.title, h.project.name)


@page_router.post("/api/sketch.zip", response_class=Response, responses=ERRORS)
def download_model_sketch(body: SketchIn) -> Response:
    """The same, for `teachable serve-model` (no projects there): titled as the body says."""
    return zip_response(body.code, body.title, body.title)

"""The HTTP API (everything the page does goes through it) and the static page itself."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import tempfile
import time
from contextlib import ExitStack, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, File, Form, Path as PathParam, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from .. import __version__
from ..classify.head import DEFAULTS
from ..classify.knn import DEFAULT_K
from ..embed import KEYPOINT_KINDS, media_type_of
from ..embed.preprocess import MAX_FILE_BYTES
from ..errors import ConflictError, InvalidImageError, NotFoundError, NothingDetectedError, TeachableError
from ..project import DEFAULT_CLASSES, EXTENSIONS
from ..store.workspace import Workspace
from .access import AccessMiddleware
from .common import error, install_common
from .projects import ProjectRegistry
from .thumbnails import ThumbnailCache

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_PROJECT_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_FILES_PER_UPLOAD = 200
MAX_PREDICT_BATCH = 64
MAX_WS_FRAME_BYTES = 2 * 1024 * 1024
# Ids are SQLite integers; anything outside this range names nothing (and is a 404, not a crash).
MAX_ID = 2**62
ClassId = Annotated[int, PathParam(ge=0, le=MAX_ID)]
SampleId = Annotated[int, PathParam(ge=0, le=MAX_ID)]
LIMITS = {
    "max_request_bytes": MAX_REQUEST_BYTES,
    "max_project_upload_bytes": MAX_PROJECT_UPLOAD_BYTES,
    "max_file_bytes": MAX_FILE_BYTES,
    "max_files_per_upload": MAX_FILES_PER_UPLOAD,
    "max_predict_batch": MAX_PREDICT_BATCH,
    "max_ws_frame_bytes": MAX_WS_FRAME_BYTES,
}


class ProjectCreate(BaseModel):
    name: str = Field(default="Untitled project", max_length=10_000)
    kind: Literal["image", "sound", "pose", "hand"] = "image"


class Rename(BaseModel):
    name: str = Field(max_length=10_000)


class Settings(BaseModel):
    classifier: Literal["head", "knn"] | None = None
    epochs: int | None = Field(default=None, ge=1, le=10_000)
    batch_size: int | None = Field(default=None, ge=1, le=65_536)
    learning_rate: float | None = Field(default=None, gt=0, le=10)
    k: int | None = Field(default=None, ge=1, le=1000)
    validation_split: float | None = Field(default=None, ge=0, lt=1)
    seed: int | None = None

    def given(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PredictJSON(BaseModel):
    image: str | None = None
    images: list[str] | None = None


async def images_from_request(request: Request) -> list[bytes]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_PREDICT_BATCH + 1)
        uploads = [v for _, v in form.multi_items() if hasattr(v, "read")]
        if len(uploads) > MAX_PREDICT_BATCH:
            raise TeachableError(f"At most {MAX_PREDICT_BATCH} images per request.")
        return [await u.read(MAX_FILE_BYTES + 1) for u in uploads]
    raw = await request.body()  # outside the try: a body over the limit must stay a 413
    try:
        body = PredictJSON.model_validate(json.loads(raw))
    except Exception:
        raise TeachableError("Send images as multipart files, or JSON {\"image\": base64} / {\"images\": [base64, ...]}.") from None
    encoded = ([body.image] if body.image else []) + (body.images or [])
    if len(encoded) > MAX_PREDICT_BATCH:
        raise TeachableError(f"At most {MAX_PREDICT_BATCH} images per request.")
    try:
        return [base64.b64decode(item.split(",", 1)[-1], validate=True) for item in encoded]
    except (binascii.Error, ValueError):
        raise InvalidImageError("An image is not valid base64.") from None


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
    thumbnails = ThumbnailCache()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        registry.close_all()

    app = FastAPI(
        title="Teachable",
        version=__version__,
        description="Train image classifiers from a few examples, locally. Errors are JSON: `{\"error\": message}`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.registry = registry

    install_common(app, limit_for=lambda path: MAX_PROJECT_UPLOAD_BYTES if path == "/api/projects/open" else MAX_REQUEST_BYTES)

    def handle(project_id: str):
        return registry.get(project_id)

    def project_summary(project_id: str) -> dict:
        h = handle(project_id)
        p = h.project
        models = p.models()
        current = next((m for m in reversed(models) if m.current), None)
        return {
            "id": project_id, "name": p.name, "kind": p.kind, "skeleton": skeleton_of(p.kind),
            "classes": [c.to_dict() for c in p.classes()],
            "settings": p.settings, "defaults": defaults(),
            "pending_embeddings": h.pending_embeddings(),
            "model": current.to_dict() if current else None,
            "training": h.job.to_dict(),
            "version": h.version,
        }

    def skeleton_of(kind: str) -> list | None:
        """Which landmarks the page joins with lines (pose and hand projects)."""
        if kind not in KEYPOINT_KINDS:
            return None
        from ..embed.keypoints import recipe

        return recipe(kind)["connections"]

    def defaults() -> dict:
        return {"classifier": "head", "epochs": DEFAULTS["epochs"], "batch_size": DEFAULTS["batch_size"],
                "learning_rate": DEFAULTS["learning_rate"], "k": DEFAULT_K,
                "validation_split": DEFAULTS["validation_split"], "seed": DEFAULTS["seed"]}

    # -- meta -----------------------------------------------------------------------------------
    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        return {"ok": True, "version": __version__, "limits": LIMITS}

    # -- projects -------------------------------------------------------------------------------
    @app.get("/api/projects", tags=["projects"])
    def list_projects() -> list[dict]:
        return [e.to_dict() for e in workspace.list()]

    @app.post("/api/projects", status_code=201, tags=["projects"])
    def create_project(body: ProjectCreate) -> dict:
        with workspace.create(body.name, kind=body.kind, default_classes=DEFAULT_CLASSES[body.kind]) as project:
            project_id = workspace.id_of(project.path)
        return project_summary(project_id)

    @app.post("/api/projects/open", status_code=201, tags=["projects"])
    async def open_project_file(file: UploadFile = File(...)) -> dict:
        """Upload a project file (as saved by 'Save to file') into the workspace."""
        fd, tmp = tempfile.mkstemp(suffix=".teachable-project", dir=workspace.root)
        try:
            with os.fdopen(fd, "wb") as out:
                total = 0
                while chunk := await file.read(1 << 20):
                    total += len(chunk)
                    if total > MAX_PROJECT_UPLOAD_BYTES:
                        return error(413, "The project file is too large.")
                    out.write(chunk)
            project_id = await asyncio.to_thread(workspace.add_file, Path(tmp))
        finally:
            for extra in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
                if os.path.exists(extra):
                    os.unlink(extra)
        return project_summary(project_id)

    @app.get("/api/projects/{project_id}", tags=["projects"])
    def get_project(project_id: str) -> dict:
        return project_summary(project_id)

    @app.patch("/api/projects/{project_id}", tags=["projects"])
    def rename_project(project_id: str, body: Rename) -> dict:
        if handle(project_id).training:  # renaming closes the project, and would lose the run
            raise ConflictError("This project is training; rename it when training has finished.")
        registry.close(project_id)
        new_id = workspace.rename(project_id, body.name)
        return project_summary(new_id)

    @app.delete("/api/projects/{project_id}", status_code=204, tags=["projects"])
    def delete_project(project_id: str) -> Response:
        workspace.path_of(project_id)
        registry.close(project_id)
        workspace.delete(project_id)
        return Response(status_code=204)

    @app.post("/api/projects/{project_id}/duplicate", status_code=201, tags=["projects"])
    def duplicate_project(project_id: str) -> dict:
        handle(project_id)
        return project_summary(workspace.duplicate(project_id))

    @app.get("/api/projects/{project_id}/file", tags=["projects"])
    def download_project(project_id: str):
        """The whole project as one file, to keep or share ('Save to file')."""
        h = handle(project_id)
        fd, tmp = tempfile.mkstemp(suffix=".teachable-project")
        os.close(fd)
        os.unlink(tmp)
        h.project.save_copy(Path(tmp))
        return FileResponse(tmp, media_type="application/vnd.sqlite3", filename=f"{project_id}.teachable-project",
                            background=BackgroundTask(os.unlink, tmp))

    @app.put("/api/projects/{project_id}/settings", tags=["projects"])
    def put_settings(project_id: str, body: Settings) -> dict:
        h = handle(project_id)
        settings = h.project.update_settings(**body.given())
        h.version += 1
        return settings

    # -- classes --------------------------------------------------------------------------------
    @app.post("/api/projects/{project_id}/classes", status_code=201, tags=["classes"])
    def add_class(project_id: str, body: Rename) -> dict:
        h = handle(project_id)
        info = h.project.add_class(body.name)
        h.samples_changed()
        return info.to_dict()

    @app.patch("/api/projects/{project_id}/classes/{class_id}", tags=["classes"])
    def rename_class(project_id: str, class_id: ClassId, body: Rename) -> dict:
        h = handle(project_id)
        info = h.project.rename_class(class_id, body.name)
        h.samples_changed()
        return info.to_dict()

    @app.delete("/api/projects/{project_id}/classes/{class_id}", status_code=204, tags=["classes"])
    def delete_class(project_id: str, class_id: ClassId) -> Response:
        h = handle(project_id)
        h.project.remove_class(class_id)
        h.samples_changed()
        return Response(status_code=204)

    @app.post("/api/projects/{project_id}/classes/{class_id}/clear", tags=["classes"])
    def clear_class(project_id: str, class_id: ClassId) -> dict:
        h = handle(project_id)
        removed = h.project.clear_class(class_id)
        h.samples_changed()
        return {"removed": removed}

    # -- samples --------------------------------------------------------------------------------
    @app.get("/api/projects/{project_id}/classes/{class_id}/samples", tags=["samples"])
    def list_samples(project_id: str, class_id: ClassId) -> list[dict]:
        return [s.to_dict() for s in handle(project_id).project.samples(class_id)]

    @app.post("/api/projects/{project_id}/classes/{class_id}/samples", status_code=201, tags=["samples"])
    async def upload_samples(
        project_id: str,
        class_id: ClassId,
        files: Annotated[list[UploadFile], File(description="image files")],
        source: Annotated[Literal["webcam", "microphone", "upload"], Form()] = "upload",
    ) -> dict:
        """Add images to a class. Good files are stored even when others in the batch are bad;
        each bad one is listed in `errors`. Embeddings are computed in the background."""
        h = handle(project_id)
        h.project.class_info(class_id)
        if len(files) > MAX_FILES_PER_UPLOAD:
            return error(413, f"At most {MAX_FILES_PER_UPLOAD} files per upload; this one has {len(files)}.")
        names, payloads = [], []
        for upload in files:
            data = await upload.read(MAX_FILE_BYTES + 1)
            names.append(upload.filename or "upload")
            payloads.append(data)
        errors: list[dict] = []
        ids = await asyncio.to_thread(
            h.project.add_samples, class_id, payloads, source, False,
            lambda index, exc: errors.append({"file": names[index], "error": str(exc)}), names,
        )
        h.samples_changed()
        if not ids and errors:
            return JSONResponse({"error": errors[0]["error"], "errors": errors, "ids": []}, status_code=422)
        return {"ids": ids, "errors": errors, "class": h.project.class_info(class_id).to_dict()}

    @app.get("/api/projects/{project_id}/samples/{sample_id}/image", tags=["samples"])
    @app.get("/api/projects/{project_id}/samples/{sample_id}/data", tags=["samples"])
    def sample_data(project_id: str, sample_id: SampleId) -> Response:
        """The sample's original bytes (a photo, or a sound to play back)."""
        p = handle(project_id).project
        data = p.sample_bytes(sample_id)
        media_type = media_type_of(p.kind, data)  # what the bytes are, never what a file says
        if media_type is None:
            raise InvalidImageError(f"Sample {sample_id} is not a picture or sound Teachable can show.")
        name = f"sample-{sample_id}{EXTENSIONS.get(media_type, '')}"
        return Response(data, media_type=media_type, headers={
            "Cache-Control": "private, max-age=86400",
            "Content-Disposition": f'inline; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        })

    @app.get("/api/projects/{project_id}/samples/{sample_id}/thumbnail", tags=["samples"])
    def sample_thumbnail(project_id: str, sample_id: SampleId, size: int = 96) -> Response:
        """A small square picture: the photo (with the skeleton in pose and hand projects), or a
        sound's spectrogram."""
        p = handle(project_id).project
        info = p.sample(sample_id)
        jpeg = thumbnails.get(p.kind, info.sha256, max(16, min(size, 256)), lambda: p.sample_bytes(sample_id))
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @app.delete("/api/projects/{project_id}/samples/{sample_id}", status_code=204, tags=["samples"])
    def delete_sample(project_id: str, sample_id: SampleId) -> Response:
        h = handle(project_id)
        h.project.remove_sample(sample_id)
        h.samples_changed()
        return Response(status_code=204)

    # -- training and models --------------------------------------------------------------------
    @app.post("/api/projects/{project_id}/train", status_code=202, tags=["training"])
    def train(project_id: str, body: Settings | None = None) -> dict:
        """Start training in the background with these settings (saved to the project)."""
        h = handle(project_id)
        return h.start_training(body.given() if body else {}).to_dict()

    @app.get("/api/projects/{project_id}/train", tags=["training"])
    def training_status(project_id: str) -> dict:
        h = handle(project_id)
        return {**h.job.to_dict(), "pending_embeddings": h.pending_embeddings()}

    @app.get("/api/projects/{project_id}/models", tags=["models"])
    def list_models(project_id: str) -> list[dict]:
        return [m.to_dict() for m in handle(project_id).project.models()]

    def model_bytes(project_id: str, model_id: str) -> bytes:
        p = handle(project_id).project
        if model_id == "current":
            return p.model_bytes()
        if model_id.isascii() and model_id.isdecimal() and len(model_id) <= 18:
            return p.model_bytes(int(model_id))
        raise NotFoundError(f"There is no model {model_id!r}.")

    @app.get("/api/projects/{project_id}/models/{model_id}/download", tags=["models"])
    def download_model(project_id: str, model_id: str) -> Response:
        """A `.teachable` model file; `current` for the newest."""
        return Response(model_bytes(project_id, model_id), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{project_id}.teachable"'})

    @app.get("/api/projects/{project_id}/models/{model_id}/export", tags=["models"])
    async def export_model(project_id: str, model_id: str, format: Literal["onnx"] = "onnx") -> Response:
        """The model for use outside Teachable: a zip with model.onnx, metadata.json, labels.txt
        and ready-to-run examples (predict.py, predict.mjs, index.html)."""
        from ..export.bundle import bundle_zip
        from ..modelfile import model_from_bytes

        data = await asyncio.to_thread(lambda: bundle_zip(model_from_bytes(model_bytes(project_id, model_id))))
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{project_id}-{format}.zip"'})

    # -- prediction -----------------------------------------------------------------------------
    @app.post("/api/projects/{project_id}/predict", tags=["prediction"])
    async def predict(project_id: str, request: Request, source: Literal["model", "live"] = "model") -> dict:
        """Classify images (or sounds, in a sound project) with the project's current model
        (`source=live`: what the preview uses).

        Send multipart files (any field name) or JSON `{"image": base64}` / `{"images": [...]}`."""
        h = handle(project_id)
        images = await images_from_request(request)
        if not images:
            raise TeachableError("No image was sent.")
        # The model first (off the event loop: loading is slow): a model that cannot load
        # costs no embedding.
        model = await asyncio.to_thread(h.current_model) if source == "model" else None
        backbone = h.backbone()
        found = []
        if h.project.kind in KEYPOINT_KINDS:  # the page draws the skeleton it found
            pairs = await asyncio.to_thread(lambda: [backbone.embed_with_landmarks(x) for x in images])
            embeddings = np.stack([vector for vector, _ in pairs])
            found = [landmarks.to_dict() for _, landmarks in pairs]
        else:
            embeddings = await asyncio.to_thread(backbone.embed, images)
        if source == "live":
            predictions = await asyncio.to_thread(h.predict_embeddings, embeddings)
        else:
            predictions = model.predict_embeddings(embeddings)
        replies = [p.to_dict() for p in predictions]
        for reply, landmarks in zip(replies, found):
            reply["landmarks"] = landmarks
        return {"predictions": replies}

    @app.websocket("/api/projects/{project_id}/live")
    async def live(websocket: WebSocket, project_id: str, mode: Literal["predict", "landmarks"] = "predict"):
        """Send JPEG frames (sound projects: one-second WAV clips) as binary messages; receive
        `{label, confidences, ms, dropped}` per frame processed. Frames that arrive while one is
        being processed replace each other: only the newest is used, so a slow server never
        builds a queue.

        Pose and hand projects add `landmarks` (`{points: [[x, y, visibility], ...]}`, x and y
        as fractions of the frame) and follow the person from frame to frame (MediaPipe's video
        mode). With `?mode=landmarks` only the landmarks come back (the capture view uses it
        before anything can be classified)."""
        await websocket.accept()
        try:
            h = handle(project_id)
        except TeachableError as exc:
            await websocket.send_json({"error": str(exc)})
            await websocket.close(code=4404)
            return
        try:
            backbone = h.backbone()
        except TeachableError as exc:
            await websocket.send_json({"error": str(exc)})
            await websocket.close(code=4501)
            return
        tracking = ExitStack()  # a video-mode landmark detector for this stream only
        tracker = tracking.enter_context(backbone.tracker()) if h.project.kind in KEYPOINT_KINDS else None
        latest: dict = {"frame": None, "dropped": 0}
        ready = asyncio.Event()
        done = False

        async def receive() -> None:
            nonlocal done
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    frame = message.get("bytes")
                    if frame is None:
                        continue
                    if len(frame) > MAX_WS_FRAME_BYTES:
                        await websocket.send_json({"error": f"Frames must be at most {MAX_WS_FRAME_BYTES:,} bytes."})
                        continue
                    if latest["frame"] is not None:
                        latest["dropped"] += 1
                    latest["frame"] = (frame, time.perf_counter())
                    ready.set()
            finally:
                done = True
                ready.set()

        receiver = asyncio.create_task(receive())
        try:
            while True:
                await ready.wait()
                ready.clear()
                if done:
                    break
                item, latest["frame"] = latest["frame"], None
                if item is None:
                    continue
                if h.closed:  # deleted or renamed meanwhile: this stream has nothing left to show
                    await websocket.send_json({"error": "This project was closed (renamed or deleted); reopen it."})
                    await websocket.close(code=4410)
                    break
                frame, received = item
                reply: dict = {}
                try:
                    if tracker is not None:
                        embedding, landmarks = await asyncio.to_thread(backbone.embed_with_landmarks, frame, tracker)
                        reply["landmarks"] = landmarks.to_dict()
                    else:
                        embedding = await asyncio.to_thread(backbone.embed_one, frame)
                    if mode == "predict":
                        [prediction] = await asyncio.to_thread(h.predict_embeddings, embedding[None])
                        reply.update(prediction.to_dict())
                    reply.update(ms=round((time.perf_counter() - received) * 1000, 1), dropped=latest["dropped"])
                except NothingDetectedError as exc:
                    reply = {"error": str(exc), "nothing_detected": True}
                except TeachableError as exc:
                    reply["error"] = str(exc)
                await websocket.send_json(reply)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            receiver.cancel()
            tracking.close()

    # -- access: outermost, so nothing runs for a request that is not allowed --------------------
    if allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(allow_origins), allow_methods=["*"],
                           allow_headers=["*"], allow_credentials=False)
    app.add_middleware(AccessMiddleware, token=token, allowed_hosts=allowed_hosts, allowed_origins=tuple(allow_origins))

    # -- API docs, served from the swagger-ui-bundle package (no CDN) ----------------------------
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Teachable API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    # -- the page -------------------------------------------------------------------------------
    static = resources.files("teachable.server").joinpath("static")

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(static.joinpath("index.html").read_bytes(), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    return app

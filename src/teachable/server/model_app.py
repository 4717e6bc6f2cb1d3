"""`teachable serve-model`: one `.teachable` model file behind the same predict endpoint shape."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from fastapi.staticfiles import StaticFiles

from ..version import __version__
from ..model import Model
from .access import AccessMiddleware
from .common import install_common
from .docs import install_docs
from .deps import Images, ImagesDep
from .limits import MAX_REQUEST_BYTES
from .routes.publishing import preflight, published_file
from .routes.sketches import page_router
from .schemas import ERRORS, PredictionsOut


def create_model_app(model_path: str | Path, device: str = "auto", token: str | None = None,
                     allowed_hosts: set[str] | None = None) -> FastAPI:
    model = Model.load(model_path, device)
    backbone = model.backbone  # the model's own kind: image, sound, pose or hand
    app = FastAPI(title="Teachable model server", version=__version__,
                  description=f"Serves {Path(model_path).name}: classes {', '.join(model.labels)}. "
                              "Errors are JSON: `{\"error\": message}`.", docs_url=None, redoc_url=None)
    install_common(app, limit_for=lambda path: MAX_REQUEST_BYTES)
    install_docs(app, favicon="/docs-assets/favicon-32x32.png")
    app.add_middleware(AccessMiddleware, token=token, allowed_hosts=allowed_hosts)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        return {"ok": True, "version": __version__, "labels": model.labels, "classifier": model.classifier.kind}

    async def predict(images: Images, explain: bool, k: int) -> dict:
        if hasattr(backbone, "recording_embeddings"):  # a sound model answers each recording whole
            recordings = await asyncio.to_thread(images.each, backbone.recording_embeddings)
            return {"predictions": [model.predict_recording(vectors, starts, explain, k).to_dict()
                                    for vectors, starts in recordings]}
        embeddings = await asyncio.to_thread(images.embed, backbone)
        return {"predictions": [p.to_dict() for p in model.predict_embeddings(embeddings, explain, k)]}

    @app.post("/api/predict", tags=["prediction"], response_model=PredictionsOut, response_model_exclude_none=True, responses=ERRORS)
    async def predict_plain(images: ImagesDep, explain: bool = False, k: Annotated[int, Query(ge=1, le=20)] = 3) -> dict:
        """Classify images: multipart files (any field name) or JSON `{"image": base64}` / `{"images": [...]}`.
        `explain=true`: each prediction also names the `k` training samples it resembles most."""
        return await predict(images, explain, k)

    @app.post("/api/projects/{project_id}/predict", tags=["prediction"], response_model=PredictionsOut, response_model_exclude_none=True, responses=ERRORS)
    async def predict_like_serve(project_id: str, images: ImagesDep, explain: bool = False,
                                 k: Annotated[int, Query(ge=1, le=20)] = 3) -> dict:
        """The same as `/api/predict`, at the path `teachable serve` uses (any project id)."""
        return await predict(images, explain, k)

    tfjs: dict[str, bytes] = {}

    @app.api_route("/tm/{file_name}", methods=["GET", "HEAD"], tags=["published model"], response_class=Response,
                   responses=ERRORS)
    async def published(file_name: str) -> Response:
        """The model as Teachable Machine's TensorFlow.js files (image models with a trained head), readable
        from any origin: point `tmImage.load`, `ml5.imageClassifier` or `tf.loadLayersModel` at `/tm/`."""
        if not tfjs:
            from ..export.tfjs import tfjs_files

            tfjs.update(await asyncio.to_thread(tfjs_files, model, Path(model_path).stem))
        return published_file(tfjs, file_name)

    @app.options("/tm/{file_name}", include_in_schema=False)
    def published_preflight(file_name: str, request: Request) -> Response:
        return preflight(request)

    # The sketch page, with the served model as its model (image models with a trained head).
    app.state.sketch_model = "/tm/"
    app.state.sketch_title = Path(model_path).stem
    app.include_router(page_router)
    app.mount("/static", StaticFiles(directory=str(resources.files("teachable.server").joinpath("static"))), name="static")
    return app

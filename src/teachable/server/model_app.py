"""`teachable serve-model`: one `.teachable` model file behind the same predict endpoint shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI, Request

from .. import __version__
from ..errors import TeachableError
from ..modelfile import read_model
from .app import MAX_REQUEST_BYTES, images_from_request
from .access import AccessMiddleware
from .common import install_common


def create_model_app(model_path: str | Path, device: str = "auto", token: str | None = None,
                     allowed_hosts: set[str] | None = None) -> FastAPI:
    model = read_model(model_path, device)
    backbone = model.backbone  # the model's own kind: image, sound, pose or hand
    app = FastAPI(title="Teachable model server", version=__version__,
                  description=f"Serves {Path(model_path).name}: classes {', '.join(model.labels)}. "
                              "Errors are JSON: `{\"error\": message}`.")
    install_common(app, limit_for=lambda path: MAX_REQUEST_BYTES)
    app.add_middleware(AccessMiddleware, token=token, allowed_hosts=allowed_hosts)

    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        return {"ok": True, "version": __version__, "labels": model.labels, "classifier": model.classifier.kind}

    async def predict(request: Request) -> dict:
        images = await images_from_request(request)
        if not images:
            raise TeachableError("No image was sent.")
        embeddings = await asyncio.to_thread(backbone.embed, images)
        return {"predictions": [p.to_dict() for p in model.predict_embeddings(embeddings)]}

    @app.post("/api/predict", tags=["prediction"])
    async def predict_plain(request: Request) -> dict:
        """Classify images: multipart files (any field name) or JSON `{"image": base64}` / `{"images": [...]}`."""
        return await predict(request)

    @app.post("/api/projects/{project_id}/predict", tags=["prediction"])
    async def predict_like_serve(project_id: str, request: Request) -> dict:
        """The same as `/api/predict`, at the path `teachable serve` uses (any project id)."""
        return await predict(request)

    return app

"""Trained models: list, download as `.teachable`, export for use outside Teachable."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Response

from ...errors import NotFoundError
from ...model import Model
from ..deps import ProjectDep
from ..projects import OpenProject
from ..schemas import ERRORS, ModelOut

router = APIRouter(prefix="/api/projects/{project_id}/models", tags=["models"], responses=ERRORS)


def model_bytes(h: OpenProject, model_id: str) -> bytes:
    """A model's file: ``current`` for the newest, else its number."""
    if model_id == "current":
        return h.project.model_bytes()
    if model_id.isascii() and model_id.isdecimal() and len(model_id) <= 18:
        return h.project.model_bytes(int(model_id))
    raise NotFoundError(f"There is no model {model_id[:40]!r}.")


@router.get("", response_model=list[ModelOut])
def list_models(h: ProjectDep) -> list[dict]:
    return [m.to_dict() for m in h.project.models()]


@router.get("/{model_id}/download", response_class=Response)
def download_model(project_id: str, h: ProjectDep, model_id: str) -> Response:
    """A `.teachable` model file; `current` for the newest."""
    return Response(model_bytes(h, model_id), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{project_id}.teachable"'})


@router.get("/{model_id}/export", response_class=Response)
async def export_model(project_id: str, h: ProjectDep, model_id: str,
                       format: Literal["onnx", "tfjs", "keras"] = "onnx") -> Response:
    """The model for use outside Teachable, as a zip. `onnx`: model.onnx, metadata.json, labels.txt
    and ready-to-run examples (predict.py, predict.mjs, index.html). `tfjs` (image models with a
    trained head): Teachable Machine's model.json, weights.bin and metadata.json. `keras` (the same):
    Teachable Machine's keras_model.h5 and labels.txt, for Keras 2 and 3."""
    from ...export.bundle import bundle_zip

    name = h.project.name
    data = await asyncio.to_thread(lambda: bundle_zip(Model.from_bytes(model_bytes(h, model_id)), format, model_name=name))
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{project_id}-{format}.zip"'})

"""Training: start a run in the background, follow it."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import ProjectDep
from ..schemas import ERRORS, SettingsIn, TrainingJobOut, TrainingStatusOut

router = APIRouter(prefix="/api/projects/{project_id}/train", tags=["training"], responses=ERRORS)


@router.post("", status_code=202, response_model=TrainingJobOut)
def train(h: ProjectDep, body: SettingsIn | None = None) -> dict:  # type: ignore[valid-type]
    """Start training in the background with these settings (saved to the project once the
    run is accepted)."""
    return h.start_training(body.given() if body else {}).to_dict()


@router.get("", response_model=TrainingStatusOut)
def training_status(h: ProjectDep) -> dict:
    return {**h.job.to_dict(), "pending_embeddings": h.pending_embeddings()}

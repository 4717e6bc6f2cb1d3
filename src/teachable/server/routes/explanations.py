"""Why the model answers as it does: the review of a project's samples, and where in a photo, a
clip or a body the answer comes from. The work is explain/'s; these only translate."""

from __future__ import annotations

import asyncio
import base64

from fastapi import APIRouter, Response

from ...errors import InvalidImageError
from ...explain.memory import sample_id_of
from ..deps import ImagesDep, ProjectDep
from ..schemas import ERRORS, FineIn, HeatmapOut, ReviewOut, TestOut

router = APIRouter(prefix="/api/projects/{project_id}", tags=["explanations"], responses=ERRORS)


@router.get("/review", response_model=ReviewOut, response_model_exclude_none=True)
async def review(h: ProjectDep) -> dict:
    """Samples to look at again (possibly mislabelled, near duplicates, outliers), each with its
    reason, and hints about the classes; samples marked fine are left out. Embeddings still
    missing are computed first."""
    result = await asyncio.to_thread(h.review)
    flags = []
    for flag in result.flags:
        item = flag.to_dict()
        item["sample_id"] = sample_id_of(flag.source)
        if flag.duplicate_of:
            item["duplicate_of_id"] = sample_id_of(flag.duplicate_of)
        for voter in item.get("voters", []):
            voter["sample_id"] = sample_id_of(voter["source"])
        flags.append(item)
    summary = result.summary()
    del summary["summary"]
    classes = len(result.shares[0]) if result.samples else 0
    confusion: list[list[list[int]]] = [[[] for _ in range(classes)] for _ in range(classes)]
    for source, label, predicted in zip(result.sources, result.labels, result.predicted):
        confusion[int(label)][int(predicted)].append(sample_id_of(source))
    return {"flags": flags, **summary, "confusion": confusion}


@router.get("/test", response_model=TestOut, response_model_exclude_none=True)
async def test_set(h: ProjectDep) -> dict:
    """The current model on the classes' test sets (samples never trained on): accuracy, per class,
    the confusion matrix with the samples of each cell, and the test samples it gets wrong with
    the training samples each resembles most."""
    from ...explain.samples import test_report

    model = await asyncio.to_thread(h.current_model)
    return await asyncio.to_thread(test_report, h.project, model)


@router.post("/review/fine", status_code=204)
def mark_fine(h: ProjectDep, body: FineIn) -> Response:
    """Remember that a flagged sample is fine: the review stops flagging it for that reason."""
    h.project.sample(body.sample_id)
    h.project.review_marks.mark_fine(body.sample_id, body.reason)
    return Response(status_code=204)


@router.post("/explain", response_model=HeatmapOut, response_model_exclude_none=True)
async def explain(h: ProjectDep, images: ImagesDep, label: str | None = None) -> dict:
    """Where the current model's answer for one photo (or sound clip) comes from: a heatmap over
    the photo, the clip's windows that mattered, or the landmarks of a pose or hand. `label`:
    explain that class instead of the predicted one."""
    from ...explain.heatmap import explain as explaining
    from ...explain.heatmap import picture_png

    model = await asyncio.to_thread(h.current_model)

    def run() -> dict:
        try:
            heatmap, drawn_on = explaining(model, images[0], label)
        except InvalidImageError as exc:
            raise images.named(0, exc) from None
        out = heatmap.to_dict()
        out["picture"] = "data:image/png;base64," + base64.b64encode(picture_png(heatmap, drawn_on, images[0])).decode()
        if isinstance(drawn_on, dict):
            out["landmarks"] = drawn_on
        return out

    return await asyncio.to_thread(run)

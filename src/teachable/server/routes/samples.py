"""Samples: upload into a class, list, fetch (original bytes or a thumbnail), delete."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.responses import JSONResponse

from ...embed.preprocess import MAX_FILE_BYTES
from ...errors import InvalidImageError, NothingDetectedError
from ...kinds import EXTENSIONS
from ..common import error
from ..deps import ClassId, ProjectDep, SampleId, ThumbnailsDep
from ..limits import MAX_FILES_PER_UPLOAD
from ..schemas import ERRORS, MoveIn, SampleOut, UploadOut

router = APIRouter(prefix="/api/projects/{project_id}", tags=["samples"], responses=ERRORS)


@router.get("/classes/{class_id}/samples", response_model=list[SampleOut], response_model_exclude_none=True)
def list_samples(h: ProjectDep, class_id: ClassId) -> list[dict]:
    samples = [s.to_dict() for s in h.project.samples(class_id)]
    if h.project.rules.keypoints and samples:  # which are frames with nobody (no hand) in view
        from ...embed.keypoints import is_nobody

        vectors, _, ids = h.project.embeddings()
        nobody = dict(zip(ids, is_nobody(vectors))) if len(ids) else {}
        for sample in samples:
            sample["nobody"] = bool(nobody.get(sample["id"], False))
    return samples


@router.post("/classes/{class_id}/samples", status_code=201, response_model=UploadOut)
async def upload_samples(
    h: ProjectDep,
    class_id: ClassId,
    files: Annotated[list[UploadFile], File(description="image or sound files")],
    source: Annotated[Literal["webcam", "microphone", "upload"], Form()] = "upload",
    set: Annotated[Literal["train", "test"], Form(description="`test`: into the class's test set, never trained on")] = "train",
):
    """Add files to a class (or, with `set=test`, to its test set). Good files are stored even
    when others in the batch are bad; each bad one is listed in `errors`. Embeddings are computed
    in the background."""
    h.project.class_info(class_id)
    if len(files) > MAX_FILES_PER_UPLOAD:
        return error(413, f"At most {MAX_FILES_PER_UPLOAD} files per upload; this one has {len(files)}.")
    names, payloads = [], []
    for upload in files:
        payloads.append(await upload.read(MAX_FILE_BYTES + 1))
        names.append(upload.filename or "upload")
    errors: list[dict] = []
    ids, added = await asyncio.to_thread(
        h.project.store_samples, class_id, payloads, source, False,
        lambda index, exc: errors.append({"file": names[index], "error": str(exc),
                                          "nothing_detected": isinstance(exc, NothingDetectedError)}), names, set == "test",
    )
    h.samples_changed()
    if not ids and errors:
        return JSONResponse({"error": errors[0]["error"], "errors": errors, "ids": []}, status_code=422)
    return {"ids": ids, "added": added, "duplicates": len(ids) - added, "errors": errors,
            "nobody": await asyncio.to_thread(nobody_among, h, ids), "class": h.project.class_info(class_id).to_dict()}


def nobody_among(h, ids: list[int]) -> int:
    """How many of the uploaded pose or hand pictures (one id each, a copy's id repeated) are frames
    with nobody (no hand) in view: counted by picture, so the page's counts add up."""
    if not ids or not h.project.rules.keypoints:
        return 0
    from ...embed.keypoints import is_nobody

    empty = {i for i in set(ids) if len(vector := h.project.embeddings_of([i])) and is_nobody(vector).all()}
    return sum(i in empty for i in ids)


@router.get("/samples/{sample_id}/image", response_class=Response, include_in_schema=False)
@router.get("/samples/{sample_id}/data", response_class=Response)
def sample_data(h: ProjectDep, sample_id: SampleId) -> Response:
    """The sample's original bytes (a photo, or a sound to play back), served as what the bytes
    are — never as a type a file claims."""
    p = h.project
    data = p.sample_bytes(sample_id)
    media_type = p.rules.media_type_of(data)
    if media_type is None:
        raise InvalidImageError(f"Sample {sample_id} is not a picture or sound Teachable can show.")
    return Response(data, media_type=media_type, headers={
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": f'inline; filename="sample-{sample_id}{EXTENSIONS.get(media_type, "")}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
    })


@router.get("/samples/{sample_id}/thumbnail", response_class=Response)
def sample_thumbnail(h: ProjectDep, sample_id: SampleId, thumbnails: ThumbnailsDep, size: int = 96) -> Response:
    """A small square JPEG: the photo (with the skeleton in pose and hand projects), or a
    sound's spectrogram."""
    p = h.project
    info = p.sample(sample_id)
    jpeg = thumbnails.get(p.rules, info.sha256, max(16, min(size, 256)), lambda: p.sample_bytes(sample_id))
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


@router.post("/samples/{sample_id}/move", response_model=SampleOut)
def move_sample(h: ProjectDep, sample_id: SampleId, body: MoveIn) -> dict:
    """Move a sample to another class (the review's "move to the suggested class")."""
    h.project.move_sample(sample_id, body.class_id)
    h.samples_changed()
    return h.project.sample(sample_id).to_dict()


@router.delete("/samples/{sample_id}", status_code=204)
def delete_sample(h: ProjectDep, sample_id: SampleId) -> Response:
    h.project.remove_sample(sample_id)
    h.samples_changed()
    return Response(status_code=204)

"""Typed dependencies of the routes: the workspace, an open project from its id, the images
of a request. A route names what it needs; FastAPI hands it over (or answers the error)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import BaseModel

from ..embed.preprocess import MAX_FILE_BYTES
from ..errors import InvalidImageError, TeachableError
from ..workspace import Workspace
from .limits import MAX_ID, MAX_PREDICT_BATCH
from .projects import OpenProject, ProjectRegistry
from .thumbnails import ThumbnailCache

ClassId = Annotated[int, Path(ge=0, le=MAX_ID)]
SampleId = Annotated[int, Path(ge=0, le=MAX_ID)]


def get_registry(request: Request) -> ProjectRegistry:
    return request.app.state.registry


def get_workspace(request: Request) -> Workspace:
    return request.app.state.registry.workspace


def get_thumbnails(request: Request) -> ThumbnailCache:
    return request.app.state.thumbnails


def get_project(project_id: str, registry: Annotated[ProjectRegistry, Depends(get_registry)]) -> OpenProject:
    """The open project named by the path's ``project_id`` (404 when there is none)."""
    return registry.get(project_id)


class Images(list):
    """The images (or sounds) of a request, as bytes, with the names to call them by in errors."""

    def __init__(self, items: list[bytes], names: list[str]) -> None:
        super().__init__(items)
        self.names = names

    def named(self, index: int, exc: InvalidImageError) -> InvalidImageError:
        """The error of one item, saying which item it is."""
        return type(exc)(f"{self.names[index]} (item {index + 1} of {len(self)}): {exc}")

    def embed(self, backbone):
        """Their embeddings; one that cannot be read fails the request, named."""
        errors: list[tuple[int, Exception]] = []
        embeddings, _ = backbone.embed_many(list(self), on_error=lambda i, exc: errors.append((i, exc)))
        if errors:
            raise self.named(*errors[0])
        return embeddings

    def each(self, function) -> list:
        """``function`` of every item; one that cannot be read fails the request, named."""
        results = []
        for index, item in enumerate(self):
            try:
                results.append(function(item))
            except InvalidImageError as exc:
                raise self.named(index, exc) from None
        return results


class PredictJSON(BaseModel):
    image: str | None = None
    images: list[str] | None = None


async def images_from_request(request: Request) -> Images:
    """Images sent as multipart files (any field name) or as JSON ``{"image": base64}`` /
    ``{"images": [base64, ...]}``; at most MAX_PREDICT_BATCH."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=MAX_PREDICT_BATCH + 1)
        uploads = [v for _, v in form.multi_items() if hasattr(v, "read")]
        if len(uploads) > MAX_PREDICT_BATCH:
            raise TeachableError(f"At most {MAX_PREDICT_BATCH} images per request.")
        images = [await u.read(MAX_FILE_BYTES + 1) for u in uploads]
        if not images:
            raise TeachableError("No image was sent.")
        return Images(images, [f"'{u.filename or 'file'}'" for u in uploads])
    raw = await request.body()  # outside the try: a body over the limit must stay a 413
    try:
        body = PredictJSON.model_validate(json.loads(raw))
    except Exception:
        raise TeachableError("Send images as multipart files, or JSON {\"image\": base64} / {\"images\": [base64, ...]}.") from None
    encoded = ([body.image] if body.image else []) + (body.images or [])
    if len(encoded) > MAX_PREDICT_BATCH:
        raise TeachableError(f"At most {MAX_PREDICT_BATCH} images per request.")
    try:
        images = [base64.b64decode(item.split(",", 1)[-1], validate=True) for item in encoded]
    except (binascii.Error, ValueError):
        raise InvalidImageError("An image is not valid base64.") from None
    if not images:
        raise TeachableError("No image was sent.")
    return Images(images, [f"image {i + 1}" for i in range(len(images))])


RegistryDep = Annotated[ProjectRegistry, Depends(get_registry)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
ThumbnailsDep = Annotated[ThumbnailCache, Depends(get_thumbnails)]
ProjectDep = Annotated[OpenProject, Depends(get_project)]
ImagesDep = Annotated[Images, Depends(images_from_request)]

"""Bulk work on Ray Data: folders of files predicted, and projects' imports embedded, by actors that
each load the backbone (and the model) once, on the cluster's CPUs or GPUs.

Both stream: rows come back as actors finish batches, so progress shows and a long job keeps what
it did (predictions are written as they come, an import commits each window of embeddings). A file
that cannot be read is a row with its error, never a failed job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..embed import IMAGE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1, BACKBONE_DIMS, local_backbone, route_backbones
from ..embed.interface import ErrorCallback, ProgressCallback, gather
from ..embed.queue import REQUEST
from ..errors import InvalidImageError
from .cluster import connect, has_gpus, require_ray
from .routed import RoutedBackbone

BATCH = 16  # files per actor call
# Samples of an import per Ray Data job: each job commits its embeddings, and holds its samples' bytes
# on this machine meanwhile (512 phone photos: ~1-2 GB at most; each job loads the network once per actor).
WINDOW = 512


def _resources(gpus: bool | None) -> dict[str, Any]:
    """Per actor: one GPU where the cluster has them (and gpus is not False), else one CPU."""
    use = has_gpus() if gpus is None else gpus
    return {"num_gpus": 1, "num_cpus": 1} if use else {"num_cpus": 1}


class EmbedActor:
    """Ray Data actor: a backbone loaded once, batches of sample bytes -> embeddings or errors."""

    def __init__(self, backbone_id: str, device: str) -> None:
        self.backbone = local_backbone(backbone_id, device)
        self.dim = BACKBONE_DIMS[backbone_id]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        answers = self.backbone.embed_frames([bytes(x) for x in batch["data"]], REQUEST)
        vectors = np.zeros((len(answers), self.dim), np.float32)
        problems = []
        for i, answer in enumerate(answers):
            if isinstance(answer, InvalidImageError):
                problems.append(str(answer))
            else:
                vectors[i] = answer
                problems.append("")
        return {"position": batch["position"], "embedding": vectors, "error": np.array(problems, dtype=object)}


class RayDataBackbone(RoutedBackbone):
    """A backbone whose bulk work (``embed_many``: imports, ``project train``) is a Ray Data job;
    anything else is this machine's copy (:class:`RoutedBackbone`)."""

    def __init__(self, backbone_id: str, device: str, actors: int, gpus: bool | None) -> None:
        super().__init__(backbone_id, device)
        self.actors = actors
        self.gpus = gpus
        self.bulk_batch_size = WINDOW

    def embed_one(self, source) -> np.ndarray:
        return self._local.embed_one(source)

    def embed_many(self, sources: Iterable, batch_size: int = 32, on_progress: ProgressCallback | None = None,
                   on_error: ErrorCallback | None = None) -> tuple[np.ndarray, list[int]]:
        ray = require_ray()
        items = [bytes(s) if isinstance(s, (bytes, bytearray, memoryview)) else Path(s).read_bytes() for s in sources]
        if not items:
            return np.zeros((0, self.dim), np.float32), []
        blocks = -(-len(items) // BATCH)
        dataset = ray.data.from_items([{"position": i, "data": data} for i, data in enumerate(items)],
                                      override_num_blocks=blocks)
        device = "cuda" if _resources(self.gpus).get("num_gpus") else "cpu"
        out = dataset.map_batches(EmbedActor, fn_constructor_args=(self.id, device), batch_size=BATCH,
                                  batch_format="numpy", concurrency=min(self.actors, blocks), **_resources(self.gpus))
        answers: list = [None] * len(items)  # batches come back in the order actors finish them
        for batch in out.iter_batches(batch_size=BATCH, batch_format="numpy"):
            for position, vector, problem in zip(batch["position"], batch["embedding"], batch["error"]):
                answers[int(position)] = InvalidImageError(str(problem)) if problem else np.asarray(vector, np.float32)
            if on_progress:
                on_progress(len(batch["position"]))
        return gather([answers], self.dim, on_error=on_error)


def use_ray_data(address: str, actors: int = 2, gpus: bool | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster and route bulk embedding of image and sound samples to Ray Data jobs."""
    connect(address, num_cpus)
    made: dict[str, RayDataBackbone] = {}

    def route(backbone_id: str, device: str) -> RayDataBackbone | None:
        if backbone_id not in (IMAGE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1):
            return None
        if backbone_id not in made:
            made[backbone_id] = RayDataBackbone(backbone_id, device, actors, gpus)
        return made[backbone_id]

    route_backbones(route)


class PredictActor:
    """Ray Data actor: a model loaded once (from its bytes: the cluster's machines need not see
    the file), batches of file paths -> one row each."""

    def __init__(self, model_bytes: bytes, device: str) -> None:
        from ..model import Model

        self.model = Model.from_bytes(model_bytes, device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ..predictions import prediction_row

        rows = [prediction_row(self.model, str(path)) for path in batch["path"]]
        # "" for a missing value: Ray Data's Arrow blocks would turn None into NaN
        return {key: np.array([row[key] or "" for row in rows], dtype=object) for key in ("path", "label", "shares", "error")}


def predict_paths(model_bytes: bytes, paths: list[str], address: str, actors: int = 2, gpus: bool | None = None,
                  num_cpus: int | None = None) -> Iterator[dict[str, Any]]:
    """One row per path (path, label, shares as JSON, error), in the order the actors finish them."""
    connect(address, num_cpus)
    ray = require_ray()
    if not paths:
        return
    device = "cuda" if _resources(gpus).get("num_gpus") else "cpu"
    blocks = -(-len(paths) // BATCH)  # enough blocks for every actor to have work
    dataset = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    out = dataset.map_batches(PredictActor, fn_constructor_args=(model_bytes, device), batch_size=BATCH,
                              batch_format="numpy", concurrency=min(actors, blocks), **_resources(gpus))
    for batch in out.iter_batches(batch_size=BATCH, batch_format="numpy"):
        for i in range(len(batch["path"])):
            yield {key: (str(batch[key][i]) or None) for key in ("path", "label", "shares", "error")}


__all__ = ["RayDataBackbone", "predict_paths", "use_ray_data"]

"""The Ray Serve deployment that runs one backbone: requests from every caller are batched by
``@serve.batch`` and go through the same backbone code as on one machine, so embeddings equal the
local ones and caches and models stay interchangeable. Imported only where Ray is installed."""

from __future__ import annotations

from typing import Any

import numpy as np
from ray import serve

from ..embed import local_backbone
from ..embed.queue import LIVE, REQUEST
from ..errors import InvalidImageError

MAX_BATCH = 16


def encode(result: Any) -> Any:
    """An embedding as it is; an unreadable sample as (error class name, sentence)."""
    if isinstance(result, InvalidImageError):
        return (type(result).__name__, str(result))
    return np.asarray(result, np.float32)


class EmbeddingReplica:
    """One copy of a backbone on a cluster node (its CPUs, or its GPU when it has one)."""

    def __init__(self, backbone_id: str, device: str) -> None:
        self.backbone = local_backbone(backbone_id, device)

    @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=0.005)
    async def embed(self, requests: list[tuple[Any, bool]]) -> list[Any]:
        """Each request is (sample, live); live frames and other requests run as on one machine
        (live ones in the live precision), each group in one call."""
        results: list[Any] = [None] * len(requests)
        for live in (True, False):
            positions = [i for i, (_, is_live) in enumerate(requests) if is_live == live]
            if positions:
                answers = self.backbone.embed_frames([requests[i][0] for i in positions], LIVE if live else REQUEST)
                for i, answer in zip(positions, answers):
                    results[i] = encode(answer)
        return results

    def check_health(self) -> None:
        """Serve restarts a replica whose check raises; a loaded backbone is a healthy one."""
        if self.backbone is None:
            raise RuntimeError("no backbone")

"""What a backbone that runs elsewhere shares: its id and size, and this machine's copy of the
same backbone, loaded only when first needed (for anything the cluster does not do: a heatmap,
ImageNet guesses, a single sample, or the work while the cluster does not answer)."""

from __future__ import annotations

import threading

from ..embed import BACKBONE_DIMS, local_backbone
from ..embed.interface import Backbone


class RoutedBackbone(Backbone):
    def __init__(self, backbone_id: str, device: str) -> None:
        self.id = backbone_id
        self.dim = BACKBONE_DIMS[backbone_id]
        self.device = device
        self._local_backbone = None
        self._local_lock = threading.Lock()

    @property
    def _local(self) -> Backbone:
        with self._local_lock:
            if self._local_backbone is None:
                self._local_backbone = local_backbone(self.id, self.device)
            return self._local_backbone

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._local, name)

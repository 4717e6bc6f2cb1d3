"""Backbones: each turns one kind of sample into an embedding vector.

A backbone is named by its id, which model files record. Every backbone offers the same
interface: ``id``, ``dim``, ``embed_one(x)``, ``embed(xs)`` and
``embed_many(items, batch_size, on_error)`` (see :mod:`.interface`). Which project kind uses
which backbone is said once, in :mod:`teachable.kinds`.
"""

from __future__ import annotations

from typing import Callable, Optional

from .ids import BACKBONE_BLOCKS, BACKBONE_DIMS, HAND_BACKBONE, IMAGE_BACKBONE, POSE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1

__all__ = ["BACKBONE_BLOCKS", "BACKBONE_DIMS", "SOUND_BACKBONE_V1", "HAND_BACKBONE", "IMAGE_BACKBONE", "POSE_BACKBONE", "SOUND_BACKBONE", "load_backbone",
           "local_backbone", "route_backbones"]


BackboneRoute = Callable[[str, str], Optional[object]]
_route: BackboneRoute | None = None


def route_backbones(route: BackboneRoute | None) -> None:
    """Let ``route(backbone_id, device)`` answer :func:`load_backbone` first (None: not routed).

    ``teachable ... --ray`` routes the image and sound backbones to a Ray cluster
    (:mod:`teachable.scale`); this layer knows nothing of Ray."""
    global _route
    _route = route


def load_backbone(backbone_id: str, device: str = "auto"):
    """The shared instance of a backbone (loaded on first use), or the routed one."""
    if _route is not None:
        routed = _route(backbone_id, device)
        if routed is not None:
            return routed
    return local_backbone(backbone_id, device)


def local_backbone(backbone_id: str, device: str = "auto"):
    """The shared instance of a backbone in this process (loaded on first use)."""
    if backbone_id in (SOUND_BACKBONE, SOUND_BACKBONE_V1):
        from .audio import get_sound_backbone

        return get_sound_backbone(device, backbone_id)
    if backbone_id in (POSE_BACKBONE, HAND_BACKBONE):
        from .landmarks import get_landmark_backbone

        return get_landmark_backbone("pose" if backbone_id == POSE_BACKBONE else "hand")
    if backbone_id == IMAGE_BACKBONE:
        from .image import get_backbone

        return get_backbone(device)
    raise ValueError(f"unknown backbone {backbone_id!r}")

"""Backbones: each turns one kind of sample into an embedding vector.

A backbone is named by its id, which model files record. Every backbone offers the same
interface: ``id``, ``dim``, ``embed_one(x)``, ``embed(xs)`` and
``embed_many(items, batch_size, on_error)`` (see :mod:`.interface`). Which project kind uses
which backbone is said once, in :mod:`teachable.kinds`.
"""

from __future__ import annotations

from .ids import BACKBONE_BLOCKS, BACKBONE_DIMS, HAND_BACKBONE, IMAGE_BACKBONE, POSE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1

__all__ = ["BACKBONE_BLOCKS", "BACKBONE_DIMS", "SOUND_BACKBONE_V1", "HAND_BACKBONE", "IMAGE_BACKBONE", "POSE_BACKBONE", "SOUND_BACKBONE", "load_backbone"]


def load_backbone(backbone_id: str, device: str = "auto"):
    """The shared instance of a backbone (loaded on first use)."""
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

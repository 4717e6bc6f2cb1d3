"""Backbones: each turns one kind of sample into an embedding vector."""

from __future__ import annotations

from ..errors import ModelFileError

SUPPORTED = {
    "image": "efficientnet-lite0-imagenet-224-v1",
    "sound": "speech-embedding-16k-1s-v1",
    "pose": "mediapipe-pose-full-v1",
    "hand": "mediapipe-hand-full-v1",
}
DIMS = {"image": 1280, "sound": 96, "pose": 99, "hand": 64}
# Kinds whose samples are pictures (the keypoint kinds read landmarks off them).
PICTURE_KINDS = ("image", "pose", "hand")
KEYPOINT_KINDS = ("pose", "hand")


def default_backbone_id(kind: str) -> str:
    """The backbone new projects and models of this kind use."""
    if kind not in SUPPORTED:
        raise ModelFileError(f"Projects of kind '{kind}' are not supported by this version of Teachable.")
    return SUPPORTED[kind]


def check_backbone(kind: str, backbone_id: str) -> None:
    """Refuse a model made with a backbone this installation does not have (cheap: loads nothing)."""
    expected = default_backbone_id(kind)
    if backbone_id != expected:
        raise ModelFileError(
            f"This model was made with backbone '{backbone_id}', which this version of Teachable "
            f"does not have (it has '{expected}')."
        )


def backbone_for(kind: str, backbone_id: str, device: str = "auto"):
    """The shared backbone instance for a project kind, checking the id a model was trained with."""
    check_backbone(kind, backbone_id)
    if kind == "sound":
        from .audio import get_sound_backbone

        return get_sound_backbone(device)
    if kind in KEYPOINT_KINDS:
        from .landmarks import get_landmark_backbone

        return get_landmark_backbone(kind)
    from .image import get_backbone

    return get_backbone(device)


def media_type_of(kind: str, data: bytes) -> str | None:
    """What a stored sample really is, read from its bytes (an image or sound type this
    project kind accepts), or None. Samples are only ever served as this, never as a type
    a file claims: a crafted project file cannot make the app serve HTML or script."""
    if kind == "sound":
        from .audio import sniff_audio

        return sniff_audio(data)
    from .preprocess import sniff_image

    return sniff_image(data)

"""The kinds of project — image, sound, pose, hand — and everything that differs between them.

One table: code asks a project's :class:`Kind` (its backbone, embedding size, accepted files,
how a sample is checked, the minimum counts, its special classes, its exports) instead of
comparing kind names, and the web page gets the same rules from ``GET /api/kinds``. A new
kind is one more row here plus its backbone in ``embed/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .embed import (BACKBONE_DIMS, HAND_BACKBONE, IMAGE_BACKBONE, POSE_BACKBONE, SOUND_BACKBONE, SOUND_BACKBONE_V1,
                    load_backbone)
from .errors import ModelFileError, NotEnoughClassesError, NothingDetectedError, TeachableError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3"})
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/tiff")
AUDIO_TYPES = ("audio/wav", "audio/flac", "audio/ogg", "audio/mpeg")
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp",
              "image/webp": ".webp", "image/tiff": ".tif", "audio/wav": ".wav", "audio/flac": ".flac",
              "audio/ogg": ".ogg", "audio/mpeg": ".mp3"}
# Teachable Machine's rule for sound projects: a class of the room's quiet, always present.
BACKGROUND = "Background Noise"


class CheckedSample(NamedTuple):
    """What is stored for one accepted sample."""

    data: bytes
    media_type: str
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    features: object = None  # keypoint kinds: the embedding, found while checking


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    summary: str  # one line for a newcomer choosing a kind
    backbone_id: str
    suffixes: frozenset[str]
    media_types: tuple[str, ...]
    samples_word: str  # "photos", "sound files"
    audio: bool = False  # samples are sounds (else pictures)
    keypoints: bool = False  # samples are photos whose landmarks are the features
    centred: bool = False  # embeddings centred on the training mean (they share a large common part)
    parallel_checks: bool = False  # samples may be checked on several threads at once
    default_classes: tuple[str, ...] = ("Class 1", "Class 2")
    special_class: str | None = None  # always present; cannot be renamed or deleted
    min_special: int = 0
    min_per_class: int = 1
    exports: tuple[str, ...] = ("onnx",)
    # What an exported ONNX graph takes: "image" (the whole network is in it), or the
    # "embedding" / "features" a front end outside the graph computes; and the bundle's templates.
    export_input: str = "features"
    bundle: str = "onnx-keypoints"
    # Backbones of models made by earlier versions that still load and predict (never trained on).
    legacy_backbones: tuple[str, ...] = ()

    @property
    def dim(self) -> int:
        """Numbers in one embedding."""
        return BACKBONE_DIMS[self.backbone_id]

    def backbone(self, device: str = "auto", backbone_id: str | None = None):
        """The shared backbone instance that embeds this kind's samples (or a model's older one)."""
        return load_backbone(backbone_id or self.backbone_id, device)

    def check_backbone(self, backbone_id: str) -> None:
        """Refuse a model made with a backbone this installation does not have (loads nothing)."""
        if backbone_id != self.backbone_id and backbone_id not in self.legacy_backbones:
            raise ModelFileError(f"This model was made with backbone '{backbone_id}', which this version of Teachable "
                                 f"does not have (it has '{self.backbone_id}').")

    def accepts(self, filename: str) -> bool:
        return any(filename.lower().endswith(suffix) for suffix in self.suffixes)

    def check_sample(self, data: bytes, label: str) -> list[CheckedSample]:
        """Check one given file and return what to store (refusals raise InvalidImageError).

        An image is stored as it is. A sound of up to 1.5 s too; a longer recording becomes
        one-second clips. A pose or hand photo must show a person or a hand: its landmarks are
        found now (a picture without one is refused) and its features stored with it.
        """
        if self.audio:
            from .embed.audio import inspect_audio

            return [CheckedSample(clip, media, duration_ms=ms) for clip, media, ms in inspect_audio(data, label)]
        from .embed.preprocess import inspect_image

        media_type, width, height = inspect_image(data, label)
        features = None
        if self.keypoints:
            try:
                features = self.backbone().embed_one(data)
            except NothingDetectedError as exc:
                raise NothingDetectedError(str(exc).replace("the picture", label)) from None
        return [CheckedSample(data, media_type, width, height, None, features)]

    def media_type_of(self, data: bytes) -> str | None:
        """What stored bytes really are (a type this kind accepts), read from the bytes, or None.
        Samples are only ever served as this, never as a type a file claims."""
        if self.audio:
            from .embed.audio import sniff_audio

            found = sniff_audio(data)
        else:
            from .embed.preprocess import sniff_image

            found = sniff_image(data)
        return found if found in self.media_types else None

    def recipe(self, backbone_id: str | None = None) -> dict:
        """How raw input becomes the backbone's input (of this kind's backbone, or a model's older
        one), written into model files and exports."""
        if self.keypoints:
            from .embed.keypoints import recipe

            return recipe(self.name)
        if self.audio:
            from .embed.audio import recipe

            return dict(recipe(backbone_id or self.backbone_id))
        from .embed.preprocess import IMAGE_PREPROCESSING

        return IMAGE_PREPROCESSING

    def check_counts(self, classes: list) -> None:
        """Enough samples to train (``classes`` have ``name`` and ``count``): two classes or
        more, none empty; a kind with a special class also has its own minimums."""
        if self.special_class:
            problems = []
            if self.special_class not in [c.name for c in classes]:
                problems.append(f"it needs a class named “{self.special_class}” with at least {self.min_special} "
                                "samples of the room's quiet")
            for c in classes:
                need = self.min_special if c.name == self.special_class else self.min_per_class
                if c.count < need:
                    has = f"{c.count} sample" + ("" if c.count == 1 else "s")
                    problems.append(f"“{c.name}” has {has} and needs at least {need}")
            if not [c for c in classes if c.name != self.special_class]:
                problems.append(f"it needs at least one class besides {self.special_class.lower()}")
            if problems:
                raise NotEnoughClassesError(f"This {self.name} project cannot be trained yet: " + "; ".join(problems) + ".")
        empty = [c.name for c in classes if c.count == 0]
        if len(classes) - len(empty) < 2:
            none = f"; these have none: {', '.join(empty)}" if empty else ""
            raise NotEnoughClassesError(f"Training needs at least two classes with samples{none}.")
        if empty:
            raise NotEnoughClassesError(f"Every class needs at least one sample; these have none: {', '.join(empty)}.")

    def rules(self) -> dict:
        """What the web page needs to know of this kind (it hard-codes none of it)."""
        return {"name": self.name, "title": self.title, "summary": self.summary, "accept": sorted(self.suffixes),
                "samples_word": self.samples_word, "default_classes": list(self.default_classes),
                "special_class": self.special_class, "min_special": self.min_special, "min_per_class": self.min_per_class,
                "audio": self.audio, "keypoints": self.keypoints, "skeleton": self.skeleton(), "exports": list(self.exports), "dim": self.dim}

    def skeleton(self) -> list | None:
        """Which landmarks the page joins with lines (keypoint kinds)."""
        return self.recipe()["connections"] if self.keypoints else None


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("image", "Image project", "Teach it to tell pictures apart, from the webcam or from files.",
         IMAGE_BACKBONE, IMAGE_SUFFIXES, IMAGE_TYPES, "photos", parallel_checks=True, exports=("onnx", "tflite", "tfjs", "keras"),
         export_input="image", bundle="onnx"),
    Kind("sound", "Sound project", "Teach it to tell one-second sounds or spoken words apart, from the microphone or files.",
         SOUND_BACKBONE, AUDIO_SUFFIXES, AUDIO_TYPES, "sound files", audio=True, centred=True, default_classes=(BACKGROUND, "Class 2"),
         special_class=BACKGROUND, min_special=20, min_per_class=8, export_input="embedding", bundle="onnx-sound",
         legacy_backbones=(SOUND_BACKBONE_V1,)),
    Kind("pose", "Pose project", "Teach it to tell body poses apart: it learns from the skeleton it finds in each photo.",
         POSE_BACKBONE, IMAGE_SUFFIXES, IMAGE_TYPES, "photos", keypoints=True),
    Kind("hand", "Hand gesture project", "Teach it to tell hand gestures apart: it learns from the hand's keypoints.",
         HAND_BACKBONE, IMAGE_SUFFIXES, IMAGE_TYPES, "photos", keypoints=True),
)}


def get_kind(name: object) -> Kind:
    """The kind called ``name``; an unknown one is a clear error."""
    if name not in KINDS:
        raise TeachableError(f"Unknown project kind '{name}': this version of Teachable knows {', '.join(KINDS)}.")
    return KINDS[name]  # type: ignore[index]

"""Labelled images on disk: one sub-folder per class, as users already organise photos."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DatasetError, TeachableError
from .kinds import AUDIO_SUFFIXES, IMAGE_SUFFIXES, KINDS



def guess_kind(root: Path) -> str:
    """'sound' when a folder holds more sound files than images, else 'image'."""
    files = [p.suffix.lower() for p in root.rglob("*") if p.is_file()]
    sounds = sum(s in AUDIO_SUFFIXES for s in files)
    return "sound" if sounds > sum(s in IMAGE_SUFFIXES for s in files) else "image"


# A sound file longer than one window gives one source per second: "dog/bark.wav#2" is its second.
WINDOW_MARK = "#"


def recording_of(source: str) -> str:
    """The file a sample's source comes from ("dog/bark.wav#2" -> "dog/bark.wav")."""
    return source.rsplit(WINDOW_MARK, 1)[0]


@dataclass
class Skipped:
    """A file left out, and why (shown to the user, never silently dropped)."""

    path: str
    reason: str


@dataclass
class Dataset:
    """Samples (paths, bytes or images) with class indices into ``classes``."""

    classes: list[str]
    samples: list = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    kind: str = "image"
    root: Path | None = None  # the folder it was read from: sources are named relative to it
    _embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _sources: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_folder(cls, path: str | Path, kind: str | None = None) -> "Dataset":
        """Read ``path/<class name>/<files>``: images, or sounds (``kind="sound"``, guessed when
        not given), or photos of poses or hands (``kind="pose"`` / ``"hand"``). Other files are
        reported in ``skipped``."""
        root = Path(path)
        if not root.is_dir():
            raise DatasetError(f"'{root}' is not a folder. Give a folder with one sub-folder per class.")
        kind = kind or guess_kind(root)
        if kind not in KINDS:
            raise DatasetError(f"Unknown dataset kind '{kind}': use {', '.join(KINDS)}.")
        wanted = KINDS[kind].suffixes
        files_word = KINDS[kind].samples_word
        classes: list[str] = []
        samples: list[Path] = []
        labels: list[int] = []
        skipped: list[Skipped] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
            images = [p for p in files if p.suffix.lower() in wanted]
            skipped += [Skipped(str(p), f"not one of the {files_word} a {kind} project takes")
                        for p in files if p.suffix.lower() not in wanted]
            if not images:
                skipped.append(Skipped(str(folder), f"class folder has no {files_word}"))
                continue
            labels += [len(classes)] * len(images)
            classes.append(folder.name)
            samples += images
        skipped += [Skipped(str(p), "files must be inside a class folder") for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")]
        if not classes:
            raise DatasetError(f"'{root}' has no class folders with {files_word} in them.")
        return cls(classes, samples, labels, skipped, kind, root)

    @classmethod
    def from_lists(cls, samples: list, labels: list[str]) -> "Dataset":
        """Build from parallel lists of samples and class names (classes in first-seen order)."""
        if len(samples) != len(labels):
            raise TeachableError("There must be one label per sample.")
        classes: list[str] = []
        for name in labels:
            if name not in classes:
                classes.append(name)
        return cls(classes, list(samples), [classes.index(name) for name in labels])

    def __len__(self) -> int:
        return len(self.samples)

    def counts(self) -> dict[str, int]:
        values = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, values)}

    def source(self, position: int) -> str:
        """Where sample ``position`` came from: its path relative to the dataset's folder, or
        its position in the list it was given as."""
        sample = self.samples[position]
        if isinstance(sample, (str, Path)):
            path = Path(sample)
            try:
                return path.relative_to(self.root).as_posix() if self.root else path.as_posix()
            except ValueError:
                return path.as_posix()
        return f"#{position}"

    def sources(self, backbone) -> list[str]:
        """The source of each embedding :meth:`embed` returned (a sound file gives one per second:
        ``dog/bark.wav#2`` is its second second)."""
        self.embed(backbone)
        return self._sources[backbone.id]

    def embed(self, backbone, on_progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, labels) of the readable samples; unreadable ones go to ``skipped``.

        Cached per backbone, so training and then evaluating embeds each image once.
        """
        if backbone.id in self._embeddings:
            return self._embeddings[backbone.id]

        def report(position: int, error: Exception) -> None:
            sample = self.samples[position]
            where = str(sample) if isinstance(sample, (str, Path)) else f"sample {position}"
            self.skipped.append(Skipped(where, str(error)))

        if KINDS[self.kind].audio:
            result, sources = self._embed_sounds(backbone, on_progress, report)
        else:
            embeddings, kept = backbone.embed_many(self.samples, on_progress=on_progress, on_error=report)
            result = (embeddings.astype(np.float32), np.asarray(self.labels, dtype=np.int64)[kept])
            sources = [self.source(int(i)) for i in kept]
        self._embeddings[backbone.id] = result
        self._sources[backbone.id] = sources
        return result

    def _embed_sounds(self, backbone, on_progress, report) -> tuple[tuple[np.ndarray, np.ndarray], list[str]]:
        """Each sound file gives one sample per second (longer recordings are split)."""
        from .embed.audio import load_audio, split_clips
        from .errors import InvalidAudioError

        vectors, labels, sources = [], [], []
        for position, (sample, label) in enumerate(zip(self.samples, self.labels)):
            try:
                clips = split_clips(load_audio(sample))
            except InvalidAudioError as exc:
                report(position, exc)
                clips = []
            for second, clip in enumerate(clips, start=1):
                vectors.append(backbone.clip_embedding(clip))
                labels.append(label)
                sources.append(self.source(position) + (f"{WINDOW_MARK}{second}" if len(clips) > 1 else ""))
            if on_progress:
                on_progress(1)
        embeddings = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, backbone.dim), np.float32)
        return (embeddings, np.asarray(labels, dtype=np.int64)), sources

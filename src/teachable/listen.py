"""Continuous recognition for sound models: slide a one-second window over a recording (or
the microphone) and report what was heard, and when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .embed.audio import CLIP_SAMPLES, SAMPLE_RATE, AudioInput, load_audio
from .errors import TeachableError
from .model import Model
from .kinds import BACKGROUND, get_kind


@dataclass(frozen=True)
class Detection:
    """A class heard in the window starting at ``time`` seconds."""

    time: float
    label: str
    confidence: float

    def to_dict(self) -> dict:
        return {"time": round(self.time, 3), "label": self.label, "confidence": self.confidence}


def _check(model: Model, overlap: float, threshold: float) -> int:
    if not get_kind(model.kind).audio:
        raise TeachableError("Listening needs a sound model (this one is for images).")
    if not 0 <= overlap < 1:
        raise TeachableError("The overlap factor must be at least 0 and below 1.")
    if not 0 <= threshold <= 1:
        raise TeachableError("The probability threshold must be between 0 and 1.")
    return max(1, int(CLIP_SAMPLES * (1 - overlap)))


def _detect(model: Model, window: np.ndarray, time: float, threshold: float) -> Detection | None:
    [prediction] = model.predict_embeddings(model.backbone.clip_embedding(window)[None])
    if prediction.label == BACKGROUND or prediction.confidence < threshold:
        return None
    return Detection(time, prediction.label, prediction.confidence)


def listen_file(model: Model, source: AudioInput, overlap: float = 0.5, threshold: float = 0.6) -> list[Detection]:
    """Every window whose best class is not background noise and is at least ``threshold`` sure."""
    hop = _check(model, overlap, threshold)
    audio = load_audio(source)
    found = []
    for start in range(0, max(1, len(audio) - CLIP_SAMPLES // 2), hop):
        detection = _detect(model, audio[start : start + CLIP_SAMPLES], start / SAMPLE_RATE, threshold)
        if detection:
            found.append(detection)
    return found


def merge(detections: list[Detection], gap: float = 0.6) -> list[Detection]:
    """One line per sound: overlapping windows that heard the same class count once (the surest)."""
    merged: list[Detection] = []
    for d in detections:
        last = merged[-1] if merged else None
        if last and last.label == d.label and d.time - last.time <= gap + 1e-9:
            if d.confidence > last.confidence:
                merged[-1] = Detection(last.time, d.label, d.confidence)
            continue
        merged.append(d)
    return merged


def listen_microphone(model: Model, on_detection: Callable[[Detection], None], overlap: float = 0.5,
                      threshold: float = 0.6, seconds: float | None = None) -> None:
    """Listen to the default microphone (needs the optional ``sounddevice`` package)."""
    hop = _check(model, overlap, threshold)
    try:
        import sounddevice
    except Exception:
        raise TeachableError("Listening to a microphone needs the sounddevice package (pip install sounddevice) "
                             "and a microphone; or give a sound FILE to listen to.") from None
    window = np.zeros(CLIP_SAMPLES, np.float32)
    heard = 0
    try:
        with sounddevice.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=hop) as stream:
            for block in _blocks(stream, hop, seconds):
                window = np.concatenate([window[len(block):], block])
                heard += len(block)
                if heard >= CLIP_SAMPLES:
                    detection = _detect(model, window, (heard - CLIP_SAMPLES) / SAMPLE_RATE, threshold)
                    if detection:
                        on_detection(detection)
    except sounddevice.PortAudioError as exc:
        raise TeachableError(f"The microphone could not be opened: {exc}.") from None


def _blocks(stream, hop: int, seconds: float | None) -> Iterator[np.ndarray]:
    read = 0
    while seconds is None or read < seconds * SAMPLE_RATE:
        block, _ = stream.read(hop)
        read += len(block)
        yield block[:, 0]

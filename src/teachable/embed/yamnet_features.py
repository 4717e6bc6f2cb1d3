"""YAMNet's front end in NumPy: one second of 16 kHz sound -> the log-mel patch the network takes.
Teachable uses this file as it is, and exported sound bundles ship a copy of it, so the two never
drift apart (the bundle's JavaScript does the same arithmetic).

16 kHz mono; 25 ms periodic Hann windows every 10 ms; |FFT 512|; 64 mel bands from 125 to 7500 Hz
with TensorFlow's mel matrix (HTK mel scale, the DC bin left out); log(mel + 0.001); the first 96
frames (0.96 s).
"""

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FFT = 512
BANDS = 64
LOW_HZ, HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """[257, 64] float64: TensorFlow's ``linear_to_mel_weight_matrix`` for YAMNet's settings."""
    bins = FFT // 2 + 1
    spectrum_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins)[1:])[:, None]
    edges = np.linspace(_hz_to_mel(LOW_HZ), _hz_to_mel(HIGH_HZ), BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (spectrum_mel - lower) / (centre - lower)
    falling = (upper - spectrum_mel) / (upper - centre)
    return np.pad(np.maximum(0.0, np.minimum(rising, falling)), [[1, 0], [0, 0]])


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann


def log_mel(clip: np.ndarray) -> np.ndarray:
    """[frames, 64] float64 log-mel spectrogram of 16 kHz mono sound (at least 0.975 s)."""
    clip = np.asarray(clip, np.float64)
    frames = 1 + (len(clip) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    magnitude = np.abs(np.fft.rfft(clip[index] * _window(), FFT, axis=1))
    return np.log(magnitude @ mel_matrix() + LOG_OFFSET)


def patch(clip: np.ndarray) -> np.ndarray:
    """The network's input, float32 [1, 1, 96, 64], for one second of 16 kHz sound (shorter: padded
    with silence)."""
    second = np.zeros(SAMPLE_RATE, np.float64)
    clip = np.asarray(clip, np.float64)[:SAMPLE_RATE]
    second[: len(clip)] = clip
    return log_mel(second)[:PATCH_FRAMES][None, None].astype(np.float32)

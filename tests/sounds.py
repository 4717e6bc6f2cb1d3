"""Real speech made with espeak-ng (several voices, pitches and speeds), background noise and a
transient sound (a clap), written as 16 kHz WAV files in class folders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

ESPEAK = shutil.which("espeak-ng")
TRAIN_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us+f3", "en-gb-x-gbclan"]
HELD_OUT_VOICES = ["en+f2", "en-us+m3", "en-gb-x-gbcwmd"]
WORDS = ["yes", "stop", "banana"]
RATE = 16_000


def speak(path: Path, word: str, voice: str, pitch: int, speed: int) -> Path:
    subprocess.run([ESPEAK, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), word],
                   check=True, capture_output=True)
    return path


def noise(seconds: float, rng: np.random.Generator, level: float) -> np.ndarray:
    """Room noise: brown-ish noise with a little hum."""
    n = int(RATE * seconds)
    brown = np.cumsum(rng.normal(0, 1, n))
    brown -= np.convolve(brown, np.ones(400) / 400, mode="same")
    hum = np.sin(2 * np.pi * 50 * np.arange(n) / RATE)
    signal = brown / (np.abs(brown).max() + 1e-9) + 0.3 * hum
    return (level * signal / np.abs(signal).max()).astype(np.float32)


def clap(rng: np.random.Generator) -> np.ndarray:
    """A transient: a burst of noise with a fast decay, somewhere in the second."""
    out = noise(1.0, rng, 0.01)
    start = int(rng.integers(1000, 9000))
    burst = rng.normal(0, 1, 2400) * np.exp(-np.arange(2400) / 300)
    out[start : start + 2400] += (0.8 * burst / np.abs(burst).max()).astype(np.float32)
    return out


def write_sound_dataset(root: Path, voices: list[str], seed: int, noise_clips: int = 20, claps: int = 0) -> Path:
    """root/<word>/*.wav for each word, voice, pitch and speed; root/Background Noise/*.wav."""
    rng = np.random.default_rng(seed)
    for word in WORDS:
        folder = root / word
        folder.mkdir(parents=True, exist_ok=True)
        for voice in voices:
            for pitch, speed in ((35, 150), (65, 185)):
                speak(folder / f"{voice}-{pitch}-{speed}.wav", word, voice, pitch, speed)
    background = root / "Background Noise"
    background.mkdir(parents=True, exist_ok=True)
    for i in range(noise_clips):
        sf.write(background / f"noise-{seed}-{i}.wav", noise(1.0, rng, rng.uniform(0.005, 0.05)), RATE)
    if claps:
        (root / "clap").mkdir(exist_ok=True)
        for i in range(claps):
            sf.write(root / "clap" / f"clap-{seed}-{i}.wav", clap(rng), RATE)
    return root


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# espeak-ng voice variants: nine speak in training, five others only in the test.
DIGIT_VOICES = [f"en-us+{v}" for v in ("m1", "m2", "m4", "m5", "m6", "m7", "f1", "f4", "klatt")] + \
    [f"en-us+{v}" for v in ("klatt2",)] + [f"en-gb+{v}" for v in ("m1", "f1", "croak", "whisper")]


def write_digit_dataset(root: Path, voices: list[str], seed: int) -> Path:
    """root/<digit>/*.wav: each voice says each digit at two pitches and speeds, starting at a random
    moment, over room noise 10-25 dB below the voice (harder than clean speech)."""
    rng = np.random.default_rng(seed)
    for word in DIGITS:
        (root / word).mkdir(parents=True, exist_ok=True)
        for voice in voices:
            for pitch, speed in ((40, 140), (60, 175)):
                path = speak(root / word / f"{voice}-{pitch}-{speed}.wav", word, voice, pitch, speed)
                audio, rate = sf.read(path, dtype="float32")
                audio = 0.5 * audio / max(float(np.abs(audio).max()), 1e-6)
                audio = np.concatenate([np.zeros(int(rng.integers(0, 3000)), np.float32), audio])
                level = 1.5 * 10 ** (-rng.uniform(10, 25) / 20)
                audio = audio + noise(len(audio) / RATE + 0.01, rng, level)[: len(audio)]
                sf.write(path, audio.astype(np.float32), rate)
    return root

"""Classify sounds with a Teachable sound model exported to ONNX.

    pip install onnxruntime numpy soundfile soxr
    python predict.py clip.wav [more.wav ...]        # one-second clips
    python predict.py --listen recording.wav         # slide over a longer recording

Reads model.onnx (the classifier), melspectrogram.onnx and embedding_model.onnx (Google's
speech_embedding front end), yamnet_embedding.onnx with yamnet_features.py (Google's YAMNet, for
models that use it) and metadata.json from this folder.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf

HERE = Path(__file__).resolve().parent
META = json.loads((HERE / "metadata.json").read_text(encoding="utf-8"))
LABELS = META["labels"]
RECIPE = META["input"]
RATE = RECIPE["sample_rate"]
PAD = int(RECIPE["pad_seconds_each_side"] * RATE)
FRAMES, STEP = RECIPE["windows"]["frames"], RECIPE["windows"]["step"]

mel_model = ort.InferenceSession(str(HERE / "melspectrogram.onnx"), providers=["CPUExecutionProvider"])
embedding_model = ort.InferenceSession(str(HERE / "embedding_model.onnx"), providers=["CPUExecutionProvider"])
classifier = ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])
YAMNET = RECIPE.get("yamnet")
if YAMNET:
    import sys

    sys.path.insert(0, str(HERE))
    from yamnet_features import patch as yamnet_patch

    options = ort.SessionOptions()
    options.log_severity_level = 3
    yamnet_model = ort.InferenceSession(str(HERE / "yamnet_embedding.onnx"), options, providers=["CPUExecutionProvider"])


def load(path: str) -> np.ndarray:
    """Mono float32 at 16 kHz."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != RATE:
        import soxr

        audio = soxr.resample(audio, rate, RATE).astype(np.float32)
    return audio


def embed(clip: np.ndarray) -> np.ndarray:
    """Teachable's recipe for one second of sound -> 96 numbers."""
    second = np.zeros(RATE, np.float32)
    second[: min(len(clip), RATE)] = clip[:RATE]
    padded = np.concatenate([np.zeros(PAD, np.float32), second, np.zeros(PAD, np.float32)])
    mel = np.squeeze(mel_model.run(None, {"input": (padded * 32767.0)[None]})[0]) / 10.0 + 2.0
    windows = np.stack([mel[s : s + FRAMES] for s in range(0, mel.shape[0] - FRAMES + 1, STEP)])[..., None]
    vectors = embedding_model.run(None, {"input_1": windows.astype(np.float32)})[0].reshape(len(windows), -1)
    speech = vectors.mean(axis=0)
    if not YAMNET:
        return speech
    general = yamnet_model.run(["embedding"], {"patch": yamnet_patch(second)})[0][0]
    return np.concatenate([speech, general])


def classify(clip: np.ndarray):
    probabilities, label = classifier.run(None, {"embedding": embed(clip)[None].astype(np.float32)})
    return LABELS[int(label[0])], probabilities[0]


def merge(heard, gap: float = 0.6):
    """One line per sound, as `teachable listen` prints: overlapping windows that heard the same
    class count once (at the first window's time, with the surest confidence)."""
    merged = []
    for time, label, confidence in heard:
        if merged and merged[-1][1] == label and time - merged[-1][0] <= gap + 1e-9:
            merged[-1] = (merged[-1][0], label, max(confidence, merged[-1][2]))
            continue
        merged.append((time, label, confidence))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description="Classify sounds with a Teachable ONNX model.")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--listen", action="store_true", help="slide a one-second window over each file")
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()
    for path in args.files:
        audio = load(path)
        if not args.listen:
            label, probabilities = classify(audio)
            scores = "  ".join(f"{n} {p:.1%}" for n, p in sorted(zip(LABELS, probabilities), key=lambda t: -t[1]))
            print(f"{path}: {label}   [{scores}]")
            continue
        hop = max(1, int(RATE * (1 - args.overlap)))
        heard = []
        for start in range(0, max(1, len(audio) - RATE // 2), hop):
            label, probabilities = classify(audio[start : start + RATE])
            if label != "Background Noise" and probabilities.max() >= args.threshold:
                heard.append((start / RATE, label, float(probabilities.max())))
        for time, label, confidence in merge(heard):
            print(f"{path} {time:7.2f}s  {label}  {confidence:.0%}")


if __name__ == "__main__":
    main()

"""Sound projects: per-clip embedding latency and accuracy on voices held out of training.

    python bench/sound.py

Speech made with espeak-ng: 3 words ("yes", "stop", "banana") said by 6 training voices and 3
other held-out voices, 2 pitch/speed settings each, plus room noise ("Background Noise") and
claps. Prints a Markdown table.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import print_report  # noqa: E402
from sounds import HELD_OUT_VOICES, TRAIN_VOICES, write_sound_dataset  # noqa: E402

import teachable  # noqa: E402
from teachable.embed.audio import fit_clip, get_sound_backbone, load_audio  # noqa: E402


def main() -> None:
    backbone = get_sound_backbone()
    with tempfile.TemporaryDirectory() as tmp:
        train = write_sound_dataset(Path(tmp) / "train", TRAIN_VOICES, seed=1, claps=8)
        test = write_sound_dataset(Path(tmp) / "test", HELD_OUT_VOICES, seed=2, noise_clips=6, claps=4)
        clips = [fit_clip(load_audio(p)) for p in sorted(test.rglob("*.wav"))[:20]]
        backbone.clip_embedding(clips[0])
        times = []
        for clip in clips * 3:
            start = time.perf_counter()
            backbone.clip_embedding(clip)
            times.append((time.perf_counter() - start) * 1000)
        rows = [("embedding one 1-second clip (median of 60)", f"{statistics.median(times):.1f} ms")]
        train_set, test_set = teachable.Dataset.from_folder(train), teachable.Dataset.from_folder(test)
        rows.append(("training / held-out clips", f"{len(train_set)} / {len(test_set)} (5 classes)"))
        for classifier in ("knn", "head"):
            accuracies = []
            for seed in range(3):
                model = teachable.train(train_set, classifier=classifier, validation_split=0, seed=seed)
                accuracies.append(model.evaluate(test_set).accuracy)
            rows.append((f"held-out-voice accuracy, {classifier} (3 seeds)",
                         f"{np.mean(accuracies):.3f} (min {min(accuracies):.3f})"))
    print_report(rows)


if __name__ == "__main__":
    main()

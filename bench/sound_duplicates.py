"""The review's near-duplicate threshold for sounds, measured on injected copies.

    python bench/sound_duplicates.py --data DIR [--data DIR ...]

Each DIR holds class folders of real recordings; every one-second window of up to ``--limit``
recordings a class is one sample (but windows of near-digital silence, below -60 dBFS: they are
true copies of each other). Copies are injected as a user makes them: the same second again
quieter (x0.5), re-encoded (Ogg Vorbis), shifted by 20 ms, and with hiss 35 dB down. A review
compares samples as the classifiers do (centred, the backbones' mix chosen from the samples, unit
length). Prints, per kind of copy, how similar copies are to their original, and how similar the
most similar *different* recording is; the threshold must sit between the two.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import print_report  # noqa: E402

from teachable.classify.blocks import mix_scale  # noqa: E402
from teachable.classify.knn import l2_normalise  # noqa: E402
from teachable.embed import SOUND_BACKBONE  # noqa: E402
from teachable.embed.audio import SAMPLE_RATE, get_sound_backbone, load_audio, split_clips  # noqa: E402
from teachable.explain.review import DUPLICATE_SIMILARITY  # noqa: E402
from teachable.kinds import AUDIO_SUFFIXES  # noqa: E402


def reencoded(clip: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    sf.write(buffer, clip, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    buffer.seek(0)
    return sf.read(buffer, dtype="float32")[0][: len(clip)]


THRESHOLDS = (0.95, 0.96, 0.97, 0.98, 0.985)
QUIET_RMS = 10 ** (-60 / 20)  # windows quieter than -60 dBFS are left out

COPIES = {
    "quieter (x0.5)": lambda clip, rng: clip * 0.5,
    "re-encoded (Ogg Vorbis)": lambda clip, rng: reencoded(clip),
    "shifted 20 ms": lambda clip, rng: np.concatenate([np.zeros(320, np.float32), clip[:-320]]),
    "hiss 35 dB down": lambda clip, rng: clip + rng.normal(0, 1, len(clip)).astype(np.float32)
    * float(np.sqrt(np.mean(clip ** 2)) + 1e-6) * 10 ** (-35 / 20),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--limit", type=int, default=12, help="recordings a class")
    args = parser.parse_args()
    backbone = get_sound_backbone()
    rng = np.random.default_rng(0)
    rows = [("threshold in use (review.py)", f"{DUPLICATE_SIMILARITY['sound']}")]
    for root in args.data:
        clips, labels, recording = [], [], []
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        for c, folder in enumerate(folders):
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)[: args.limit]
            for f in files:
                for clip in split_clips(load_audio(f)):
                    if np.sqrt(np.mean(clip ** 2)) < QUIET_RMS:
                        continue  # (near-)digital silence: every such window is a true copy of the others
                    clips.append(clip), labels.append(c), recording.append(str(f))
        originals = np.stack([backbone.clip_embedding(c) for c in clips])
        picked = rng.choice(len(clips), min(200, len(clips)), replace=False)
        copies = {name: np.stack([backbone.clip_embedding(make(clips[i], rng)) for i in picked]) for name, make in COPIES.items()}
        y = np.array(labels)
        everything = np.concatenate([originals, *copies.values()])
        everything_y = np.concatenate([y] + [y[picked]] * len(copies))
        scale = mix_scale(SOUND_BACKBONE, everything, everything_y)
        centred = everything - everything.mean(axis=0)
        unit = l2_normalise(centred * scale if scale is not None else centred)
        base = unit[: len(clips)]
        sims = base @ base.T
        same_recording = np.array(recording)[:, None] == np.array(recording)[None, :]
        sims[same_recording] = -np.inf
        nearest_other = sims.max(axis=1)
        rows.append((f"**{root.name}**", f"{len(clips)} windows of {len(set(recording))} recordings, {len(folders)} classes"))
        rows.append(("different recordings: most similar other window (50th / 99th / 99.9th / max)",
                     " / ".join(f"{np.percentile(nearest_other, q):.4f}" for q in (50, 99, 99.9, 100))))
        caught = {t: [] for t in THRESHOLDS}
        start = len(clips)
        for name in COPIES:
            block = unit[start:start + len(picked)]
            start += len(picked)
            similarity = np.sum(block * base[picked], axis=1)
            rows.append((f"copy {name}: similarity to its original (min / 5th / median)",
                         f"{similarity.min():.4f} / {np.percentile(similarity, 5):.4f} / {np.median(similarity):.4f}"))
            for t in THRESHOLDS:
                caught[t].extend(similarity >= t)
        for t in THRESHOLDS:
            rows.append((f"threshold {t}: copies caught / windows with a different recording above it",
                         f"{np.mean(caught[t]):.1%} / {np.mean(nearest_other >= t):.2%}"))
    print_report(rows)


if __name__ == "__main__":
    main()

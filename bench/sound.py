"""Sound projects on real recordings: accuracy per window and per recording, before (speech_embedding
alone, backbone v1) and after (speech_embedding + YAMNet, weighed per project), and the time to
embed one window.

    python bench/sound.py --data DIR [--data DIR ...]

Each DIR holds class folders of real recordings (any length; longer ones are cut into one-second
windows, as training cuts them). Files named like ESC-50's ``<fold>-<id>-<take>.ogg`` are split by
fold (folds 1-3 train, 4-5 test: takes of one source never straddle); others alternately, in name
order. Spoken words are made with espeak-ng: ten digits by nine training voices and five held-out
voices, over room noise. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import print_report  # noqa: E402
from sounds import DIGIT_VOICES, write_digit_dataset  # noqa: E402

from teachable.dataset import Dataset, recording_of  # noqa: E402
from teachable.embed import SOUND_BACKBONE, SOUND_BACKBONE_V1  # noqa: E402
from teachable.embed.audio import fit_clip, get_sound_backbone, load_audio  # noqa: E402
from teachable.kinds import AUDIO_SUFFIXES  # noqa: E402
from teachable.model import per_recording  # noqa: E402
from teachable.training import fit  # noqa: E402

FOLD = re.compile(r"^(\d)-")


def split_folder(root: Path, out: Path) -> tuple[Path, Path]:
    """Train and test folders of links to the recordings of ``root``'s class folders."""
    for side in ("train", "test"):
        (out / side).mkdir(parents=True)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        for i, path in enumerate(files):
            fold = FOLD.match(path.name)
            side = ("train" if int(fold.group(1)) <= 3 else "test") if fold else ("train" if i % 2 == 0 else "test")
            (out / side / folder.name).mkdir(exist_ok=True)
            (out / side / folder.name / path.name).symlink_to(path.resolve())
    return out / "train", out / "test"


def measure(train: Path, test: Path, backbone_id: str) -> dict[str, tuple[float, float]]:
    """(per window, per recording) accuracy of kNN and the head on ``test``."""
    backbone = get_sound_backbone(backbone_id=backbone_id)
    train_set, test_set = Dataset.from_folder(train, kind="sound"), Dataset.from_folder(test, kind="sound")
    x, y = train_set.embed(backbone)
    tx, ty = test_set.embed(backbone)
    recordings = [recording_of(s) for s in test_set.sources(backbone)]
    out = {}
    for classifier in ("knn", "head"):
        model = fit(x, y, train_set.classes, backbone_id, "sound", classifier=classifier, validation_split=0,
                    sources=train_set.sources(backbone))
        truth = np.array([model.labels.index(test_set.classes[i]) for i in ty])
        shares = np.array([[p.confidences[n] for n in model.labels] for p in model.predict_embeddings(tx)])
        per_window = float((shares.argmax(axis=1) == truth).mean())
        recording_truth, answers = per_recording(recordings, truth, shares)
        out[classifier] = (per_window, float((answers == recording_truth).mean()))
        out[f"{classifier} note"] = next((n for n in model.notes if "weighed" in n), "")
    out["counts"] = (len(x), len(tx), len(set(recordings)), len(train_set.classes))
    return out


def window_time(backbone_id: str, clips: list[np.ndarray]) -> float:
    backbone = get_sound_backbone(backbone_id=backbone_id)
    backbone.clip_embedding(clips[0])
    times = []
    for clip in clips * 3:
        start = time.perf_counter()
        backbone.clip_embedding(clip)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", default=[], help="a folder of class folders of recordings")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sets = []
        for i, root in enumerate(args.data):
            sets.append((root.name, *split_folder(root, Path(tmp) / f"data{i}")))
        speech = Path(tmp) / "digits"
        sets.append(("spoken digits (espeak-ng, 5 held-out voices, noisy)",
                     write_digit_dataset(speech / "train", DIGIT_VOICES[:9], seed=1),
                     write_digit_dataset(speech / "test", DIGIT_VOICES[9:], seed=2)))
        clips = [fit_clip(load_audio(p)) for p in sorted((speech / "test").rglob("*.wav"))[:20]]
        for name, backbone_id in (("before: speech_embedding", SOUND_BACKBONE_V1), ("after: both", SOUND_BACKBONE)):
            rows.append((f"embedding one 1-second window, {name} (median of 60)", f"{window_time(backbone_id, clips):.1f} ms"))
        for name, train, test in sets:
            before, after = measure(train, test, SOUND_BACKBONE_V1), measure(train, test, SOUND_BACKBONE)
            n_train, n_test, n_recordings, n_classes = after["counts"]
            rows.append((f"**{name}**", f"{n_classes} classes; {n_train} training / {n_test} test windows "
                                        f"({n_recordings} test recordings)"))
            for classifier in ("knn", "head"):
                b, a = before[classifier], after[classifier]
                rows.append((f"{classifier}: per window / per recording",
                             f"before {b[0]:.3f} / {b[1]:.3f}; after {a[0]:.3f} / {a[1]:.3f}"))
            rows.append(("mix chosen", after["knn note"]))
    print_report(rows)


if __name__ == "__main__":
    main()

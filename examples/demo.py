"""A two-minute tour of Teachable on photos that ship with scikit-image.

Builds a small labelled folder (random crops of four photos), trains both classifiers,
and classifies views the models have never seen.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import teachable  # noqa: E402
from photos import write_views  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        train_dir = write_views(Path(tmp) / "train", per_class=8, seed=1)
        test_dir = write_views(Path(tmp) / "test", per_class=4, seed=2)
        print(f"Training data: {train_dir} (4 classes x 8 photos)\n")
        for classifier in ("knn", "head"):
            model = teachable.train(teachable.Dataset.from_folder(train_dir), classifier=classifier)
            report = model.evaluate(teachable.Dataset.from_folder(test_dir))
            print(f"== {classifier}: held-out accuracy {report.accuracy:.0%}")
            for image in sorted(test_dir.rglob("*.jpg"))[::4]:
                p = model.predict(image)
                print(f"   {image.parent.name:>10}/{image.name:<22} -> {p.label} ({p.confidence:.0%})")
            path = model.save(Path(tmp) / f"{classifier}.teachable")
            print(f"   saved as {path.name} ({path.stat().st_size:,} bytes)\n")
        cat = next((test_dir / "cat").glob("*.jpg"))
        print("What the pretrained network itself sees in a cat photo:")
        for guess in teachable.imagenet_guesses(cat):
            print(f"   {guess.label:<24} {guess.probability:6.1%}")


if __name__ == "__main__":
    main()

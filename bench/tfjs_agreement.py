"""Does real TensorFlow.js predict what Teachable predicts with the TF.js export?

    python bench/tfjs_agreement.py [--data DIR] [--photos 24]

Trains a trained-head model (on DIR's class folders, or on views of scikit-image's photos), exports it
with `tfjs_files`, and runs it in Node with @tensorflow/tfjs 1.3.1 (what Teachable Machine's snippets pin)
and 4.22 (the packages `make node-deps` installs), on held-out photos preprocessed by Teachable (the centre
square, 224x224). Also compares Teachable's reader with tfjs on Teachable Machine's own shared TF.js export
when ../shared/datasets/teachable-machine/ is there. Prints a Markdown table: top-1 agreement and the
largest probability difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import teachable  # noqa: E402
from teachable.dataset import Dataset  # noqa: E402
from teachable.export.tfjs import tfjs_files  # noqa: E402
from photos import write_views  # noqa: E402
from test_teachable_machine import SHARED, TFJS, ours, tfjs_predict, views  # noqa: E402


def row(name: str, version: str, probs: np.ndarray, expected: np.ndarray) -> str:
    top1 = (probs.argmax(1) == expected.argmax(1)).mean()
    return f"| {name} | {version} | {len(probs)} | {top1:.1%} | {np.abs(probs - expected).max():.1e} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="class folders of photos (default: scikit-image views)")
    parser.add_argument("--photos", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = args.data or write_views(tmp / "train", 8, 81)
        dataset = Dataset.from_folder(data)
        model = teachable.train(dataset, classifier="head", epochs=30)
        folder = tmp / "tfjs"
        folder.mkdir()
        for name, content in tfjs_files(model).items():
            (folder / name).write_bytes(content)
        if args.data:
            rng = np.random.default_rng(0)
            picks = rng.choice(len(dataset.samples), min(args.photos, len(dataset.samples)), replace=False)
            images = [dataset.samples[i] for i in picks]
        else:
            images = views(args.photos, 82)
        expected, pixels = ours(model, images)
        print("| model | tfjs | photos | same top-1 | max abs probability difference |")
        print("| --- | --- | --- | --- | --- |")
        for version, package in sorted(TFJS.items()):
            print(row("Teachable's TF.js export", version, tfjs_predict(package, str(folder), pixels), expected))
        if SHARED.exists():
            tm = teachable.load(SHARED / "tfjs-image-export")
            tm_pixels = np.stack([tm.pixels(image) for image in images])
            for version, package in sorted(TFJS.items()):
                print(row("Teachable Machine's export, read by Teachable", version,
                          tfjs_predict(package, str(SHARED / "tfjs-image-export"), tm_pixels), tm.probabilities(tm_pixels)))


if __name__ == "__main__":
    main()

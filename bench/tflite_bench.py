"""TensorFlow Lite export: how closely the float and the quantised (uint8) files follow Teachable.

    python bench/tflite_bench.py [--data DIR] [--per-class 50] [--calibration 250] [--classifier head]

Trains a model on DIR/train (or DIR/dataset/train; class folders), or on views of scikit-image's
photos without --data; exports Teachable Machine's two TensorFlow Lite files, the quantised one
calibrated on the training photos; runs both with ai-edge-litert's interpreter on the held-out
photos (DIR/val, all of them) preprocessed by Teachable. Prints a Markdown table: top-1 agreement
with Teachable, largest and mean probability difference, held-out accuracy, size, latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from machine import describe  # noqa: E402
from photos import write_views  # noqa: E402

import teachable  # noqa: E402
from teachable.dataset import Dataset  # noqa: E402
from teachable.embed.preprocess import prepare  # noqa: E402
from teachable.export.bundle import write_bundle  # noqa: E402
from teachable.export.tflite import FLOAT_FILE, QUANTISED_FILE, tflite_input, tflite_output  # noqa: E402


def split(data: Path | None, tmp: Path, per_class: int) -> tuple[Dataset, Dataset]:
    if data is None:
        return (Dataset.from_folder(write_views(tmp / "train", 8, 1)),
                Dataset.from_folder(write_views(tmp / "val", 10, 2)))
    root = data / "dataset" if (data / "dataset").is_dir() else data
    train, val = Dataset.from_folder(root / "train"), Dataset.from_folder(root / "val")
    rng = np.random.default_rng(0)
    picks = [i for c in range(len(train.classes))
             for i in rng.permutation(np.flatnonzero(np.asarray(train.labels) == c))[:per_class]]
    return Dataset.from_lists([train.samples[i] for i in picks], [train.classes[train.labels[i]] for i in picks]), val


def run(path: Path, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Probabilities for each image, and the median latency of one invoke in ms."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows, times = [], []
    for x in images:
        interpreter.set_tensor(source["index"], tflite_input(x[None], source))
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
        rows.append(tflite_output(interpreter.get_tensor(output["index"])[0], output))
    return np.stack(rows), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="DIR/train and DIR/val class folders (default: scikit-image views)")
    parser.add_argument("--per-class", type=int, default=50, help="training photos per class")
    parser.add_argument("--calibration", type=int, default=250, help="training photos to calibrate on (at most)")
    parser.add_argument("--classifier", choices=["head", "knn"], default="head")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, val = split(args.data, tmp, args.per_class)
        model = teachable.train(train, classifier=args.classifier)
        rng = np.random.default_rng(1)
        chosen = rng.permutation(len(train.samples))[:args.calibration]
        calibration = [prepare(train.samples[i]) for i in chosen]
        start = time.perf_counter()
        folder = write_bundle(model, tmp / "tflite", "tflite", calibration)
        export_s = time.perf_counter() - start
        truth = np.array([model.labels.index(val.classes[c]) for c in val.labels])
        images = np.stack([prepare(p) for p in val.samples])
        reference = np.array([[p.confidences[n] for n in model.labels] for p in model.predict_batch(list(val.samples))])
        print(f"machine: {describe()}")
        print(f"{len(train.samples)} training photos ({len(train.classes)} classes), {len(calibration)} calibration "
              f"photos, {len(images)} held-out photos; {args.classifier}; both files exported in {export_s:.0f} s")
        print()
        print("| model | file size | same top-1 as Teachable | max / mean abs probability difference "
              "| held-out accuracy | latency, batch 1 (median) |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(f"| Teachable (PyTorch) | | | | {np.mean(reference.argmax(1) == truth):.1%} | |")
        for name in (FLOAT_FILE, QUANTISED_FILE):
            probabilities, ms = run(folder / name, images)
            difference = np.abs(probabilities - reference)
            print(f"| {name} | {(folder / name).stat().st_size / 1e6:.1f} MB "
                  f"| {np.mean(probabilities.argmax(1) == reference.argmax(1)):.1%} "
                  f"| {difference.max():.1e} / {difference.mean():.1e} "
                  f"| {np.mean(probabilities.argmax(1) == truth):.1%} | {ms:.1f} ms |")


if __name__ == "__main__":
    main()

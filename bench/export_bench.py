"""Exported ONNX bundles: size on disk and ONNX Runtime latency per image.

    python bench/export_bench.py

Trains a head and a kNN model (4 classes x 8 photos, scikit-image), exports each as a bundle
and times model.onnx under ONNX Runtime on one preprocessed image (batch 1) and a batch of 16.
Prints a Markdown table.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import describe  # noqa: E402
from photos import write_views  # noqa: E402

import teachable  # noqa: E402
from teachable.embed.preprocess import prepare  # noqa: E402
from teachable.export.bundle import write_bundle  # noqa: E402


def median_ms(session, x, repeats):
    session.run(None, {"image": x})
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {"image": x})
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = teachable.Dataset.from_folder(write_views(Path(tmp) / "data", per_class=8, seed=1))
        images = sorted(Path(tmp, "data").rglob("*.jpg"))
        one = prepare(images[0])[None]
        batch = np.stack([prepare(p) for p in images[:16]])
        for classifier in ("head", "knn"):
            model = teachable.train(data, classifier=classifier)
            folder = write_bundle(model, Path(tmp) / f"bundle-{classifier}")
            archive = write_bundle(model, Path(tmp) / f"bundle-{classifier}.zip")
            onnx_mb = (folder / "model.onnx").stat().st_size / 1e6
            zip_mb = archive.stat().st_size / 1e6
            with zipfile.ZipFile(archive) as z:
                count = len(z.namelist())
            options = ort.SessionOptions()
            session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            b1 = median_ms(session, one, 50)
            b16 = median_ms(session, batch, 5) / 16
            rows.append((f"ONNX, {classifier}", f"{onnx_mb:.1f} MB", f"{zip_mb:.1f} MB ({count} files)", f"{b1:.1f} ms", f"{b16:.1f} ms"))
    print(f"machine: {describe()}; onnxruntime {ort.__version__}")
    print()
    print("| model | file | bundle .zip | latency, batch 1 (median) | per image, batch 16 |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

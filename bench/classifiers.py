"""Classifier speed on cached embeddings: training the head, and kNN queries over many examples.

    python bench/classifiers.py

Timing does not depend on what the vectors mean, so this uses 1280-d vectors drawn around
class centres (non-negative like real pooled features). Prints a Markdown table.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_report  # noqa: E402

from teachable.classify.head import HeadClassifier  # noqa: E402
from teachable.classify.knn import KNNClassifier  # noqa: E402


def vectors(n: int, classes: int, rng) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.gamma(1.0, 0.5, size=(classes, 1280)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    return np.abs(centres[y] + rng.normal(0, 0.3, size=(n, 1280)).astype(np.float32)), y


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    x, y = vectors(1000, 5, rng)
    HeadClassifier(5).fit(x[:64], y[:64], epochs=2)  # warm-up: imports PyTorch, first-call set-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        HeadClassifier(5).fit(x, y)  # defaults: 50 epochs, batch 16, lr 0.001
        times.append(time.perf_counter() - start)
    rows.append(("train head: 1,000 embeddings, 5 classes, 50 epochs, batch 16 (median of 5; fastest)",
                 f"{statistics.median(times):.2f} s; {min(times):.2f} s"))
    for n in (10_000, 100_000):
        ex, ey = vectors(n, 10, rng)
        knn = KNNClassifier(10, k=3).fit(ex, ey)
        queries, _ = vectors(50, 10, rng)
        knn.predict_proba(queries[:2])
        single = []
        for q in queries:
            start = time.perf_counter()
            knn.classify(q[None])  # label and vote shares, as Model.predict needs
            single.append((time.perf_counter() - start) * 1000)
        rows.append((f"kNN query over {n:,} examples (median of 50)", f"{statistics.median(single):.2f} ms"))
    print_report(rows)


if __name__ == "__main__":
    main()

"""Classifier speed on cached embeddings: training the head, and kNN queries over many examples.

    python bench/classifiers.py [--data crops.npz]

Head training and the plain kNN product do not depend on what the vectors mean, so they use
1280-d vectors drawn around class centres (non-negative like real pooled features). The int8
index that kNN uses from 20,000 examples on does depend on it (on these synthetic vectors its
bounds cannot separate anything and it steps aside), so with --data (an .npz written by
bench/crop_embeddings.py: real photo embeddings and held-out photo queries) kNN is also timed
on real embeddings, with and without the index. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import print_report  # noqa: E402

from teachable.classify.head import HeadClassifier  # noqa: E402
import teachable.classify.knn as knn_module  # noqa: E402
from teachable.classify.knn import KNNClassifier  # noqa: E402


def vectors(n: int, classes: int, rng) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.gamma(1.0, 0.5, size=(classes, 1280)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    return np.abs(centres[y] + rng.normal(0, 0.3, size=(n, 1280)).astype(np.float32)), y


def median_query_ms(knn: KNNClassifier, queries: np.ndarray) -> float:
    knn.prepare_index()  # the int8 index, where there is one (training starts it in the background)
    knn.classify(queries[:1])
    times = []
    for q in queries:
        start = time.perf_counter()
        knn.classify(q[None])  # label and vote shares, as Model.predict needs
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def real_rows(path: Path, count: int) -> list[tuple[str, str]]:
    from teachable.classify.knn import l2_normalise

    data = np.load(path)
    examples, labels, queries = data["examples"][:count], data["labels"][:count], data["queries"]
    queries = queries[np.random.default_rng(1).permutation(len(queries))[:200]]
    knn = KNNClassifier(int(labels.max()) + 1, k=3).fit(examples, labels)  # starts building the index
    start = time.perf_counter()
    knn.prepare_index()  # waits for that build: the classifier's own index, built once
    build = time.perf_counter() - start
    scores, bound = knn._int8_index().approximate(l2_normalise(queries))
    kth_lower = np.sort(scores - bound, axis=1)[:, -3]
    rescored = (scores + bound >= kth_lower[:, None]).sum(axis=1)
    with_index = median_query_ms(knn, queries)
    minimum = knn_module.INDEX_MIN_EXAMPLES
    knn_module.INDEX_MIN_EXAMPLES = len(examples) + 1
    try:
        plain = median_query_ms(KNNClassifier(knn.num_classes, k=3).fit(examples, labels), queries)
    finally:
        knn_module.INDEX_MIN_EXAMPLES = minimum
    n = f"{len(examples):,} real photo embeddings ({path.name})"
    return [
        (f"kNN query over {n}, int8 index (median of {len(queries)} held-out photos)", f"**{with_index:.2f} ms**"),
        (f"kNN query over {n}, one full product (median of {len(queries)})", f"{plain:.2f} ms"),
        ("examples rescored exactly per query (median; 90th percentile)",
         f"{np.median(rescored):.0f}; {np.percentile(rescored, 90):.0f} of {len(examples):,}"),
        ("building the int8 index (in the background, once after training or loading a model)", f"{build:.2f} s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="an .npz of real embeddings from bench/crop_embeddings.py")
    parser.add_argument("--examples", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    x, y = vectors(1000, 5, rng)
    HeadClassifier(5, epochs=2).fit(x[:64], y[:64])  # warm-up: imports PyTorch, first-call set-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        HeadClassifier(5).fit(x, y)  # defaults: 50 epochs, batch 16, lr 0.001
        times.append(time.perf_counter() - start)
    rows.append(("train head: 1,000 embeddings, 5 classes, 50 epochs, batch 16 (median of 5; fastest)",
                 f"{statistics.median(times):.2f} s; {min(times):.2f} s"))
    for n in (10_000, 100_000):
        ex, ey = vectors(n, 10, rng)
        queries, _ = vectors(50, 10, rng)
        ms = median_query_ms(KNNClassifier(10, k=3).fit(ex, ey), queries)
        rows.append((f"kNN query over {n:,} synthetic examples (median of 50)", f"{ms:.2f} ms"))
    if args.data:
        rows += real_rows(args.data, args.examples)
    print_report(rows)


if __name__ == "__main__":
    main()

"""Which defaults classify real photos best: k and vote weighting for kNN, plain or L2-normalised head inputs.

    python bench/defaults.py --cache flowers.npz [--cache hands.npz ...] [--draws 10]

Each --cache is an embeddings file written by ``bench/accuracy.py --cache`` (training and
held-out embeddings of a real dataset). For 5, 10, 20 and 50 training photos per class, and
for all of them, every variant is trained on the same random draws and scored on the whole
held-out set. Prints one Markdown table per dataset: mean held-out accuracy (± standard
deviation over the draws), the current default marked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import draw  # noqa: E402

from teachable.classify.head import HeadClassifier  # noqa: E402
from teachable.classify.knn import DEFAULT_K, DEFAULT_TEMPERATURE, KNNClassifier  # noqa: E402

SHOTS = (5, 10, 20, 50)
KS = (1, 3, 5, 10)
WEIGHTED = ((3, 0.02), (5, 0.02), (10, 0.02), (5, 0.05))
NORMS = ("none", "l2")


def variants() -> dict[str, object]:
    def knn(k: int, temperature: float):
        return lambda n, seed: KNNClassifier(n, k=k, temperature=temperature)

    def head(norm: str):
        return lambda n, seed: HeadClassifier(n, input_norm=norm, seed=seed)

    found: dict[str, object] = {f"kNN k={k}, equal votes": knn(k, 0.0) for k in KS}
    found.update({f"kNN k={k}, votes weighted (temperature {t})": knn(k, t) for k, t in WEIGHTED})
    found.update({f"head, {norm} inputs": head(norm) for norm in NORMS})
    return found


DEFAULT_NAMES = (f"kNN k={DEFAULT_K}, votes weighted (temperature {DEFAULT_TEMPERATURE})", "head, none inputs")


def accuracy(make, xtr, ytr, xte, yte, n: int, seed: int) -> float:
    model = make(n, seed).fit(xtr, ytr)
    return float((model.predict(xte) == yte).mean())


def study(cache: Path, draws: int) -> None:
    saved = np.load(cache, allow_pickle=False)
    xtr, ytr, xte, yte = saved["xtr"], saved["ytr"], saved["xte"], saved["yte"]
    n = int(max(ytr.max(), yte.max())) + 1
    makers = variants()
    print(f"### {cache.name}: {n} classes, {len(xtr)} training and {len(xte)} held-out embeddings, {draws} draws")
    print()
    print("| variant | " + " | ".join(f"{s} per class" for s in SHOTS) + " | all |")
    print("| --- |" + " --- |" * (len(SHOTS) + 1))
    for name, make in makers.items():
        cells = []
        for shots in SHOTS:
            scores = []
            for seed in range(draws):
                pick = draw(ytr, shots, n, seed)
                scores.append(accuracy(make, xtr[pick], ytr[pick], xte, yte, n, seed))
            cells.append(f"{np.mean(scores):.3f} ± {np.std(scores):.3f}")
        cells.append(f"{accuracy(make, xtr, ytr, xte, yte, n, 0):.3f}")
        default = name in DEFAULT_NAMES
        print(f"| {name}{' (default)' if default else ''} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, action="append", required=True)
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    for cache in args.cache:
        study(cache, args.draws)


if __name__ == "__main__":
    main()

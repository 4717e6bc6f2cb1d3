"""Accuracy on a real labelled photo dataset: few-shot curves and the full-data figure.

    python bench/accuracy.py --data DIR [--kind image|pose|hand] [--cache embeddings.npz] [--draws 5]

DIR holds class folders, either directly (split 80/20 here, stratified, seed 0) or as DIR/train
and DIR/val (or DIR/test). Every photo is embedded once (cached with --cache); with --kind pose
or hand the "embedding" is the keypoint features, and photos in which MediaPipe finds nobody
are left out (their count is printed). Few-shot: for 5, 10, 20 and 50
training photos per class, several random draws; each model is scored on the whole held-out
set; the table shows mean ± standard deviation. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

from teachable.classify.head import HeadClassifier, stratified_split  # noqa: E402
from teachable.classify.knn import KNNClassifier  # noqa: E402
from teachable.dataset import Dataset  # noqa: E402
from teachable.kinds import get_kind  # noqa: E402

SHOTS = (5, 10, 20, 50)


def embeddings(data: Path, cache: Path | None, kind: str):
    if cache and cache.exists():
        saved = np.load(cache, allow_pickle=False)
        return saved["xtr"], saved["ytr"], saved["xte"], saved["yte"], list(saved["classes"])
    backbone = get_kind(kind).backbone()
    start = time.perf_counter()
    held_out = next((data / name for name in ("val", "test") if (data / name).is_dir()), None)
    if (data / "train").is_dir() and held_out is not None:
        train, test = Dataset.from_folder(data / "train", kind=kind), Dataset.from_folder(held_out, kind=kind)
        assert train.classes == test.classes
        xtr, ytr = train.embed(backbone)
        xte, yte = test.embed(backbone)
        classes, skipped = train.classes, len(train.skipped) + len(test.skipped)
    else:
        everything = Dataset.from_folder(data, kind=kind)
        x, y = everything.embed(backbone)
        split = stratified_split(y, 0.2, seed=0)
        xtr, ytr, xte, yte = x[split.train], y[split.train], x[split.validation], y[split.validation]
        classes, skipped = everything.classes, len(everything.skipped)
    print(f"embedded {len(xtr) + len(xte)} photos in {time.perf_counter() - start:.0f} s; {skipped} left out", file=sys.stderr)
    if cache:
        np.savez(cache, xtr=xtr, ytr=ytr, xte=xte, yte=yte, classes=np.array(classes))
    return xtr, ytr, xte, yte, classes


def draw(labels: np.ndarray, shots: int, classes: int, seed: int) -> np.ndarray:
    """Positions of ``shots`` random training examples of every class (draw number ``seed``)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), shots, replace=False) for c in range(classes)])


def score(kind: str, xtr, ytr, xte, yte, classes: int, seed: int) -> float:
    if kind == "knn":
        model = KNNClassifier(classes).fit(xtr, ytr)  # the defaults users get
    else:
        model = HeadClassifier(classes, seed=seed).fit(xtr, ytr)
    return float((model.predict(xte) == yte).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--kind", choices=["image", "pose", "hand"], default="image")
    parser.add_argument("--plot", type=Path, help="also draw the few-shot curves to this PNG file")
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    xtr, ytr, xte, yte, classes = embeddings(args.data, args.cache, args.kind)
    n = len(classes)
    print(f"machine: {describe()}")
    print(f"data ({args.kind}): {args.data} — {len(classes)} classes ({', '.join(classes)}); {len(xtr)} training, {len(xte)} held-out photos")
    print()
    print("| training photos per class | kNN (defaults) | trained head (defaults) |")
    print("| --- | --- | --- |")
    curves = {"knn": [], "head": []}
    for shots in SHOTS:
        results = {"knn": [], "head": []}
        for seed in range(args.draws):
            pick = draw(ytr, shots, n, seed)
            for kind in results:
                results[kind].append(score(kind, xtr[pick], ytr[pick], xte, yte, n, seed))
        for kind, values in results.items():
            curves[kind].append((np.mean(values), np.std(values)))
        cells = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in results.values()]
        print(f"| {shots} ({args.draws} draws) | {cells[0]} | {cells[1]} |")
    full = [score(kind, xtr, ytr, xte, yte, n, 0) for kind in ("knn", "head")]
    print(f"| all {len(xtr)} | {full[0]:.3f} | {full[1]:.3f} |")
    if args.plot:
        plot_curves(args.plot, curves, dict(zip(("knn", "head"), full)), f"{args.data.name} ({args.kind}), {len(classes)} classes")


def plot_curves(path: Path, curves: dict, full: dict, title: str) -> None:
    """Held-out accuracy against training photos per class, with the spread over draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.6), dpi=110)
    for kind, label in (("knn", "kNN"), ("head", "trained head")):
        mean = np.array([m for m, _ in curves[kind]])
        spread = np.array([s for _, s in curves[kind]])
        line = axes.plot(SHOTS, mean, marker="o", label=f"{label}; all data {full[kind]:.3f}")[0]
        axes.fill_between(SHOTS, mean - spread, mean + spread, color=line.get_color(), alpha=0.2)
    axes.set_xscale("log")
    axes.set_xticks(SHOTS, [str(s) for s in SHOTS])
    axes.minorticks_off()
    axes.set_xlabel("training photos per class")
    axes.set_ylabel("held-out accuracy")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


if __name__ == "__main__":
    main()

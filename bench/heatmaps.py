"""Are the heatmaps faithful, and fast? Photos whose class is decided only by a pasted patch.

    python bench/heatmaps.py [--photos 60]

20 training photos per class (tests/patches.py: the same backgrounds in every class, the cat's
face or the rocket pasted at a random place), a trained head and a kNN; then new photos of the
same making. A heatmap passes a photo when its peak falls inside the patch. Compared: Teachable's
class activation map (explain/heatmap.py) and occlusion of an 8 x 8 grid (56-pixel windows
filled with the photo's mean colour), for 64- and 80-pixel patches. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from machine import describe  # noqa: E402
from patches import patched_set  # noqa: E402

import teachable  # noqa: E402
from teachable.explain.heatmap import class_evidence, explain_photo  # noqa: E402


def occlusion_peak(model, square: np.ndarray, grid: int = 8, window: int = 56) -> tuple[float, float]:
    backbone = model.backbone
    base = backbone.embed([square])[0]
    c = model.labels.index(model.predict_embeddings(base[None])[0].label)
    fill = square.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    cell = square.shape[0] // grid
    hidden = []
    for row in range(grid):
        for col in range(grid):
            copy = square.copy()
            top, left = max(row * cell + cell // 2 - window // 2, 0), max(col * cell + cell // 2 - window // 2, 0)
            copy[top:top + window, left:left + window] = fill
            hidden.append(copy)
    evidence = class_evidence(model, np.concatenate([base[None], backbone.embed(hidden)]), c)
    row, col = np.unravel_index(int(np.argmax(evidence[0] - evidence[1:])), (grid, grid))
    return (col * cell + cell / 2) / square.shape[0], (row * cell + cell / 2) / square.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=60)
    args = parser.parse_args()
    print(f"machine: {describe()}\n")
    print("| patch | classifier | method | peak inside the patch | time per photo |")
    print("| --- | --- | --- | ---: | ---: |")
    for size in (64, 80):
        train = patched_set(40, seed=1, size=size)
        tests = patched_set(args.photos, seed=2, size=size)
        for classifier in ("head", "knn"):
            model = teachable.train(teachable.Dataset.from_lists([t[0] for t in train], [t[1] for t in train]),
                                    classifier=classifier)
            for method in ("class activation map (Teachable)", "occlusion, 8 x 8"):
                hits, start = 0, time.perf_counter()
                for image, _, (left, top, right, bottom) in tests:
                    x, y = explain_photo(model, image)[0].peak if method.startswith("class") else occlusion_peak(model, image)
                    hits += left <= x * 224 < right and top <= y * 224 < bottom
                seconds = (time.perf_counter() - start) / len(tests)
                print(f"| {size} px | {classifier} | {method} | {hits}/{len(tests)} ({hits / len(tests):.0%}) | {seconds * 1000:.0f} ms |")


if __name__ == "__main__":
    main()

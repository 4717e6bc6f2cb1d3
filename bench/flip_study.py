"""Does adding mirrored copies of the training photos help? (flip augmentation of embeddings)

    python bench/flip_study.py --data DIR --cache embeddings.npz [--draws 10]

DIR/train holds the class folders whose embeddings ``bench/accuracy.py --cache`` stored in
the cache (same order). Each training photo is also embedded mirrored (cached beside it as
<cache>-flipped.npz); each classifier is then trained on the drawn photos alone and on the
drawn photos plus their mirror images, and scored on the held-out photos (never mirrored).
Prints a Markdown table: mean held-out accuracy ± standard deviation over the draws.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import draw, score  # noqa: E402

from teachable.dataset import Dataset  # noqa: E402
from teachable.embed.image import get_backbone  # noqa: E402
from teachable.embed.preprocess import load_image  # noqa: E402

SHOTS = (5, 10, 20, 50)


def flipped_embeddings(data: Path, cache: Path, count: int) -> np.ndarray:
    target = cache.with_name(cache.stem + "-flipped.npz")
    if target.exists():
        return np.load(target)["xtr"]
    paths = Dataset.from_folder(data / "train").samples
    if len(paths) != count:
        raise SystemExit(f"{data}/train has {len(paths)} photos but the cache {count}: not the same dataset.")
    mirrored = [load_image(p).transpose(Image.Transpose.FLIP_LEFT_RIGHT) for p in paths]
    vectors = get_backbone("cpu").embed(mirrored)
    np.savez(target, xtr=vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    saved = np.load(args.cache)
    xtr, ytr, xte, yte = saved["xtr"], saved["ytr"], saved["xte"], saved["yte"]
    flipped = flipped_embeddings(args.data, args.cache, len(xtr))
    n = int(ytr.max()) + 1
    print(f"{args.cache.name}: {len(xtr)} training photos (+ mirrored), {len(xte)} held-out, {args.draws} draws")
    print()
    print("| training photos per class | kNN | kNN + mirrored | head | head + mirrored |")
    print("| --- | --- | --- | --- | --- |")
    for shots in (*SHOTS, None):
        cells = []
        for kind in ("knn", "head"):
            for mirror in (False, True):
                scores = []
                for seed in range(args.draws if shots else 1):
                    pick = draw(ytr, shots, n, seed) if shots else np.arange(len(xtr))
                    x, y = xtr[pick], ytr[pick]
                    if mirror:
                        x, y = np.concatenate([x, flipped[pick]]), np.concatenate([y, y])
                    scores.append(score(kind, x, y, xte, yte, n, seed))
                cells.append(f"{np.mean(scores):.3f} ± {np.std(scores):.3f}" if shots else f"{scores[0]:.3f}")
        print(f"| {shots or 'all'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

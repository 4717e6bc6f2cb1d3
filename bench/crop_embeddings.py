"""Many real embeddings for the kNN speed benchmark: random crops of class-folder photos.

    python bench/crop_embeddings.py --data DIR [DIR ...] --count 100000 --out crops.npz

Each photo under DIR/train/<class>/ (or DIR/<class>/) gives count / photos random square crops
(40-100% of the shorter side, mirrored half of the time), embedded with the image backbone:
the near-duplicates a webcam burst gives, around real photos of many subjects. Photos under
DIR/test/ or DIR/val/ (when there is one) are embedded whole as queries. Writes examples, labels and
queries to an .npz outside the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from photos import random_view  # noqa: E402

from teachable.embed.image import ImageBackbone  # noqa: E402
from teachable.embed.preprocess import load_image  # noqa: E402

SUFFIXES = (".jpg", ".jpeg", ".png")


def photos(root: Path) -> list[tuple[Path, str]]:
    return sorted((p, p.parent.name) for p in root.rglob("*") if p.suffix.lower() in SUFFIXES)


def crops(path: Path, count: int, rng: np.random.Generator):
    image = load_image(path)
    for _ in range(count):
        yield random_view(image, rng, scale=(0.4, 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, nargs="+", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    train, test = [], []
    for root in args.data:
        train += photos(root / "train") if (root / "train").is_dir() else photos(root)
        held_out = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
        test += photos(held_out) if held_out else []
    per_photo = -(-args.count // len(train))
    rng = np.random.default_rng(0)
    backbone = ImageBackbone("cpu")
    examples, labels = [], []
    with tqdm(total=per_photo * len(train), desc="embedding crops", unit="img", file=sys.stderr) as bar:
        for path, label in train:
            examples.append(backbone.embed(list(crops(path, per_photo, rng))).astype(np.float32))
            labels += [label] * per_photo
            bar.update(per_photo)
    queries = backbone.embed([p for p, _ in test]) if test else np.zeros((0, 1280), np.float32)
    classes = sorted(set(labels))
    np.savez(args.out, examples=np.concatenate(examples)[: args.count],
             labels=np.array([classes.index(x) for x in labels][: args.count]), queries=queries,
             classes=np.array(classes))
    print(f"{min(args.count, len(labels)):,} crop embeddings of {len(train):,} photos, {len(queries):,} queries -> {args.out}")


if __name__ == "__main__":
    main()

"""The review on the projects Teachable Machine's users make: one background, a dozen photos a class,
a few labels wrong and a few copies put in.

    python bench/small_projects.py --data DIR [--data DIR2 ...] [--per-class 12 20 40] [--seeds 5]

Each DIR holds class folders of photos taken against one background (a hand-gesture set, say). For
each seed and size, a project is drawn as a user makes one: 3 classes, ``per-class`` photos each;
then 3 labels are flipped to another of the 3 classes and 3 photos get a copy in their own class (one
re-encoded at JPEG quality 50, one resized to half, one with 5% cropped off each side). Every photo
and copy is embedded once (cached). The review (``teachable.explain.review``) is then scored:

- mislabels: precision and recall of its "possibly mislabelled" flags against the flipped photos,
  and how many correct photos it flags per project;
- copies: the share of injected copies flagged as a duplicate *of their original*, and how many
  flagged pairs per project are not injected copies (false pairs).

Prints one Markdown table per data set. Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

from teachable.embed.image import get_backbone  # noqa: E402
from teachable.explain.fingerprint import pixel_fingerprint  # noqa: E402
from teachable.explain.review import review  # noqa: E402

FLIPS = 3
COPIES = 3
CLASSES = 3


def class_folders(data: Path) -> dict[str, list[Path]]:
    root = data / "train" if (data / "train").is_dir() else data
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if files:
            out[folder.name] = files
    return out


def copy_of(data: bytes, how: str) -> bytes:
    """A copy of a photo's bytes: ``reencode`` (JPEG quality 50), ``resize`` (half) or ``crop`` (5% off each side)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if how == "resize":
        image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)
    elif how == "crop":
        dx, dy = int(image.width * 0.05), int(image.height * 0.05)
        image = image.crop((dx, dy, image.width - dx, image.height - dy))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=50 if how == "reencode" else 90)
    return buffer.getvalue()


class Embeddings:
    """Each picture's embedding and fingerprint, computed once."""

    def __init__(self) -> None:
        self.backbone = get_backbone("cpu")
        self._cache: dict[object, tuple[np.ndarray, np.ndarray]] = {}

    def of(self, key: object, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._cache:
            self._cache[key] = (self.backbone.embed_many([data])[0][0], pixel_fingerprint(data))
        return self._cache[key]


def one_project(folders: dict[str, list[Path]], per_class: int, seed: int, cache: Embeddings) -> dict:
    rng = np.random.default_rng(seed)
    names = list(rng.choice(sorted(folders), min(CLASSES, len(folders)), replace=False))
    paths, labels = [], []
    for c, name in enumerate(names):
        files = folders[name]
        for i in rng.choice(len(files), min(per_class, len(files)), replace=False):
            paths.append(files[i])
            labels.append(c)
    labels = np.array(labels)
    truth = labels.copy()
    flipped = rng.choice(len(paths), FLIPS, replace=False)
    for i in flipped:
        labels[i] = (labels[i] + rng.integers(1, len(names))) % len(names)
    vectors, prints, sources = [], [], []
    for path in paths:
        vector, fingerprint = cache.of(path, path.read_bytes())
        vectors.append(vector)
        prints.append(fingerprint)
        sources.append(str(path))
    originals = rng.choice([i for i in range(len(paths)) if i not in set(flipped)], COPIES, replace=False)
    injected = set()
    for how, i in zip(("reencode", "resize", "crop"), originals):
        vector, fingerprint = cache.of((paths[i], how), copy_of(paths[i].read_bytes(), how))
        vectors.append(vector)
        prints.append(fingerprint)
        sources.append(f"{paths[i]}#{how}")
        labels = np.append(labels, labels[i])
        truth = np.append(truth, truth[i])
        injected.add(frozenset((sources[i], sources[-1])))
    result = review(np.stack(vectors), labels, names, sources, "image", fingerprints=np.stack(prints))
    mislabel = {f.source for f in result.flags if f.reason == "mislabel"}
    wrong = {sources[i] for i in flipped}
    pairs = {frozenset((f.source, f.duplicate_of)) for f in result.flags if f.reason == "duplicate"}
    return {"flagged": len(mislabel), "true": len(mislabel & wrong), "wrong": len(wrong),
            "clean_flagged": len(mislabel - wrong), "copies_found": len(pairs & injected), "copies": len(injected),
            "false_pairs": len(pairs - injected), "too_small": any(h.kind == "small" for h in result.hints)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--per-class", type=int, nargs="+", default=[12, 20, 40])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    cache = Embeddings()
    print(f"Machine: {describe()}. {CLASSES} classes a project, {FLIPS} flipped labels, {COPIES} injected copies, "
          f"{args.seeds} seeds.\n")
    for data in args.data:
        folders = class_folders(data)
        print(f"#### {data.name}: {len(folders)} classes, {sum(len(v) for v in folders.values())} photos\n")
        print("| a class | mislabel precision | recall | correct photos flagged / project (max) | copies found | "
              "false pairs / project (max) |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for per_class in args.per_class:
            runs = [one_project(folders, per_class, seed, cache) for seed in range(args.seeds)]
            flagged = sum(r["flagged"] for r in runs)
            true = sum(r["true"] for r in runs)
            precision = true / flagged if flagged else float("nan")
            recall = true / sum(r["wrong"] for r in runs)
            clean = [r["clean_flagged"] for r in runs]
            found = sum(r["copies_found"] for r in runs) / sum(r["copies"] for r in runs)
            false_pairs = [r["false_pairs"] for r in runs]
            print(f"| {per_class} | {precision:.2f} ({true}/{flagged}) | {recall:.2f} | {np.mean(clean):.1f} ({max(clean)}) | "
                  f"{found:.2f} | {np.mean(false_pairs):.1f} ({max(false_pairs)}) |")
        print()


if __name__ == "__main__":
    main()

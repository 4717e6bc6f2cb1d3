"""Are the photo heatmaps faithful per pixel? Deletion and insertion curves on real photos.

    python bench/heatmap_faithfulness.py --data DIR [--data DIR2 ...] [--photos 30] [--per-class 20]

The field's test (Petsiuk et al., "RISE", 2018): grey out the photo's pixels in the order the
heatmap ranks them, hottest first, and follow the model's probability of the class it explains; the
faster it falls, the truer the map (deletion: area under the curve, lower is better). Insertion
starts from a blurred photo and puts pixels back in that order (higher is better). Each map is
compared with a random order of the same pixels. Per data set (class folders of real photos): a
head trained on ``per-class`` photos of 3 classes, then ``photos`` new photos of those classes.
Maps: the last layer's 7 x 7 class activation map (Teachable until issue 31), the gradient x
activation of the last 14 x 14 layer alone, and what explain_photo draws now (the first refined by
the second). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import describe  # noqa: E402

from teachable.embed.preprocess import pixels  # noqa: E402
from teachable.embed.image import get_backbone  # noqa: E402
from teachable.explain import heatmap as heat  # noqa: E402
from teachable.training import fit  # noqa: E402

STEPS = 20


def folders(data: Path) -> dict[str, list[Path]]:
    root = data / "train" if (data / "train").is_dir() else data
    return {p.name: sorted(f for f in p.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
            for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}


def upsample(grid: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(grid, np.float32)).resize((side, side), Image.Resampling.BILINEAR))


def curves(model, square: np.ndarray, order: np.ndarray, c: int) -> tuple[float, float]:
    """(deletion AUC, insertion AUC) of the class's probability along ``order`` (pixel indices)."""
    side = square.shape[0]
    grey = np.full_like(square, 127)
    blurred = np.asarray(Image.fromarray(square).filter(ImageFilter.GaussianBlur(12)))
    steps = np.linspace(0, len(order), STEPS + 1).astype(int)
    deleted, inserted = [], []
    for n in steps:
        mask = np.zeros(side * side, bool)
        mask[order[:n]] = True
        mask = mask.reshape(side, side)[..., None]
        deleted.append(np.where(mask, grey, square))
        inserted.append(np.where(mask, square, blurred))
    vectors = model.backbone.embed(deleted + inserted)
    probs = model.classifier.predict_proba(vectors)[:, c]
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    x = steps / len(order)
    return float(trapezoid(probs[:len(steps)], x)), float(trapezoid(probs[len(steps):], x))


def maps(model, square: np.ndarray, c: int) -> dict[str, np.ndarray]:
    import torch

    from teachable.embed.preprocess import to_tensor

    network = heat._torch_network()
    x = torch.from_numpy(to_tensor(square))[None]
    with torch.no_grad():
        mid = network.first_blocks(x, 11)
    mid = mid.clone().requires_grad_(True)
    last = network.last_from(mid, 11)
    last.retain_grad()
    embedding = last.mean(dim=(2, 3))[0]
    evidence = heat._torch_evidence(model, embedding, c)
    evidence.backward()
    cam7 = torch.relu((last.grad[0].sum(dim=(1, 2))[:, None, None] * last[0]).sum(0)).detach().numpy()
    gxa14 = torch.relu((mid.grad[0] * mid[0]).sum(0)).detach().numpy()
    side = square.shape[0]
    out = {"7 x 7 last layer (Teachable before issue 31)": upsample(cam7, side),
           "14 x 14 gradient x activation alone": upsample(gxa14, side)}
    started = time.perf_counter()
    drawn, _ = heat.explain_photo(model, square, model.labels[c])
    out["explain_photo: 7 x 7 refined at 14 x 14 (now)"] = upsample(np.asarray(drawn.grid), side)
    out["_seconds"] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--per-class", type=int, default=20)
    args = parser.parse_args()
    print(f"Machine: {describe()}. {STEPS} steps a curve; deletion lower is better, insertion higher.\n")
    for data in args.data:
        classes = folders(data)
        rng = np.random.default_rng(0)
        names = list(rng.choice(sorted(classes), min(3, len(classes)), replace=False))
        train, tests = [], []
        for name in names:
            files = list(rng.permutation(classes[name]))
            train += [(f, name) for f in files[:args.per_class]]
            tests += [(f, name) for f in files[args.per_class:args.per_class + args.photos // len(names)]]
        backbone = get_backbone("cpu")
        vectors = backbone.embed([pixels(f) for f, _ in train])
        model = fit(vectors, np.array([names.index(n) for _, n in train]), names, backbone.id, epochs=50, seed=0)
        sums: dict[str, list[tuple[float, float]]] = {}
        seconds = []
        for f, name in tests:
            square = pixels(f)
            c = model.labels.index(model.predict_embeddings(backbone.embed([square]))[0].label)
            ranked = maps(model, square, c)
            seconds.append(ranked.pop("_seconds"))
            for method, values in ranked.items():
                order = np.argsort(-values.ravel(), kind="stable")
                sums.setdefault(method, []).append(curves(model, square, order, c))
            random_order = np.random.default_rng(len(seconds)).permutation(square.shape[0] ** 2)
            sums.setdefault("random order", []).append(curves(model, square, random_order, c))
        print(f"#### {data.name}: classes {', '.join(names)}; {len(train)} training, {len(tests)} test photos; "
              f"explain_photo {np.mean(seconds):.2f} s a photo\n")
        print("| map | deletion AUC | insertion AUC | random's deletion AUC ÷ the map's |")
        print("| --- | ---: | ---: | ---: |")
        rand_del = np.mean([d for d, _ in sums["random order"]])
        for method, values in sums.items():
            d, i = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
            print(f"| {method} | {d:.3f} | {i:.3f} | {rand_del / d:.2f} |")
        print()


if __name__ == "__main__":
    main()

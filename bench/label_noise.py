"""Does `teachable review` find what is wrong with a dataset? Flipped labels, injected near
duplicates, and what a review costs.

    python bench/label_noise.py --data DIR [--per-class 200] [--cache emb.npz] [--cleanlab]

DIR holds class folders of photos (or DIR/train/<class>). ``--per-class`` photos of each class are
embedded once. Then, for 3 seeds, 10% of the labels are flipped to another class at random and
the review's "possibly mislabelled" flags are scored against the flipped set (precision, recall),
for the leave-one-out kNN vote Teachable uses and for 5-fold trained heads (the project's
default settings); with ``--cleanlab`` (if it installs) cleanlab's confident learning
(`find_label_issues`) on the same out-of-fold probabilities too. A sweep of the share threshold
shows where the default sits. Near duplicates: for 60 photos, a re-encoded (JPEG quality 50), a
resized (half size) and a cropped (5% off each side) copy are added; recall of those pairs and the
share of flagged pairs that are not injected copies, per similarity threshold. Cost: a review of
1,000 samples from cached embeddings. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe  # noqa: E402

from teachable.classify.head import HeadClassifier  # noqa: E402
from teachable.explain import review as reviewing  # noqa: E402
from teachable.explain.fingerprint import pixel_fingerprint  # noqa: E402
from teachable.kinds import get_kind  # noqa: E402

SEEDS = (0, 1, 2)
FLIP = 0.10


def photos(data: Path, per_class: int) -> tuple[list[Path], np.ndarray, list[str]]:
    root = data / "train" if (data / "train").is_dir() else data
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for c, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for i in rng.choice(len(files), min(per_class, len(files)), replace=False):
            paths.append(files[i])
            labels.append(c)
    return paths, np.array(labels), classes


def copies(path: Path) -> list[bytes]:
    """A re-encoded, a resized and a cropped copy of a photo."""
    image = Image.open(path).convert("RGB")
    out = []
    for change in ("reencode", "resize", "crop"):
        if change == "resize":
            variant = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
        elif change == "crop":
            dx, dy = image.width // 20, image.height // 20
            variant = image.crop((dx, dy, image.width - dx, image.height - dy))
        else:
            variant = image
        buffer = io.BytesIO()
        variant.save(buffer, format="JPEG", quality=50 if change == "reencode" else 90)
        out.append(buffer.getvalue())
    return out


def embedded(args) -> dict[str, np.ndarray]:
    """Embeddings and pixel fingerprints of the photos and of the injected copies."""
    if args.cache and args.cache.exists():
        return dict(np.load(args.cache, allow_pickle=False))
    paths, y, classes = photos(args.data, args.per_class)
    backbone = get_kind("image").backbone()
    start = time.perf_counter()
    x = backbone.embed(paths)
    originals = np.random.default_rng(1).choice(len(paths), 60, replace=False)
    copied = [c for i in originals for c in copies(paths[i])]
    found = {"x": x, "y": y, "classes": np.array(classes), "dup_x": backbone.embed(copied),
             "dup_of": np.repeat(originals, 3), "fp": np.stack([pixel_fingerprint(p.read_bytes()) for p in paths]),
             "dup_fp": np.stack([pixel_fingerprint(c) for c in copied])}
    print(f"embedded {len(x) + len(copied)} photos in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.cache:
        np.savez(args.cache, **found)
    return found


def flipped(y: np.ndarray, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(y), int(round(FLIP * len(y))), replace=False)
    noisy = y.copy()
    noisy[chosen] = (y[chosen] + rng.integers(1, classes, len(chosen))) % classes
    return noisy, chosen


def kfold_head(x: np.ndarray, y: np.ndarray, classes: int, seed: int, folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of trained heads (the project's default settings)."""
    order = np.random.default_rng(seed).permutation(len(y))
    shares = np.zeros((len(y), classes))
    for f in range(folds):
        held = order[f::folds]
        train = np.setdiff1d(order, held)
        head = HeadClassifier(classes, seed=seed).fit(x[train], y[train])
        shares[held] = head.predict_proba(x[held])
    return shares


def scores(flagged: set[int], truth: set[int]) -> tuple[float, float]:
    hits = len(flagged & truth)
    return (hits / len(flagged) if flagged else 1.0), hits / len(truth)


def mislabel_table(x: np.ndarray, y: np.ndarray, names: list[str], use_cleanlab: bool) -> None:
    """Precision / recall of each way of flagging, over the seeds."""
    n = len(names)
    sources = [f"#{i}" for i in range(len(y))]
    rows: dict[str, list] = {}
    sweep = {t: [] for t in (0.5, 0.6, 0.75, 0.85, 0.9)}
    for seed in SEEDS:
        noisy, chosen = flipped(y, n, seed)
        truth = set(int(i) for i in chosen)
        result = reviewing.review(x, noisy, names, sources)
        flagged = {int(f.source[1:]) for f in result.flags if f.reason == "mislabel"}
        rows.setdefault(f"Teachable's review: kNN share ≥ {reviewing.MISLABEL_SHARE} and the probe agrees", []).append(scores(flagged, truth))
        knn = result.shares.argmax(axis=1)
        rows.setdefault(f"leave-one-out kNN alone, share ≥ {reviewing.MISLABEL_SHARE}", []).append(scores(
            {i for i in range(len(y)) if knn[i] != noisy[i] and result.shares[i, knn[i]] >= reviewing.MISLABEL_SHARE}, truth))
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        probe = reviewing._probe(unit, noisy, n).argmax(axis=1)
        rows.setdefault("5-fold ridge probe alone", []).append(scores({i for i in range(len(y)) if probe[i] != noisy[i]}, truth))
        head = kfold_head(x, noisy, n, seed)
        ph = head.argmax(axis=1)
        rows.setdefault(f"5-fold trained heads (project defaults), p ≥ {reviewing.MISLABEL_SHARE}", []).append(scores(
            {i for i in range(len(y)) if ph[i] != noisy[i] and head[i, ph[i]] >= reviewing.MISLABEL_SHARE}, truth))
        for t in sweep:
            sweep[t].append(scores({i for i in range(len(y)) if knn[i] != noisy[i] and probe[i] == knn[i]
                                    and result.shares[i, knn[i]] >= t}, truth))
        if use_cleanlab:
            from cleanlab.filter import find_label_issues

            for name, probs in (("cleanlab on the kNN votes", result.shares), ("cleanlab on the 5-fold heads", head)):
                issues = set(int(i) for i in np.flatnonzero(find_label_issues(noisy, probs)))
                rows.setdefault(f"{name} (confident learning)", []).append(scores(issues, truth))
    print("| method | precision | recall |")
    print("| --- | ---: | ---: |")
    for name, values in rows.items():
        p, r = np.mean(values, axis=0)
        print(f"| {name} | {p:.3f} | {r:.3f} |")
    print("\nThreshold sweep of Teachable's rule (kNN share ≥ t, probe agreeing):\n")
    print("| t | precision | recall |")
    print("| ---: | ---: | ---: |")
    for t, values in sweep.items():
        p, r = np.mean(values, axis=0)
        print(f"| {t} | {p:.3f} | {r:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--cleanlab", action="store_true", help="compare with cleanlab's find_label_issues")
    args = parser.parse_args()
    found = embedded(args)
    x, y, classes = found["x"], found["y"], [str(c) for c in found["classes"]]
    if args.cleanlab:
        try:
            import cleanlab  # noqa: F401 (only whether it installs)
        except ImportError:
            print("(cleanlab is not installed: pip install cleanlab)", file=sys.stderr)
            args.cleanlab = False
    print(f"machine: {describe()}")
    sets = [(list(range(len(classes))), "all classes")]
    keep = list(range(len(classes)))
    while True:  # the largest set of classes on which the model is at least 90% accurate
        selected = np.isin(y, keep)
        ys = np.searchsorted(keep, y[selected])
        clean = reviewing.review(x[selected], ys, [classes[c] for c in keep], [""] * len(ys))
        if clean.out_of_fold_accuracy >= 0.9 or len(keep) <= 2:
            break
        worst = min(range(len(keep)), key=lambda c: (clean.predicted[ys == c] == c).mean())
        keep = keep[:worst] + keep[worst + 1:]
    if len(keep) < len(classes):
        sets.append((keep, "the classes on which the model is ≥ 90% accurate"))
    for keep, label in sets:
        selected = np.isin(y, keep)
        ys = np.searchsorted(keep, y[selected])
        names = [classes[c] for c in keep]
        accuracy = reviewing.review(x[selected], ys, names, [""] * len(ys)).out_of_fold_accuracy
        print(f"\n### Flipped labels ({FLIP:.0%}, {len(SEEDS)} seeds), {label}: {', '.join(names)} — {len(ys)} photos, "
              f"out-of-fold accuracy on the clean labels {accuracy:.3f}\n")
        mislabel_table(x[selected], ys, names, args.cleanlab)

    print("\n### Near duplicates: 60 photos × (re-encoded, resized, cropped) copies\n")
    dup_x, dup_of = found["dup_x"], found["dup_of"]
    unit = np.concatenate([x, dup_x])
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    prints = np.concatenate([found["fp"], found["dup_fp"]])
    first = len(x)
    injected = set()
    groups: dict[int, list[int]] = {}
    for j, o in enumerate(dup_of):
        groups.setdefault(int(o), [int(o)]).append(first + j)
    for members in groups.values():  # copies of one photo are duplicates of each other too
        injected |= {(a, b) for a in members for b in members if a < b}
    upper = np.triu(np.ones((len(unit), len(unit)), bool), 1)
    distinct = int(upper.sum()) - len(injected)
    print("| likeness | ≥ | recall of injected pairs | flagged pairs not injected | of all distinct pairs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    from teachable.explain.fingerprint import similarity

    for name, sims, thresholds in (("embedding cosine", unit @ unit.T, (0.9, 0.95)),
                                   ("pixel fingerprint at the best zoom (Teachable)", similarity(prints, prints),
                                    (0.95, 0.965, 0.98))):
        for t in thresholds:
            flagged = {(int(a), int(b)) for a, b in np.argwhere((sims >= t) & upper)}
            false = flagged - injected
            marker = " (default)" if name.endswith("(Teachable)") and t == reviewing.PHOTO_DUPLICATE_SIMILARITY else ""
            print(f"| {name} | {t}{marker} | {len(flagged & injected) / len(injected):.3f} | "
                  f"{len(false)} ({len(false) / max(len(flagged), 1):.1%}) | {len(false) / distinct:.4%} |")

    print("\n### Cost\n")
    thousand = np.resize(np.arange(len(y)), 1000)
    noise = 1e-4 * np.random.default_rng(0).normal(size=(1000, x.shape[1])).astype(np.float32)
    start = time.perf_counter()
    reviewing.review(x[thousand] + noise, y[thousand], classes, [f"#{i}" for i in range(1000)], fingerprints=found["fp"][thousand])
    print(f"review of 1,000 samples from cached embeddings and fingerprints: {time.perf_counter() - start:.2f} s  ")
    from teachable.explain.memory import ExampleMemory
    from teachable.training import fit

    model = fit(x[thousand] + noise, y[thousand], classes, "efficientnet-lite0-imagenet-224-v1", classifier="head", epochs=5)
    query = x[:1]
    start = time.perf_counter()
    for _ in range(200):
        model.predict_embeddings(query)
    plain = (time.perf_counter() - start) / 200
    start = time.perf_counter()
    for _ in range(200):
        model.predict_embeddings(query, explain=True)
    explained = (time.perf_counter() - start) / 200
    print(f"nearest examples of one prediction among 1,000 training samples: +{(explained - plain) * 1000:.2f} ms "
          f"({plain * 1000:.2f} ms without, {explained * 1000:.2f} ms with)  ")
    memory = ExampleMemory.from_embeddings(x[thousand], y[thousand], [f"cat/IMG_{i:04d}.jpg" for i in range(1000)])
    without = len(type(model)(**{**model.__dict__, "examples": None}).to_bytes())
    grown = len(type(model)(**{**model.__dict__, "examples": memory}).to_bytes()) - without
    print(f"model file growth: {grown / 1000:,.0f} bytes per training sample (with a 17-character source each)")


if __name__ == "__main__":
    main()

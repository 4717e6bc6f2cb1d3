"""Image embedding speed: single-image latency and batched throughput, network only and end to end.

    python bench/embed.py [--device cpu|cuda] [--images 64]

"Network only" feeds preprocessed tensors; "end to end" starts from JPEG files on disk
(decode, EXIF, crop, resize, normalise, network). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import describe  # noqa: E402

from teachable.embed.image import ImageBackbone  # noqa: E402
from teachable.embed.preprocess import prepare  # noqa: E402


def make_jpegs(folder: Path, count: int) -> list[Path]:
    from photos import PHOTOS, photo, random_view

    rng = np.random.default_rng(0)
    sources = [photo(name) for name in PHOTOS]
    paths = []
    for i in range(count):
        path = folder / f"{i}.jpg"
        random_view(sources[i % len(sources)], rng).resize((640, 640)).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    backbone = ImageBackbone(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), args.images)
        one = prepare(paths[0])[None]
        for _ in range(5):
            backbone.run(one)
        latencies = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            backbone.run(one)
            latencies.append((time.perf_counter() - start) * 1000)
        batch = np.stack([prepare(p) for p in paths])
        start = time.perf_counter()
        backbone.run(batch)
        network_rate = len(batch) / (time.perf_counter() - start)
        start = time.perf_counter()
        backbone.embed(paths, batch_size=32)
        e2e_rate = len(paths) / (time.perf_counter() - start)
        single_e2e = []
        for p in paths[:20]:
            start = time.perf_counter()
            backbone.embed_one(p)
            single_e2e.append((time.perf_counter() - start) * 1000)

    print(f"machine: {describe()}; device: {backbone.device}")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| latency, batch 1, network only (median of {args.repeats}) | {statistics.median(latencies):.1f} ms |")
    print(f"| latency, batch 1, network only (p90) | {np.percentile(latencies, 90):.1f} ms |")
    print(f"| latency, one 640x640 JPEG end to end (median) | {statistics.median(single_e2e):.1f} ms |")
    print(f"| throughput, {len(paths)} images, network only | {network_rate:.0f} images/s |")
    print(f"| throughput, {len(paths)} JPEG files end to end | {e2e_rate:.0f} images/s |")


if __name__ == "__main__":
    main()

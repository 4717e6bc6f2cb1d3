"""Image embedding speed: single-image latency and bulk throughput, network only and end to end.

    python bench/embed.py [--device cpu|cuda] [--images 64] [--bulk N] [--data DIR] [--precision fp16]

"Network only" feeds preprocessed tensors; "end to end" starts from JPEG files on disk
(read, decode, EXIF, crop, resize, scale, network) through ``ImageBackbone.embed``, the path
``teachable train`` and project imports use. Without --data the photos are random 640x640
crops of scikit-image photos written to a temporary folder; --bulk N reads N files (the
folder's files over again when N is larger). On a GPU it also compares float16 and bfloat16
autocast with float32. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import print_report  # noqa: E402

from teachable.embed.image import ImageBackbone  # noqa: E402
from teachable.embed.preprocess import pixels, prepare  # noqa: E402


def _write_one(job: tuple[Path, int]) -> Path:
    from photos import PHOTOS, photo, random_view

    path, index = job
    names = list(PHOTOS)
    rng = np.random.default_rng(index)
    random_view(photo(names[index % len(names)]), rng).resize((640, 640)).save(path, quality=90)
    return path


def make_jpegs(folder: Path, count: int) -> list[Path]:
    with Pool() as pool:
        return pool.map(_write_one, [(folder / f"{i}.jpg", i) for i in range(count)], chunksize=16)


def dataset_jpegs(root: Path) -> list[Path]:
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not paths:
        raise SystemExit(f"No JPEG files under {root}.")
    return paths


def timed_rate(function, count: int) -> float:
    start = time.perf_counter()
    function()
    return count / (time.perf_counter() - start)


def precision_rows(paths: list[Path], precision: str) -> list[tuple[str, str]]:
    """How far float16 / bfloat16 embeddings and top-1 ImageNet guesses move from float32."""
    from teachable.embed.image_gpu import PRECISIONS, GpuImageNetwork

    batch = np.stack([pixels(p) for p in paths[:256]])
    reference = GpuImageNetwork("fp32")
    reference_features, reference_logits = reference.run_pixels(batch)
    b = reference_features / np.linalg.norm(reference_features, axis=1, keepdims=True)
    rows = []
    for name in PRECISIONS:
        if name == "fp32":
            continue
        network = GpuImageNetwork(name)
        features, logits = network.run_pixels(batch)
        a = features / np.linalg.norm(features, axis=1, keepdims=True)
        cosine = (a * b).sum(axis=1)
        same_top1 = (logits.argmax(1) == reference_logits.argmax(1)).mean()
        network.run_pixels(batch)
        rate = timed_rate(lambda: [network.run_pixels(batch) for _ in range(8)], 8 * len(batch))
        rows.append((f"{name} autocast vs float32, {len(batch)} photos: lowest cosine of embeddings / same top-1 guess",
                     f"{cosine.min():.5f} / {same_top1:.1%}"))
        rows.append((f"{name} network throughput from uint8 pixels, batch {len(batch)}", f"{rate:.0f} images/s"))
    rate = timed_rate(lambda: [reference.run_pixels(batch) for _ in range(8)], 8 * len(batch))
    rows.append((f"fp32 network throughput from uint8 pixels, batch {len(batch)}", f"{rate:.0f} images/s"))
    rows.append(("precision the backbone uses on this GPU", precision))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default=None, help="GPU only: fp16 (default), bf16 or fp32")
    parser.add_argument("--images", type=int, default=64, help="distinct photos to write (without --data)")
    parser.add_argument("--bulk", type=int, default=0, help="files to embed end to end (default: all of them once)")
    parser.add_argument("--data", type=Path, help="a folder of real JPEG photos to use instead")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--workers", type=int, help="GPU only: decoding processes (default: every core but one)")
    args = parser.parse_args()

    backbone = ImageBackbone(args.device, args.precision, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        files = dataset_jpegs(args.data) if args.data else make_jpegs(Path(tmp), args.images)
        bulk = [files[i % len(files)] for i in range(args.bulk or len(files))]
        one = prepare(files[0])[None]
        for _ in range(5):
            backbone.run(one)
        latencies = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            backbone.run(one)
            latencies.append((time.perf_counter() - start) * 1000)
        batch = np.stack([prepare(p) for p in files[:64]])
        backbone.run(batch)
        network_rate = timed_rate(lambda: backbone.run(batch), len(batch))
        first_rate = timed_rate(lambda: backbone.embed(bulk[:512]), len(bulk[:512]))  # starts any workers
        e2e_rate = timed_rate(lambda: backbone.embed(bulk), len(bulk))
        single_e2e = []
        for p in files[:20]:
            start = time.perf_counter()
            backbone.embed_one(p)
            single_e2e.append((time.perf_counter() - start) * 1000)
        rows = [
            (f"latency, batch 1, network only (median of {args.repeats})", f"{statistics.median(latencies):.1f} ms"),
            ("latency, batch 1, network only (p90)", f"{np.percentile(latencies, 90):.1f} ms"),
            ("latency, one JPEG end to end (median of 20)", f"{statistics.median(single_e2e):.1f} ms"),
            (f"throughput, {len(batch)} images, network only", f"{network_rate:.0f} images/s"),
            (f"throughput, first {len(bulk[:512])} JPEG files end to end (includes starting workers)", f"{first_rate:.0f} images/s"),
            (f"throughput, {len(bulk):,} JPEG files end to end ({len(files):,} distinct)", f"**{e2e_rate:.0f} images/s**"),
        ]
        if backbone.device == "cuda":
            rows.insert(0, ("processes decoding photos", str(backbone._decoder.workers)))
            rows += precision_rows(files, backbone._gpu.precision)
    source = f"photos from {args.data}" if args.data else "640x640 JPEG crops of scikit-image photos"
    print_report(rows, f"; device: {backbone.device}; {source}")


if __name__ == "__main__":
    main()

"""Importing a large class-folder dataset into a project: throughput and peak memory.

    python bench/import_speed.py [--images 5000] [--data DIR] [--train]

Without --data it writes N random crops (320x320 JPEG) of scikit-image photos into a
temporary folder outside the repository. --train then trains the head on every cached
embedding of the project (defaults) and times it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import describe  # noqa: E402
from tqdm import tqdm  # noqa: E402

from teachable import Project  # noqa: E402


def write_dataset(root: Path, count: int) -> Path:
    from photos import PHOTOS, photo, random_view

    rng = np.random.default_rng(0)
    names = list(PHOTOS)
    sources = {name: photo(name) for name in names}
    for i in tqdm(range(count), desc="writing photos", file=sys.stderr):
        name = names[i % len(names)]
        (root / name).mkdir(parents=True, exist_ok=True)
        random_view(sources[name], rng).resize((320, 320)).save(root / name / f"{i:06d}.jpg", quality=88)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--data", type=Path, help="an existing class-folder dataset to import instead")
    parser.add_argument("--train", action="store_true", help="also train the head on everything imported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or write_dataset(Path(tmp) / "data", args.images)
        files = sum(1 for p in data.rglob("*") if p.is_file())
        with Project.create(Path(tmp) / "bench.teachable-project") as project:
            start = time.perf_counter()
            with tqdm(total=files, desc="importing", unit="img", file=sys.stderr) as bar:
                result = project.import_dataset(data, on_progress=bar.update)
            elapsed = time.perf_counter() - start
            embedded = len(project.embeddings()[2])
            size = project.path.stat().st_size
            import_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            train_seconds = None
            if args.train:
                start = time.perf_counter()
                project.train(classifier="head")
                train_seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {describe()}")
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| images imported (decoded, checked, stored, embedded) | {result.added} |")
    print(f"| identical files ignored (same bytes as one already imported) | {result.duplicates} |")
    print(f"| embeddings cached | {embedded} |")
    print(f"| wall time | {elapsed:.1f} s |")
    print(f"| throughput | {result.added / elapsed:.1f} images/s |")
    print(f"| peak memory while importing (max RSS of the process) | {import_peak_mb:.0f} MB |")
    if train_seconds is not None:
        print(f"| training the head on all {embedded} embeddings (defaults, 15% validation) | {train_seconds:.0f} s |")
        print(f"| peak memory including training | {peak_mb:.0f} MB |")
    print(f"| project file size | {size / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()

"""The networks on Ray against the same work on this machine.

    python bench/scale.py [--photos 300] [--data DIR] [--students 10] [--seconds 20] [--skip-classroom]

1. The hop: one live frame embedded here and through a Ray Serve deployment on a local cluster
   (sequential calls: p50 / p95 of each; the difference is what the hop costs a frame).
2. Bulk: a folder predicted file by file on this machine (what `teachable predict` does), then by
   Ray Data with 1 and 2 CPU actors on a local cluster (`teachable predict --ray local`); files/s,
   and the cluster's start-up apart. `--data DIR` predicts a real folder (its files, any depth)
   instead of `--photos` random views of scikit-image photos.
3. A classroom: `bench/classroom.py`'s students on `teachable serve` here, then on
   `serve --ray local` with 1 and 2 replicas: preview updates/s, round trip p50 / p95, errors.

Everything runs on this machine: a local Ray cluster shares its cores with the server, so this
measures the overhead of the design, not the gain of more machines (docs/scale.md has both).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import describe  # noqa: E402
from photos import write_views  # noqa: E402


def percentiles(ms: list[float]) -> str:
    return f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 95):.1f} ms"


def hop(frames: list[bytes], calls: int = 100) -> list[tuple[str, str]]:
    from teachable.embed import IMAGE_BACKBONE, local_backbone, load_backbone
    from teachable.embed.queue import LIVE
    from teachable.scale.serving import stop_routing

    here = local_backbone(IMAGE_BACKBONE)
    there = load_backbone(IMAGE_BACKBONE)  # routed to the deployment
    rows = []
    for name, backbone in (("this machine", here), ("Ray Serve, 1 replica", there)):
        backbone.embed_frames(frames[:2], LIVE)  # warm
        times = []
        for i in range(calls):
            start = time.perf_counter()
            backbone.embed_frames([frames[i % len(frames)]], LIVE)
            times.append((time.perf_counter() - start) * 1000)
        rows.append((name, percentiles(times)))
    stop_routing()
    return rows


def bulk(model_bytes: bytes, paths: list[str]) -> list[tuple[str, str, str]]:
    from teachable.model import Model
    from teachable.predictions import local_rows
    from teachable.scale.bulk import predict_paths

    model = Model.from_bytes(model_bytes)
    rows = []
    start = time.perf_counter()
    labels_here = {r["path"]: r["label"] for r in local_rows(model, paths)}
    took = time.perf_counter() - start
    rows.append(("this machine, file by file", f"{len(paths) / took:.1f}", f"{took:.1f} s"))
    for actors in (1, 2):
        start = time.perf_counter()
        labels = {r["path"]: r["label"] for r in predict_paths(model_bytes, paths, "local", actors=actors)}
        took = time.perf_counter() - start
        same = sum(labels[p] == labels_here[p] for p in paths)
        rows.append((f"Ray Data, {actors} CPU actor{'s' if actors > 1 else ''}", f"{len(paths) / took:.1f}",
                     f"{took:.1f} s (same label: {same}/{len(paths)})"))
    return rows


def classroom_rows(students: int, seconds: float) -> list[tuple]:
    import classroom

    rows = []
    for name, args in (("this machine", []), ("--ray local, 1 replica", ["--ray=local"]),
                       ("--ray local, 2 replicas", ["--ray=local", "--ray-replicas=2"])):
        r = classroom.measure(students, seconds, 4, args, settled=True)
        rows.append((name, f"{r['updates_per_s']:.1f} ({r['slowest_updates_per_s']:.1f})",
                     f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms", f"{r['peak_mb']:.0f} MB", len(r["errors"])))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=300, help="random views to predict (without --data)")
    parser.add_argument("--data", type=Path, help="a folder of photos to predict instead")
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--skip-classroom", action="store_true")
    args = parser.parse_args(argv)

    from teachable import Dataset, api
    from teachable.predictions import files_to_predict
    from teachable.scale.serving import use_ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = api.train(Dataset.from_folder(write_views(root / "train", 8, 1, ["cat", "coffee", "rocket"])), epochs=30)
        folder = args.data or write_views(root / "new", max(1, args.photos // 3), 2, ["cat", "coffee", "rocket"])
        paths = [str(p) for p in files_to_predict([folder], "image")]
        frames = [Path(p).read_bytes() for p in paths[:30]]
        start = time.perf_counter()
        use_ray("local", num_cpus=None)
        from teachable.embed import IMAGE_BACKBONE, load_backbone

        load_backbone(IMAGE_BACKBONE)
        started = time.perf_counter() - start
        hop_rows = hop(frames)
        bulk_rows = bulk(model.to_bytes(), paths)
        import ray

        ray.shutdown()
    room = [] if args.skip_classroom else classroom_rows(args.students, args.seconds)

    print(f"machine: {describe()}")
    print(f"\nA local Ray cluster and the image deployment started in {started:.1f} s.\n")
    print("| one live frame | p50 / p95 |\n| --- | --- |")
    for name, value in hop_rows:
        print(f"| {name} | {value} |")
    print(f"\n| {len(paths)} photos predicted | files/s | wall |\n| --- | --- | --- |")
    for row in bulk_rows:
        print("| " + " | ".join(row) + " |")
    if room:
        print(f"\n| {args.students} students, {args.seconds:g} s of preview | updates/s each (slowest) | round trip p50 / p95 "
              "| server peak memory | errors |\n| --- | --- | --- | --- | --- |")
        for row in room:
            print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()

"""CPU runtimes for the backbones: ONNX Runtime (what Teachable used before) against OpenVINO in
float32 and, where the CPU has it natively, bfloat16.

    python bench/runtimes.py [--images 64] [--data DIR] [--per-class 60]

Image backbone: batch-1 latency, network-only throughput (batches of 8, OpenVINO; ONNX Runtime as
Teachable ran it: a pool of single-threaded sessions), end to end from 640x640 JPEGs through
``ImageBackbone.embed_many``, and how far features move from ONNX Runtime's. Sound backbone: one
clip's embedding time. With --data (``train/<class>/`` and ``val/<class>/`` photos): kNN and
trained-head accuracy with embeddings of each precision, and how far a model trained on bfloat16
embeddings answers from the float32 path that exports run (the rule for using a precision).
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from embed import make_jpegs  # noqa: E402
from machine import describe  # noqa: E402

from teachable.embed import runtime  # noqa: E402
from teachable.embed.image import CPU_BATCH, ImageBackbone, backbone_onnx_path  # noqa: E402
from teachable.embed.preprocess import prepare  # noqa: E402
from teachable.embed.runtime import OnnxRuntimeNetwork, OpenVinoNetwork  # noqa: E402


def median_ms(function, repeats: int = 40) -> float:
    for _ in range(3):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def backbone(runtime_name: str) -> ImageBackbone:
    os.environ["TEACHABLE_RUNTIME"] = runtime_name
    runtime._openvino_core.cache_clear()
    return ImageBackbone("cpu")


def image_rows(count: int) -> list[tuple]:
    path = str(backbone_onnx_path())
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((count, 3, 224, 224)).astype(np.float32)
    rows = []
    ort_backbone = backbone("onnxruntime")
    reference = ort_backbone.run(batch)[0]
    with tempfile.TemporaryDirectory() as folder:
        jpegs = make_jpegs(Path(folder), count)
        for name, make in (("ONNX Runtime (before)", lambda: ort_backbone),
                           ("OpenVINO float32", lambda: backbone("openvino")),
                           ("OpenVINO bfloat16", None)):
            if make is None:
                if not runtime.bf16_available():
                    continue
                network = OpenVinoNetwork(path, "bf16")
                run = lambda x: np.concatenate([network.run(x[i : i + CPU_BATCH])[0] for i in range(0, len(x), CPU_BATCH)])
                single = lambda: network.run(batch[:1])
                end_to_end = lambda: run(np.stack([prepare(p) for p in jpegs]))  # one thread decodes: a lower bound
                e2e_note = " (decoding on one thread)"
            else:
                engine = make()
                run = lambda x: engine.run(x)[0]
                single = lambda: engine.run(batch[:1])
                end_to_end = lambda: engine.embed_many(jpegs)
                e2e_note = ""
            latency = median_ms(single)
            features = run(batch)
            throughput = count / (median_ms(lambda: run(batch), 5) / 1000)
            e2e = count / (median_ms(end_to_end, 3) / 1000)
            a = features / np.linalg.norm(features, axis=1, keepdims=True)
            b = reference / np.linalg.norm(reference, axis=1, keepdims=True)
            rows.append((name, f"{latency:.1f} ms", f"{throughput:.0f}/s", f"{e2e:.0f}/s{e2e_note}",
                         f"{np.abs(features - reference).max():.1e}", f"{(a * b).sum(1).min():.4f}"))
    return rows


def sound_rows() -> list[tuple]:
    from teachable.embed.audio import PAD_SAMPLES, model_files

    mel, embed = map(str, model_files())
    clip = np.random.default_rng(1).standard_normal((1, 16000 + 2 * PAD_SAMPLES)).astype(np.float32) * 3000
    rows, reference = [], None
    makers = [("ONNX Runtime (before)", lambda p: OnnxRuntimeNetwork(p, 2)), ("OpenVINO float32", lambda p: OpenVinoNetwork(p))]
    if runtime.bf16_available():
        makers.append(("OpenVINO bfloat16", lambda p: OpenVinoNetwork(p, "bf16")))
    for name, make in makers:
        mel_net, embed_net = make(mel), make(embed)
        spectrum = np.squeeze(mel_net.run(clip)[0]) / 10 + 2
        windows = np.stack([spectrum[s : s + 76] for s in range(0, spectrum.shape[0] - 75, 8)])[..., None].astype(np.float32)
        vector = embed_net.run(windows)[0].reshape(len(windows), -1).mean(0)
        reference = vector if reference is None else reference
        ms = median_ms(lambda: embed_net.run(windows)) + median_ms(lambda: mel_net.run(clip))
        rows.append((name, f"{ms:.1f} ms", f"{np.abs(vector - reference).max() / np.abs(reference).max():.1e}"))
    return rows


def accuracy_rows(root: Path, per_class: int) -> list[tuple]:
    from teachable.classify.head import HeadClassifier
    from teachable.classify.knn import KNNClassifier

    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    rng = np.random.default_rng(0)
    train = [(f, i) for i, c in enumerate(classes)
             for f in rng.choice(sorted((root / "train" / c).iterdir()), per_class, replace=False)]
    held_out = root / "val" if (root / "val").is_dir() else root / "test"
    val = [(f, i) for i, c in enumerate(classes) for f in sorted((held_out / c).iterdir())]
    x = np.stack([prepare(f) for f, _ in train + val])
    y = np.array([label for _, label in train + val])
    n = len(train)
    path = str(backbone_onnx_path())
    features = {}
    for precision in ("fp32", "bf16"):
        network = OpenVinoNetwork(path, precision)
        features[precision] = np.concatenate([network.run(x[i : i + 8])[0] for i in range(0, len(x), 8)])
    rows = []
    for name, make in (("kNN", lambda: KNNClassifier(len(classes))), ("trained head", lambda: HeadClassifier(len(classes)))):
        exact = make().fit(features["fp32"][:n], y[:n])
        low = make().fit(features["bf16"][:n], y[:n])
        accuracy = [(m.predict(features[p][n:]) == y[n:]).mean() for m, p in ((exact, "fp32"), (low, "bf16"))]
        teachable, exported = low.predict_proba(features["bf16"][n:]), low.predict_proba(features["fp32"][n:])
        gap = np.abs(teachable - exported).max(1)
        rows.append((name, f"{accuracy[0]:.1%}", f"{accuracy[1]:.1%}", f"{gap.max():.3f} (median {np.median(gap):.0e})",
                     f"{(teachable.argmax(1) == exported.argmax(1)).mean():.1%}"))
    return rows, len(train), len(val)


def table(header: tuple, rows: list[tuple]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--data", type=Path, help="a folder with train/<class>/ and val/<class>/ photos")
    parser.add_argument("--per-class", type=int, default=60, help="training photos per class (--data)")
    args = parser.parse_args()
    print(f"machine: {describe()}; bfloat16 native: {'yes' if runtime.bf16_available() else 'no'}")
    print()
    table(("image backbone", "batch-1 latency", "network only", "end to end from JPEG", "max |Δ feature|",
           "min cosine to ONNX Runtime"), image_rows(args.images))
    table(("sound backbone", "one clip", "max relative Δ"), sound_rows())
    if args.data:
        rows, n_train, n_val = accuracy_rows(args.data, args.per_class)
        print(f"{n_train} training photos, {n_val} held-out photos; a model trained on bfloat16 embeddings, answering "
              "from bfloat16 (Teachable) and from float32 (an exported model):")
        print()
        table(("classifier", "accuracy float32", "accuracy bfloat16", "max |Δ probability| bf16 vs export",
               "same top-1"), rows)


if __name__ == "__main__":
    main()

"""Does the exported Node.js example (predict.mjs) predict what Teachable predicts?

    python bench/node_agreement.py [--data DIR] [--per-class 50] [--variants 40]

Trains a trained-head model on DIR/train (or DIR/dataset/train), or on views of scikit-image's
photos; exports the ONNX bundle; runs `node predict.mjs --json` (packages from `make node-deps`)
on every held-out photo as it is (DIR/val), and on the first --variants of them written as each
other file kind (EXIF-rotated JPEG, PNG with alpha, GIF, WebP, BMP). Prints a Markdown table per
file kind: photos, same top-1 as Teachable, largest probability difference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from machine import describe  # noqa: E402
from photos import FORMATS, write_formats  # noqa: E402
from tflite_bench import split  # noqa: E402

import teachable  # noqa: E402
from teachable.export.bundle import write_bundle  # noqa: E402

NODE_MODULES = HERE.parent / ".node" / "node_modules"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="DIR/train and DIR/val class folders (default: scikit-image views)")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--variants", type=int, default=40, help="held-out photos also written as each file kind")
    args = parser.parse_args()
    if not (NODE_MODULES / "sharp").exists():
        sys.exit("needs `make node-deps` (onnxruntime-node and sharp in .node/)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, val = split(args.data, tmp, args.per_class)
        model = teachable.train(train, classifier="head")
        folder = write_bundle(model, tmp / "bundle")
        (folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
        files = {"as stored": [Path(p) for p in val.samples]}
        for i, path in enumerate(files["as stored"][:args.variants]):
            with Image.open(path) as image:
                for kind, written in write_formats(image, tmp / "variants", f"{i:04d}").items():
                    files.setdefault(kind, []).append(written)
        print(f"machine: {describe()}; node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}")
        print(f"{len(train.samples)} training photos, {len(files['as stored'])} held-out photos")
        print()
        print("| files | photos | same top-1 as Teachable | max abs probability difference | errors |")
        print("| --- | --- | --- | --- | --- |")
        for kind in ("as stored", *FORMATS):
            paths = files[kind]
            rows = []
            for start in range(0, len(paths), 100):
                out = subprocess.run(["node", str(folder / "predict.mjs"), "--json", *map(str, paths[start:start + 100])],
                                     capture_output=True, text=True, timeout=3600)
                if out.returncode not in (0, 1):
                    sys.exit(f"predict.mjs failed: {out.stderr[-2000:]}")
                rows += [json.loads(line) for line in out.stdout.strip().splitlines()]
            errors = sum("error" in row for row in rows)
            same, worst = [], 0.0
            for row, prediction in zip(rows, model.predict_batch(paths)):
                if "error" in row:
                    continue
                same.append(row["label"] == prediction.label)
                worst = max(worst, max(abs(row["confidences"][k] - v) for k, v in prediction.confidences.items()))
            print(f"| {kind} | {len(paths)} | {np.mean(same):.1%} | {worst:.1e} | {errors} |")


if __name__ == "__main__":
    main()

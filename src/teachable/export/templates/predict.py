"""Classify images (or the webcam) with a Teachable model exported to ONNX.

    pip install onnxruntime pillow numpy          # add opencv-python for --webcam
    python predict.py photo.jpg [more.jpg ...] [--json]
    python predict.py --webcam [--camera 0]

Reads model.onnx and metadata.json from this folder.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
META = json.loads((HERE / "metadata.json").read_text(encoding="utf-8"))
LABELS = META["labels"]
SIZE, MEAN, STD = META["input"]["size"], META["input"]["mean"], META["input"]["std"]


def preprocess(image: Image.Image) -> np.ndarray:
    """Exactly Teachable's recipe: upright, RGB on white, centre square, bilinear resize, scale."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    x = (np.asarray(image, dtype=np.float32) - MEAN) / STD
    return x.transpose(2, 0, 1)[None]


def main() -> None:
    parser = argparse.ArgumentParser(description="Classify images with a Teachable ONNX model.")
    parser.add_argument("images", nargs="*", help="image files")
    parser.add_argument("--webcam", action="store_true", help="classify the webcam live (needs opencv-python)")
    parser.add_argument("--camera", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object per file (label, confidences, or error)")
    args = parser.parse_args()
    session = ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])

    def classify(image: Image.Image):
        probabilities, label = session.run(None, {"image": preprocess(image)})
        return LABELS[int(label[0])], probabilities[0]

    if args.webcam:
        import cv2

        camera = cv2.VideoCapture(args.camera)
        while True:
            ok, frame = camera.read()
            if not ok:
                sys.exit("The webcam gave no picture.")
            label, probabilities = classify(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
            cv2.putText(frame, f"{label} {probabilities.max():.0%}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 255, 0), 2)
            cv2.imshow("Teachable (press q to quit)", frame)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                break
        return
    if not args.images:
        parser.error("give image files, or --webcam")
    failed = 0
    for path in args.images:
        try:
            with Image.open(path) as image:
                label, probabilities = classify(image)
        except (OSError, ValueError, SyntaxError) as exc:  # not an image, truncated, missing: say so, go on
            failed += 1
            if args.json:
                print(json.dumps({"file": path, "error": str(exc)}), flush=True)
            else:
                print(f"{path}: error: {exc}", file=sys.stderr, flush=True)
            continue
        if args.json:
            confidences = {name: float(p) for name, p in zip(LABELS, probabilities)}
            print(json.dumps({"file": path, "label": label, "confidence": confidences[label], "confidences": confidences},
                             ensure_ascii=False), flush=True)
        else:
            scores = "  ".join(f"{name} {p:.1%}" for name, p in sorted(zip(LABELS, probabilities), key=lambda t: -t[1]))
            print(f"{path}: {label}   [{scores}]", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

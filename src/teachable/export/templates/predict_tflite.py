"""Classify images with a Teachable model exported to TensorFlow Lite.

    pip install ai-edge-litert pillow numpy        # or tflite-runtime on a Raspberry Pi
    python predict_tflite.py photo.jpg [more.jpg ...] [--json]
    python predict_tflite.py --quantised photo.jpg  # model.tflite (uint8) instead of model_unquant.tflite

Reads model_unquant.tflite (or model.tflite) and metadata.json from this folder.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # Raspberry Pi: pip install tflite-runtime
    from tflite_runtime.interpreter import Interpreter

HERE = Path(__file__).resolve().parent
META = json.loads((HERE / "metadata.json").read_text(encoding="utf-8"))
LABELS = META["labels"]
SIZE = META["input"]["size"]


def pixels(image: Image.Image) -> np.ndarray:
    """Teachable's recipe: upright, RGB on white, centre square, bilinear resize; NHWC uint8."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)[None]


def main() -> None:
    parser = argparse.ArgumentParser(description="Classify images with a Teachable TensorFlow Lite model.")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--quantised", action="store_true", help="use model.tflite (uint8) instead of model_unquant.tflite")
    parser.add_argument("--json", action="store_true", help="one JSON object per file (label, confidences, or error)")
    args = parser.parse_args()
    interpreter = Interpreter(model_path=str(HERE / ("model.tflite" if args.quantised else "model_unquant.tflite")))
    interpreter.allocate_tensors()
    source, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def classify(image: Image.Image) -> np.ndarray:
        x = pixels(image)
        if source["dtype"] == np.float32:  # model_unquant.tflite: (pixel - 127.5) / 127.5
            x = (x.astype(np.float32) - 127.5) / 127.5
        interpreter.set_tensor(source["index"], x)  # model.tflite takes the pixels as they are
        interpreter.invoke()
        y = interpreter.get_tensor(output["index"])[0].astype(np.float32)
        if output["dtype"] == np.uint8:  # model.tflite: (value - zero_point) * scale, i.e. value / 255
            scale, zero_point = output["quantization"]
            y = (y - zero_point) * scale
        return y

    failed = 0
    for path in args.images:
        try:
            with Image.open(path) as image:
                probabilities = classify(image)
        except (OSError, ValueError, SyntaxError) as exc:  # not an image, truncated, missing: say so, go on
            failed += 1
            if args.json:
                print(json.dumps({"file": path, "error": str(exc)}), flush=True)
            else:
                print(f"{path}: error: {exc}", file=sys.stderr, flush=True)
            continue
        label = LABELS[int(np.argmax(probabilities))]
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

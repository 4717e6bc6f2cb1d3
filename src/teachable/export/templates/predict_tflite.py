"""Classify images with a Teachable model exported to TensorFlow Lite.

    pip install ai-edge-litert pillow numpy        # or tflite-runtime on a Raspberry Pi
    python predict_tflite.py photo.jpg [more.jpg ...]
    python predict_tflite.py --int8 photo.jpg       # the smaller, quantised model

Reads model.tflite (or model_int8.tflite) and metadata.json from this folder.
"""

import argparse
import json
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
SIZE, MEAN, STD = META["input"]["size"], META["input"]["mean"], META["input"]["std"]


def preprocess(image: Image.Image) -> np.ndarray:
    """Teachable's recipe: upright, RGB on white, centre square, bilinear resize, (x - 127) / 128, NCHW."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    return ((np.asarray(image, dtype=np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]


def main() -> None:
    parser = argparse.ArgumentParser(description="Classify images with a Teachable TensorFlow Lite model.")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--int8", action="store_true", help="use model_int8.tflite")
    args = parser.parse_args()
    interpreter = Interpreter(model_path=str(HERE / ("model_int8.tflite" if args.int8 else "model.tflite")))
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    outputs = interpreter.get_output_details()
    probabilities_out = next(d for d in outputs if len(d["shape"]) == 2)
    label_out = next((d for d in outputs if len(d["shape"]) == 1), None)  # the model's own choice
    for path in args.images:
        x = preprocess(Image.open(path))
        if source["dtype"] == np.int8:  # quantised input: round(x / scale) + zero_point
            scale, zero_point = source["quantization"]
            x = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        probabilities = interpreter.get_tensor(probabilities_out["index"])[0]
        # The model's label output decides (kNN ties are broken inside the model, as in Teachable).
        index = int(interpreter.get_tensor(label_out["index"])[0]) if label_out else int(np.argmax(probabilities))
        label = LABELS[index]
        scores = "  ".join(f"{n} {p:.1%}" for n, p in sorted(zip(LABELS, probabilities), key=lambda t: -t[1]))
        print(f"{path}: {label}   [{scores}]")


if __name__ == "__main__":
    main()

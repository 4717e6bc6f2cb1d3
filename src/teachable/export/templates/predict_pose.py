"""Classify body poses (or hand gestures) with a Teachable model exported to ONNX.

    pip install onnxruntime numpy pillow opencv-python-headless absl-py attrs flatbuffers matplotlib "protobuf>=4.25,<7"
    pip install --no-deps mediapipe==0.10.21
    python predict.py photo.jpg [more.jpg ...]
    python predict.py --camera 0          # live, from a webcam (needs opencv-python with a GUI for the window)

MediaPipe finds the landmarks, keypoint_features.py turns them into the numbers the model
was trained on (the same code Teachable uses), and model.onnx classifies them.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

from keypoint_features import hand_features, pose_features
from terminal import quiet_native_chatter

quiet_native_chatter()  # MediaPipe's native start-up notices and warnings say nothing to you

HERE = Path(__file__).resolve().parent
META = json.loads((HERE / "metadata.json").read_text(encoding="utf-8"))
LABELS, KIND = META["labels"], META["kind"]
classifier = ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])


def detector(still: bool):
    """MediaPipe's landmark model (model_complexity=1: the one bundled in the wheel)."""
    from mediapipe.python.solutions import hands, pose

    if KIND == "pose":
        return pose.Pose(static_image_mode=still, model_complexity=1)
    return hands.Hands(static_image_mode=still, model_complexity=1, max_num_hands=1)


def features(result, width: int, height: int):
    """The model's input for one picture, or None when there is no person (hand) in it."""
    if KIND == "pose":
        if result.pose_landmarks is None:
            return None
        points = np.array([[p.x, p.y, p.z, p.visibility] for p in result.pose_landmarks.landmark])
        return pose_features(points, width, height)
    if not result.multi_hand_landmarks:
        return None
    points = np.array([[p.x, p.y, p.z] for p in result.multi_hand_landmarks[0].landmark])
    right = result.multi_handedness[0].classification[0].label == "Right"
    return hand_features(points, width, height, right)


# How the frames with nobody in view were labelled when the model was trained (each class's share),
# or None: then such a frame is "no person found", as in Teachable.
NOBODY = META.get("nobody")


def classify(rgb: np.ndarray, model):
    vector = features(model.process(rgb), rgb.shape[1], rgb.shape[0])
    if vector is None:
        if NOBODY:  # the class such frames were given, as Teachable answers them
            shares = np.array([NOBODY.get(label, 0.0) for label in LABELS])
            return LABELS[int(shares.argmax())], shares
        return None, None
    probabilities, label = classifier.run(None, {"features": vector[None].astype(np.float32)})
    return LABELS[int(label[0])], probabilities[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=f"Classify {KIND}s with a Teachable ONNX model.")
    parser.add_argument("images", nargs="*")
    parser.add_argument("--camera", type=int, help="webcam number: classify live instead of files")
    args = parser.parse_args()
    if args.camera is not None:
        import cv2

        capture, model = cv2.VideoCapture(args.camera), detector(still=False)
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            label, probabilities = classify(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), model)
            print(f"{label} {probabilities.max():.0%}" if label else f"no {KIND} in view", flush=True)
        return
    model = detector(still=True)
    for path in args.images:
        rgb = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        label, probabilities = classify(rgb, model)
        if label is None:
            print(f"{path}: no {'person' if KIND == 'pose' else 'hand'} found")
            continue
        scores = "  ".join(f"{n} {p:.1%}" for n, p in sorted(zip(LABELS, probabilities), key=lambda t: -t[1]))
        print(f"{path}: {label}   [{scores}]")


if __name__ == "__main__":
    main()

"""Pose and hand landmark latency per frame, in still-image mode and in tracking (video) mode.

    python bench/pose_latency.py [--frames 60]

Still mode is what every captured or uploaded photo goes through; tracking mode is what the
live preview uses (MediaPipe follows the person from one frame to the next). Frames are
scikit-image's astronaut photo moving a little, decoded once; 224x224 frames are what the page
sends, 640x480 a typical webcam frame. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from machine import print_report  # noqa: E402
from people import moved, person  # noqa: E402


def frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """A person moving a little from frame to frame, as a webcam sees it."""
    source = person("astronaut").resize((size[1], size[1]))
    out = []
    for i in range(count):
        canvas = moved(source, int(8 * np.sin(i / 5)), 0, 1.0 - 0.002 * (i % 10))
        frame = np.full((size[1], size[0], 3), 128, np.uint8)
        left = (size[0] - size[1]) // 2
        frame[:, left : left + size[1]] = np.asarray(canvas)
        out.append(frame)
    return out


def timed(fn, items) -> tuple[list[float], int]:
    """Milliseconds per item, and how many items had a person in them."""
    from teachable.errors import NothingDetectedError

    times, found = [], 0
    for item in items:
        start = time.perf_counter()
        try:
            fn(item)
            found += 1
        except NothingDetectedError:
            pass
        times.append((time.perf_counter() - start) * 1000)
    return times, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    from teachable.embed.landmarks import get_landmark_backbone

    rows = []
    start = time.perf_counter()
    pose = get_landmark_backbone("pose")
    rows.append(("pose detector start-up", f"{(time.perf_counter() - start) * 1000:.0f} ms"))
    for size in ((224, 224), (640, 480)):
        video = frames(size, args.frames)
        timed(lambda f: pose.embed_with_landmarks(f), video[:3])
        still, found_still = timed(lambda f: pose.embed_with_landmarks(f), video)
        with pose.tracker() as tracker:
            timed(lambda f: pose.embed_with_landmarks(f, tracker), video[:3])
            tracking, found_tracking = timed(lambda f: pose.embed_with_landmarks(f, tracker), video)
        label = f"{size[0]}x{size[1]}"
        rows.append((f"pose, still image mode, {label} (median / p90; person found)",
                     f"{statistics.median(still):.1f} / {np.percentile(still, 90):.1f} ms; {found_still}/{len(video)}"))
        rows.append((f"pose, tracking mode, {label} (median / p90; person found)",
                     f"{statistics.median(tracking):.1f} / {np.percentile(tracking, 90):.1f} ms; {found_tracking}/{len(video)}"))
    astronaut = np.asarray(person("astronaut"))
    features, _ = timed(lambda _: pose.features(pose.detect(astronaut)), range(20))
    rows.append(("pose, astronaut photo 512x512, still mode (median)", f"{statistics.median(features):.1f} ms"))
    hand = get_landmark_backbone("hand")
    empty = frames((224, 224), 20)
    nothing, _ = timed(lambda f: hand._still.process(f), empty)
    rows.append(("hand, still image mode, 224x224, no hand in view (median)", f"{statistics.median(nothing):.1f} ms"))
    print_report(rows, extra=f", {args.frames} frames per row, MediaPipe 0.10.21 model_complexity=1")


if __name__ == "__main__":
    main()

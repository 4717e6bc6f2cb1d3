"""Keypoint features: body or hand landmarks -> the vector a classifier learns from.

This is pure NumPy, with no detector, so exported example scripts and tests can apply the
very same recipe. Landmarks arrive as MediaPipe gives them: x and y as fractions of the
image width and height, z a relative depth on the scale of x, and (for bodies) a visibility.

- **Pose** (33 landmarks): x and y in pixels, centred on the midpoint of the hips and
  divided by the torso length (hip midpoint to shoulder midpoint), so where the person
  stands and how far from the camera they are stop mattering; each point is then multiplied
  by its visibility, so body parts out of the picture (MediaPipe still guesses where they
  are) fade to the centre instead of adding noise. Left and right are kept: a raised left arm
  and a raised right arm are different poses. Then the 33 visibilities. 99 numbers. MediaPipe's
  z (depth) is left out: on shifted and rescaled copies of the same photo it moved more than
  anything else (docs/pose.md has the measurements).
- **Hand** (21 landmarks): centred on the wrist, divided by the wrist to middle-finger-knuckle
  length; then +1 for a right hand, -1 for a left one. 64 numbers.
- **Nobody in view** (no person, no hand): a frame like that is a sample too (Teachable Machine's
  pose projects almost always have a "nobody" or "background" class). Its features are fixed: every
  point at the centre, and the presence numbers set to what no real detection gives — all 33
  visibilities -1 (a real one lies in 0..1), or the handedness 2 (a real hand is +1 or -1). So the
  vector points away from every real pose or hand (cosine <= 0 for poses, about 0.1 for hands) and
  equals every other "nobody" frame exactly: both classifiers learn it like any other example.
"""

from __future__ import annotations

import numpy as np

from ..errors import NothingDetectedError

POSE_POINTS = 33
HAND_POINTS = 21
POSE_DIM = POSE_POINTS * 3
HAND_DIM = HAND_POINTS * 3 + 1

POSE_NOBODY = np.concatenate([np.zeros(POSE_POINTS * 2), -np.ones(POSE_POINTS)]).astype(np.float32)
HAND_NOBODY = np.concatenate([np.zeros(HAND_POINTS * 3), [2.0]]).astype(np.float32)


def nobody_features(kind: str) -> np.ndarray:
    """The features of a frame with nobody (pose) or no hand (hand) in it."""
    return (POSE_NOBODY if kind == "pose" else HAND_NOBODY).copy()


def is_nobody(features: np.ndarray) -> np.ndarray:
    """Per row of ``features`` (N x dim, or one vector): whether it is a "nobody in view" frame."""
    rows = np.atleast_2d(np.asarray(features, np.float32))
    marker = {POSE_DIM: POSE_NOBODY, HAND_DIM: HAND_NOBODY}.get(rows.shape[1])
    if marker is None:
        return np.zeros(len(rows), bool)
    return np.all(rows == marker, axis=1)


LEFT_HIP, RIGHT_HIP, LEFT_SHOULDER, RIGHT_SHOULDER = 23, 24, 11, 12
WRIST, MIDDLE_KNUCKLE = 0, 9

# Each body landmark's counterpart on the other side (the nose and mouth centre map to themselves).
POSE_MIRROR = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9] + [i + 1 if i % 2 else i - 1 for i in range(11, 33)]

POSE_CONNECTIONS = [
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
]
HAND_CONNECTIONS = [
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
    (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
]


def _in_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(points, np.float64)[:, :3] * np.array([width, height, width], np.float64)


def _normalised(xyz: np.ndarray, centre: np.ndarray, towards: np.ndarray, what: str) -> np.ndarray:
    length = float(np.linalg.norm((towards - centre)[:2]))
    if not np.isfinite(length) or length < 1e-6:
        raise NothingDetectedError(f"The {what} is too small or too unclear to measure.")
    return (xyz - centre) / length


def pose_features(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """99 numbers from 33 body landmarks (x, y, z, visibility) of a width x height picture."""
    points = np.asarray(points, np.float64)
    if points.shape != (POSE_POINTS, 4):
        raise ValueError(f"pose landmarks must be {POSE_POINTS} x 4, not {points.shape}")
    xy = _in_pixels(points, width, height)[:, :2]
    hips = (xy[LEFT_HIP] + xy[RIGHT_HIP]) / 2
    shoulders = (xy[LEFT_SHOULDER] + xy[RIGHT_SHOULDER]) / 2
    visibility = np.clip(points[:, 3], 0.0, 1.0)
    relative = _normalised(xy, hips, shoulders, "body") * visibility[:, None]
    return np.concatenate([relative.ravel(), visibility]).astype(np.float32)


def hand_features(points: np.ndarray, width: int, height: int, right_hand: bool) -> np.ndarray:
    """64 numbers from 21 hand landmarks (x, y, z) and which hand it is."""
    points = np.asarray(points, np.float64)
    if points.shape[0] != HAND_POINTS or points.shape[1] < 3:
        raise ValueError(f"hand landmarks must be {HAND_POINTS} x 3, not {points.shape}")
    xyz = _in_pixels(points, width, height)
    relative = _normalised(xyz, xyz[WRIST], xyz[MIDDLE_KNUCKLE], "hand")
    return np.concatenate([relative.ravel(), [1.0 if right_hand else -1.0]]).astype(np.float32)


def mirror_pose_features(features: np.ndarray) -> np.ndarray:
    """The features of the same pose seen in a mirror: left and right swapped, x negated."""
    features = np.asarray(features, np.float32)
    xy = features[: POSE_POINTS * 2].reshape(POSE_POINTS, 2)[POSE_MIRROR] * np.array([-1, 1], np.float32)
    visibility = features[POSE_POINTS * 2 :][POSE_MIRROR]
    return np.concatenate([xy.ravel(), visibility])


def recipe(kind: str) -> dict:
    """The feature recipe as data, written into model files and export bundles."""
    if kind == "pose":
        return {
            "landmarks": POSE_POINTS, "feature_dim": POSE_DIM,
            "detector": "mediapipe 0.10.21 solutions.pose, model_complexity=1 (pose_landmark_full)",
            "steps": [
                "landmarks x, y (fractions of width, height) and visibility (z is not used)",
                "pixels: x*width, y*height",
                "centre = midpoint of landmarks 23 and 24 (hips); torso = distance from it to the midpoint of 11 and 12 (shoulders)",
                "visibility clipped to [0, 1]; (xy - centre) / torso * visibility for all 33 landmarks, flattened (66 numbers)",
                "then the 33 visibilities",
            ],
            "connections": POSE_CONNECTIONS,
        }
    if kind == "hand":
        return {
            "landmarks": HAND_POINTS, "feature_dim": HAND_DIM,
            "detector": "mediapipe 0.10.21 solutions.hands, model_complexity=1 (hand_landmark_full), max_num_hands=1",
            "steps": [
                "landmarks x, y (fractions of width, height), z (relative depth, scale of x)",
                "pixels: x*width, y*height, z*width",
                "centre = landmark 0 (wrist); size = 2-D distance from it to landmark 9 (middle finger knuckle)",
                "(xyz - centre) / size for all 21 landmarks, flattened (63 numbers)",
                "then +1 for a hand MediaPipe calls Right, -1 for Left",
            ],
            "connections": HAND_CONNECTIONS,
        }
    raise ValueError(f"no keypoint recipe for kind {kind!r}")

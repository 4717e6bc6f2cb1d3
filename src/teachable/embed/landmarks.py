"""Pose and hand backbones: MediaPipe's landmark models turn a picture into keypoint features.

MediaPipe 0.10.21's legacy solutions carry their models inside the wheel (nothing is
downloaded); only ``model_complexity=1`` is bundled, so that is the only one used. A picture
without a person (or a hand) is a sample like any other, "nobody in view", with fixed features
(:func:`.keypoints.nobody_features`); :meth:`LandmarkBackbone.detect` still raises
:class:`NothingDetectedError` for callers that need a skeleton.

Still pictures go through a detector in still-image mode. Live preview asks for a
:meth:`LandmarkBackbone.tracker`, MediaPipe's video mode, which follows the person from frame
to frame and is faster; each live stream has its own.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import MissingDependencyError, NothingDetectedError
from .ids import HAND_BACKBONE, POSE_BACKBONE
from .interface import Backbone
from .keypoints import HAND_DIM, POSE_DIM, hand_features, nobody_features, pose_features, recipe
from .preprocess import ImageInput, load_image

MEDIAPIPE_VERSION = "0.10.21"
INSTALL_HINT = "pip install 'teachable[pose]'"  # or the light way in docs/install.md
# MediaPipe works on small inputs (256 px); decoding huge photos at full size only costs time.
MAX_SIDE = 1280


@dataclass
class Landmarks:
    """What the detector found in one picture: points are x, y (fractions), z, visibility."""

    points: np.ndarray
    width: int
    height: int
    handedness: str | None = None  # "Left" / "Right" for hands
    score: float = 1.0

    @property
    def nobody(self) -> bool:
        return len(self.points) == 0

    def to_dict(self) -> dict:
        return {"points": np.round(self.points[:, [0, 1, 3]], 4).tolist(), "handedness": self.handedness}


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """MediaPipe's C++ side prints start-up chatter straight to file descriptor 2."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _solutions():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with _quiet_stderr():
            from mediapipe.python.solutions import hands, pose
    except ImportError as exc:
        raise MissingDependencyError(
            f"Pose and hand projects need MediaPipe, which is not installed ({exc}). Install it with: {INSTALL_HINT}"
        ) from None
    return pose, hands


def picture(source: ImageInput) -> np.ndarray:
    """An RGB uint8 array of the picture, upright (EXIF) and at most MAX_SIDE pixels wide or tall."""
    image = load_image(source)
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


class LandmarkBackbone(Backbone):
    """Shared by all projects of one kind; MediaPipe graphs are not thread-safe, so a lock guards each."""

    kind: str = ""
    id: str = ""
    dim: int = 0
    nothing: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._still = self._started(static=True)
        self._pool_lock = threading.Lock()
        self._idle_trackers: list = []
        self._trackers = 0  # made so far (in use or idle), at most MAX_TRACKERS

    def _started(self, static: bool):
        """A detector that has run once, quietly (its first run prints set-up messages)."""
        with _quiet_stderr():
            solution = self._make(static)
            solution.process(np.zeros((64, 64, 3), np.uint8))
        return solution

    def _make(self, static: bool):
        raise NotImplementedError

    def _read(self, result, width: int, height: int) -> Landmarks | None:
        raise NotImplementedError

    def features(self, found: Landmarks) -> np.ndarray:
        raise NotImplementedError

    def recipe(self) -> dict:
        return recipe(self.kind)

    def find(self, source: ImageInput, solution=None) -> Landmarks:
        """The landmarks in a picture; no points (``Landmarks.nobody``) when there is nobody."""
        rgb = picture(source)
        height, width = rgb.shape[:2]
        if solution is None:
            with self._lock:
                result = self._still.process(rgb)
        else:
            result = solution.process(rgb)
        found = self._read(result, width, height)
        return found if found is not None else Landmarks(np.zeros((0, 4), np.float32), width, height)

    def detect(self, source: ImageInput, solution=None) -> Landmarks:
        """The landmarks in a picture; raises NothingDetectedError when there is nobody."""
        found = self.find(source, solution)
        if found.nobody:
            raise NothingDetectedError(f"{self.nothing} in {_describe(source)}.")
        return found

    def features_of(self, found: Landmarks) -> np.ndarray:
        """Features of what was found, "nobody in view" included (keypoints.nobody_features)."""
        if found.nobody:
            return nobody_features(self.kind)
        try:
            return self.features(found)
        except NothingDetectedError:  # a body or hand too small to measure: as good as nobody
            return nobody_features(self.kind)

    def embed_one(self, source: ImageInput) -> np.ndarray:
        """A frame's features; a frame with nobody (no hand) in it gives the "nobody" features."""
        return self.features_of(self.find(source))

    def embed_with_landmarks(self, source: ImageInput, solution=None) -> tuple[np.ndarray, Landmarks]:
        found = self.find(source, solution)
        return self.features_of(found), found

    @contextmanager
    def tracker(self) -> Iterator[object | None]:
        """A video-mode detector for one live stream: it follows the person between frames.

        Each costs ~100 MB (40 streams took a server to 4.4 GB), so at most ``MAX_TRACKERS`` are
        made, kept and reused (reset between streams); when all are in use, None: that stream's
        frames go to the shared still-picture detector, found anew each frame (the same kind of
        answer, a little slower)."""
        solution = None
        with self._pool_lock:
            if self._idle_trackers:
                solution = self._idle_trackers.pop()
            elif self._trackers < MAX_TRACKERS:
                self._trackers += 1
                solution = "make"
        if solution == "make":
            try:
                solution = self._started(static=False)
            except BaseException:
                with self._pool_lock:
                    self._trackers -= 1
                raise
        try:
            yield solution
        finally:
            if solution is not None:
                solution.reset()  # the next stream starts from nobody, not from this one's person
                with self._pool_lock:
                    self._idle_trackers.append(solution)


class PoseBackbone(LandmarkBackbone):
    kind = "pose"
    id = POSE_BACKBONE
    dim = POSE_DIM
    nothing = "No person was found"

    def _make(self, static: bool):
        pose, _ = _solutions()
        return pose.Pose(static_image_mode=static, model_complexity=1, enable_segmentation=False,
                         min_detection_confidence=0.5, min_tracking_confidence=0.5)

    def _read(self, result, width: int, height: int) -> Landmarks | None:
        if result.pose_landmarks is None:
            return None
        points = np.array([[p.x, p.y, p.z, p.visibility] for p in result.pose_landmarks.landmark], np.float32)
        return Landmarks(points, width, height)

    def features(self, found: Landmarks) -> np.ndarray:
        return pose_features(found.points, found.width, found.height)


class HandBackbone(LandmarkBackbone):
    kind = "hand"
    id = HAND_BACKBONE
    dim = HAND_DIM
    nothing = "No hand was found"

    def _make(self, static: bool):
        _, hands = _solutions()
        return hands.Hands(static_image_mode=static, model_complexity=1, max_num_hands=1,
                           min_detection_confidence=0.5, min_tracking_confidence=0.5)

    def _read(self, result, width: int, height: int) -> Landmarks | None:
        if not result.multi_hand_landmarks:
            return None
        points = np.array([[p.x, p.y, p.z, 1.0] for p in result.multi_hand_landmarks[0].landmark], np.float32)
        label = result.multi_handedness[0].classification[0]
        return Landmarks(points, width, height, handedness=label.label, score=float(label.score))

    def features(self, found: Landmarks) -> np.ndarray:
        return hand_features(found.points, found.width, found.height, found.handedness == "Right")


def _describe(source: object) -> str:
    from pathlib import Path

    return f"'{source}'" if isinstance(source, (str, Path)) else "the picture"


MAX_TRACKERS = 4  # video-mode detectors per kind, per process

_shared: dict[str, LandmarkBackbone] = {}
_shared_lock = threading.Lock()


def get_landmark_backbone(kind: str) -> LandmarkBackbone:
    """One detector per kind per process (MediaPipe runs on the CPU; there is no GPU path here)."""
    with _shared_lock:
        if kind not in _shared:
            _shared[kind] = {"pose": PoseBackbone, "hand": HandBackbone}[kind]()
        return _shared[kind]

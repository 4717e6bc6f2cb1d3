"""What the API accepts and answers, as models: ``/openapi.json`` documents every answer."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..kinds import KINDS
from ..settings import SETTINGS, Setting


class ErrorOut(BaseModel):
    error: str = Field(description="A sentence for a person: what went wrong and what to do.")


ERRORS = {status: {"model": ErrorOut} for status in (400, 403, 404, 409, 413, 422, 507)}


class ProjectCreate(BaseModel):
    name: str = Field(default="Untitled project", max_length=10_000)
    kind: Literal[tuple(KINDS)] = "image"  # type: ignore[valid-type]


class Rename(BaseModel):
    name: str = Field(max_length=10_000)


def _field(setting: Setting):
    if setting.choices:
        return Optional[Literal[setting.choices]], Field(default=None, description=setting.help)  # type: ignore[valid-type]
    bounds = {}
    if setting.minimum is not None:
        bounds["gt" if setting.min_open else "ge"] = setting.minimum
    if setting.maximum is not None:
        bounds["lt" if setting.max_open else "le"] = setting.maximum
    return Optional[setting.type], Field(default=None, description=setting.help, **bounds)


class _SettingsBase(BaseModel):
    def given(self) -> dict:
        return {k: v for k, v in self.model_dump().items() if v is not None}


# The training settings a request may change; made from teachable.settings.SETTINGS.
SettingsIn = create_model("SettingsIn", __base__=_SettingsBase, **{s.name: _field(s) for s in SETTINGS})


class ClassOut(BaseModel):
    id: int
    name: str
    position: int
    count: int = Field(description="training samples")
    test_count: int = Field(default=0, description="samples of the class's test set (never trained on)")


class SampleOut(BaseModel):
    id: int
    class_id: int
    media_type: str
    source: str
    sha256: str
    width: Optional[int]
    height: Optional[int]
    created: str
    size: int
    duration_ms: Optional[int] = None
    test: bool = Field(default=False, description="in the class's test set: never trained on")
    nobody: Optional[bool] = Field(default=None, description="pose and hand projects: a frame with nobody (no hand) in view")


class ModelOut(BaseModel):
    id: int
    created: str
    classifier: str
    settings: dict
    metrics: Optional[dict]
    current: bool
    trained_on: Optional[dict] = None


class TrainingJobOut(BaseModel):
    state: Literal["idle", "embedding", "training", "done", "failed"]
    settings: dict
    epoch: int
    epochs: int
    embedded: int
    to_embed: int
    history: list[dict]
    error: Optional[str]
    started: float
    finished: float
    model_id: Optional[int]
    report: Optional[dict]
    notes: list[str]


class TrainingStatusOut(TrainingJobOut):
    pending_embeddings: int


class ModelStatusOut(BaseModel):
    stale: bool = Field(description="the model no longer matches the classes or samples: train again")
    reason: Optional[str]
    labels: Optional[list[str]] = Field(description="the classes the current model answers with")


class ProjectOut(BaseModel):
    id: str
    name: str
    kind: str
    skeleton: Optional[list]
    classes: list[ClassOut]
    settings: dict
    defaults: dict
    pending_embeddings: int
    model: Optional[ModelOut]
    model_status: ModelStatusOut
    warnings: list[str]
    training: TrainingJobOut
    version: int


class TmImportOut(BaseModel):
    project: ProjectOut
    added: int
    duplicates: int
    nobody: int
    skipped: list[str]
    messages: list[str]


class VersionOut(BaseModel):
    version: int


class ProjectEntryOut(BaseModel):
    id: str
    name: str
    kind: str
    classes: int
    samples: int
    modified: float
    trained: bool = Field(default=False, description="whether it has a trained model")


class UploadError(BaseModel):
    file: str
    error: str
    nothing_detected: bool = Field(default=False, description="pose and hand projects: nobody (no hand) in the picture")


class UploadOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    ids: list[int]
    added: int = Field(default=0, description="how many of them were new to the class")
    duplicates: int = Field(default=0, description="how many were already in the class (their existing ids are in `ids`)")
    errors: list[UploadError]
    nobody: int = Field(default=0, description="pose/hand: how many are frames with nobody (no hand) in view, kept as such")
    class_: ClassOut = Field(alias="class")


class ClearOut(BaseModel):
    removed: int


class NeighbourOut(BaseModel):
    label: str
    similarity: float = Field(description="cosine similarity of the embeddings, up to 1")
    source: str = Field(description="`sample:<id>` in a project; a path relative to the training folder otherwise")
    sample_id: Optional[int] = Field(default=None, description="the sample's id, when it came from this project")


class WindowOut(BaseModel):
    start: float = Field(description="seconds from the start of the recording")
    label: str
    confidence: float
    confidences: dict[str, float]


class PredictionOut(BaseModel):
    label: str
    confidence: float
    confidences: dict[str, float]
    landmarks: Optional[dict] = Field(default=None, description="pose and hand projects: the skeleton found")
    neighbours: Optional[list[NeighbourOut]] = Field(
        default=None, description="with `explain=true`: the training samples it resembles most, most similar first")
    unexplained: Optional[str] = Field(default=None, description="with `explain=true`: why no neighbours can be named")
    windows: Optional[list[WindowOut]] = Field(
        default=None, description="sound recordings longer than 1.5 s: the answer of each one-second window (the "
                                  "recording's answer is the mean of their class shares)")


class VoterOut(BaseModel):
    source: str
    sample_id: Optional[int] = None
    label: str
    similarity: float


class FlagOut(BaseModel):
    source: str
    sample_id: Optional[int] = None
    label: str
    reason: Literal["mislabel", "duplicate", "outlier"]
    suggested: Optional[str] = Field(default=None, description="mislabel: the class the other samples say")
    score: float = Field(description="mislabel: the share of that class among its nearest samples; duplicate: "
                                     "similarity; outlier: robust z-score of its closeness to the others")
    duplicate_of: Optional[str] = None
    duplicate_of_id: Optional[int] = None
    voters: Optional[list[VoterOut]] = Field(default=None, description="the evidence, each with its class: for a mislabel "
                                                                     "the samples that voted, most similar first; for a "
                                                                     "duplicate the sample it copies")


class HintOut(BaseModel):
    kind: Literal["tight", "sizes", "confused", "sources", "bursts", "small"]
    classes: list[str]
    message: str


class ReviewOut(BaseModel):
    flags: list[FlagOut]
    hints: list[HintOut]
    samples: int
    flagged: int
    mislabel: int
    duplicate: int
    outlier: int
    out_of_fold_accuracy: float
    confusion: list[list[list[int]]] = Field(description="out-of-fold confusion matrix as sample ids: "
                                                         "[true class][predicted class] -> ids")


class TestMistakeOut(BaseModel):
    sample_id: int
    label: str
    predicted: str
    confidence: float
    neighbours: Optional[list[NeighbourOut]] = None


class TestOut(BaseModel):
    report: dict = Field(description="accuracy, per_class, confusion (rows: true class), count and cells (the "
                                     "samples of each cell) of the current model on the test sets")
    mistakes: list[TestMistakeOut] = Field(description="test samples the model gets wrong, with the training "
                                                       "samples each resembles most")


class TfliteJobOut(BaseModel):
    id: str
    state: Literal["running", "done", "failed"]
    step: str = Field(description="the conversion step now (as `teachable export --format tflite` shows them)")
    done: int
    total: int
    error: Optional[str] = None


class FineIn(BaseModel):
    sample_id: int = Field(ge=1, le=2**62)
    reason: Literal["mislabel", "duplicate", "outlier"]


class MoveIn(BaseModel):
    class_id: int = Field(ge=1, le=2**62)


class HeatmapOut(BaseModel):
    kind: Literal["image", "sound", "pose", "hand"]
    label: str = Field(description="the class explained")
    predicted: str
    evidence: float = Field(description="the class's evidence with nothing hidden (head: log-odds; kNN: similarity margin)")
    grid: list = Field(description="photo: 14 x 14 scores 0-1 over the square the network sees; sound: drop per 100 ms "
                                   "window; pose/hand: drop per landmark")
    peak: list
    no_evidence: bool = Field(default=False, description="nothing in the input pushed towards the class: the picture "
                                                         "has nothing to point at")
    picture: str = Field(description="the explanation drawn, as a PNG data URL")
    landmarks: Optional[dict] = None


class PredictionsOut(BaseModel):
    predictions: list[PredictionOut]


class HealthOut(BaseModel):
    ok: bool
    version: str
    limits: dict[str, int]


class KindOut(BaseModel):
    name: str
    title: str
    summary: str
    accept: list[str]
    samples_word: str
    default_classes: list[str]
    special_class: Optional[str]
    min_special: int
    min_per_class: int
    audio: bool
    keypoints: bool
    skeleton: Optional[list]
    exports: list[str]
    dim: int


class SettingOut(BaseModel):
    name: str
    type: str
    default: object
    help: str
    minimum: Optional[float]
    maximum: Optional[float]
    min_open: bool
    max_open: bool
    choices: list[str]

"""Reviews of real collections of samples: a project's (from its cached embeddings, with the
reviewer's "fine" marks) or a folder's (``teachable review DATA_DIR``). ``Project``, the routes and
the CLI call these; the judging itself is review.py's."""

from __future__ import annotations

import numpy as np

from ..classify.blocks import mix_scale
from ..embed.preprocess import MAX_FILE_BYTES
from ..embed.reading import read_source
from ..errors import DatasetError, NotEnoughClassesError, TeachableError
from ..kinds import get_kind
from .fingerprint import DIM, FINGERPRINT_ID, pixel_fingerprint
from .memory import sample_id_of, sample_source
from .review import Review, review


def _fingerprints(project, sample_ids: list[int]) -> np.ndarray:
    """The photos' pixel fingerprints, computed once and cached in the project file."""
    missing = set(project.missing_embeddings(FINGERPRINT_ID)) & set(sample_ids)
    if missing:
        project.cache_vectors(FINGERPRINT_ID, [(i, pixel_fingerprint(project.sample_bytes(i))) for i in sorted(missing)])
    vectors, _, ids = project.embeddings(FINGERPRINT_ID)
    by_id = dict(zip(ids, vectors))
    return np.stack([by_id.get(i, np.zeros(DIM, np.float32)) for i in sample_ids])


def review_project(project) -> Review:
    """Review every embedded sample of a project (missing embeddings are computed first);
    samples the reviewer marked fine are not flagged again for the same reason."""
    project.ensure_embeddings()
    classes = project.classes()
    if len(classes) < 2:
        raise NotEnoughClassesError(f"A review compares classes: this project has {len(classes)}; add another class first.")
    vectors, class_ids, sample_ids = project.embeddings()
    if not sample_ids:
        raise DatasetError("There is nothing to review yet: add samples to the classes first.")
    position = {c.id: i for i, c in enumerate(classes)}
    y = np.array([position[c] for c in class_ids], np.int64)
    stored = {s.id: s for s in project.samples()}  # (a sample deleted meanwhile reads as an upload of no time)
    origins = [stored[i].source if i in stored else "upload" for i in sample_ids]
    times = [_seconds(stored[i].created) if i in stored else 0.0 for i in sample_ids]
    kind = get_kind(project.kind)
    prints = _fingerprints(project, sample_ids) if not (kind.audio or kind.keypoints) else None
    sources = [sample_source(i) for i in sample_ids]
    result = review(vectors, y, [c.name for c in classes], sources, project.kind, origins, kind.centred,
                    fingerprints=prints, times=times, scale=mix_scale(project.backbone_id, vectors, y))
    fine = project.review_marks.fine()
    result.flags = [f for f in result.flags if (sample_id_of(f.source), f.reason) not in fine]
    return result


def _seconds(created: str) -> float:
    """A sample's creation time (ISO 8601, as the store writes it) in seconds."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(created).timestamp()
    except ValueError:
        return 0.0


def review_dataset(dataset, backbone) -> Review:
    """Review a folder of class folders (sources are paths relative to it)."""
    embeddings, y = dataset.embed(backbone)
    sources = dataset.sources(backbone)
    kind = get_kind(dataset.kind)
    prints = None
    if not (kind.audio or kind.keypoints):
        by_source = {dataset.source(i): i for i in range(len(dataset.samples))}
        prints = np.stack([pixel_fingerprint(_bytes(dataset.samples[by_source[s]])) for s in sources]) if sources else None
    return review(embeddings, y, list(dataset.classes), sources, dataset.kind, centre=kind.centred, fingerprints=prints,
                  scale=mix_scale(backbone.id, embeddings, y, sources))


def _bytes(sample) -> bytes:
    """A sample's bytes within the sample size limit (nothing, for one that cannot be read: its
    fingerprint then matches nothing)."""
    try:
        return read_source(sample, MAX_FILE_BYTES)
    except (TeachableError, OSError):
        return b""


def test_report(project, model) -> dict:
    """How ``model`` (the project's current one) does on the classes' test sets — samples it never
    trained on, gathered on purpose in new conditions (another background, another voice, a
    drawing) — and the test samples it gets wrong, each with the training samples it resembles."""
    from ..classify.metrics import Report

    project.ensure_embeddings()
    vectors, class_ids, sample_ids = project.embeddings(test=True)
    if not sample_ids:
        raise NotEnoughClassesError("No class has test samples yet: add some under “Test samples” in a class "
                                    "(photos or recordings in new conditions, never trained on).")
    names = {c.id: c.name for c in project.classes()}
    known = [i for i, c in enumerate(class_ids) if names.get(int(c)) in model.labels]
    if not known:
        raise NotEnoughClassesError("The current model knows none of the classes that have test samples: train again.")
    vectors, class_ids = vectors[known], class_ids[known]
    sample_ids = [sample_ids[i] for i in known]
    truth = np.array([model.labels.index(names[int(c)]) for c in class_ids], np.int64)
    predictions = model.predict_embeddings(vectors, explain=True)
    predicted = np.array([model.labels.index(p.label) for p in predictions], np.int64)
    report = Report.from_predictions(model.labels, truth, predicted).with_cells(
        [sample_source(i) for i in sample_ids], truth, predicted)
    mistakes = [{"sample_id": int(i), "label": model.labels[t], "predicted": p.label, "confidence": p.confidence,
                 "neighbours": [n.to_dict() for n in p.neighbours] if p.neighbours is not None else None}
                for i, t, p in zip(sample_ids, truth, predictions) if p.label != model.labels[t]]
    return {"report": report.to_dict(), "mistakes": mistakes}

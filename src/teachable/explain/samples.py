"""Reviews of real collections of samples: a project's (from its cached embeddings, with the
reviewer's "fine" marks) or a folder's (``teachable review DATA_DIR``). ``Project``, the routes and
the CLI call these; the judging itself is review.py's."""

from __future__ import annotations

import numpy as np

from ..errors import NotEnoughClassesError
from ..kinds import get_kind
from .fingerprint import FINGERPRINT_ID, pixel_fingerprint
from .memory import SAMPLE_SOURCE, sample_source
from .review import Review, review


def _fingerprints(project, sample_ids: list[int]) -> np.ndarray:
    """The photos' pixel fingerprints, computed once and cached in the project file."""
    missing = set(project.missing_embeddings(FINGERPRINT_ID)) & set(sample_ids)
    if missing:
        project.cache_vectors(FINGERPRINT_ID, [(i, pixel_fingerprint(project.sample_bytes(i))) for i in sorted(missing)])
    vectors, _, ids = project.embeddings(FINGERPRINT_ID)
    by_id = dict(zip(ids, vectors))
    return np.stack([by_id.get(i, np.zeros(64, np.float32)) for i in sample_ids])


def review_project(project) -> Review:
    """Review every embedded sample of a project (missing embeddings are computed first);
    samples the reviewer marked fine are not flagged again for the same reason."""
    project.ensure_embeddings()
    classes = project.classes()
    if len(classes) < 2:
        raise NotEnoughClassesError(f"A review compares classes: this project has {len(classes)}; add another class first.")
    vectors, class_ids, sample_ids = project.embeddings()
    position = {c.id: i for i, c in enumerate(classes)}
    y = np.array([position[c] for c in class_ids], np.int64)
    origins = {s.id: s.source for s in project.samples()}
    kind = get_kind(project.kind)
    prints = _fingerprints(project, sample_ids) if not (kind.audio or kind.keypoints) else None
    result = review(vectors, y, [c.name for c in classes], [sample_source(i) for i in sample_ids], project.kind,
                    [origins.get(i, "upload") for i in sample_ids], kind.centred, fingerprints=prints)
    fine = project.review_marks.fine()
    result.flags = [f for f in result.flags if (int(SAMPLE_SOURCE.match(f.source).group(1)), f.reason) not in fine]
    return result


def review_dataset(dataset, backbone) -> Review:
    """Review a folder of class folders (sources are paths relative to it)."""
    embeddings, y = dataset.embed(backbone)
    sources = dataset.sources(backbone)
    kind = get_kind(dataset.kind)
    prints = None
    if not (kind.audio or kind.keypoints):
        by_source = {dataset.source(i): i for i in range(len(dataset.samples))}
        prints = np.stack([pixel_fingerprint(_bytes(dataset.samples[by_source[s]])) for s in sources]) if sources else None
    return review(embeddings, y, list(dataset.classes), sources, dataset.kind, centre=kind.centred, fingerprints=prints)


def _bytes(sample) -> bytes:
    if isinstance(sample, (bytes, bytearray, memoryview)):
        return bytes(sample)
    try:
        with open(sample, "rb") as handle:
            return handle.read(50 * 1024 * 1024)
    except (OSError, TypeError):
        return b""

"""Review the samples: which to look at again, and what about the classes misleads the model.

Every sample gets two out-of-fold predictions: a leave-one-out vote of its k most similar other
samples (cosine on the cached embeddings, the kNN classifier's weighted vote), and a linear probe
(ridge regression on the unit embeddings) trained on the other four fifths of the samples. Each
sample is judged by the rest as a new photo would be. From them, and from the similarities:

- **possibly mislabelled**: the others confidently say another class (its leave-one-out share
  ≥ MISLABEL_SHARE) and the probe agrees on that class. Either alone flags many clean samples
  that merely look like another class; together they were the most precise (measured). Small
  projects (a median class of at most SMALL_PROJECT classes) are judged on embeddings centred on
  the project's mean, which takes out what every photo shares (one background, one room), and a
  flag needs the probe to prefer the other class by a margin that grows with the class size
  (SMALL_PROJECT_MARGINS, measured on one-background hand photos, bench/small_projects.py). Below
  MIN_TO_JUDGE samples a class, nothing is flagged and the review says the project is too small to
  judge. Each flag carries its evidence: the samples that voted, with their classes;
- **near duplicates**: a sample almost identical to an earlier one (the same photo re-encoded,
  resized or slightly cropped; two frames with nothing moved), which inflates validation accuracy.
  Each flag names the one earlier sample it is closest to and that pair's similarity: pairs, never
  chains. For photos the pixel fingerprints decide (fingerprint.py, matched at the best zoom:
  ≥ PHOTO_DUPLICATE_SIMILARITY), not the embeddings, which on one background find different hands
  as alike as copies; for other kinds, the embeddings' cosine ≥ the kind's DUPLICATE_SIMILARITY.
  Frames of one webcam (or microphone) burst are expected to be alike: they are not flagged one by
  one, and a class made mostly of bursts gets one hint instead;
- **outliers**: a sample much less like any other sample than samples usually are (robust
  z-score of its mean similarity to its nearest ≤ OUTLIER_Z);
- **class hints**: a class whose samples are much more alike than the others' (one background, one
  burst), classes of very different sizes, a class often taken for another, classes recorded
  live against classes only uploaded.

The photo thresholds were measured (bench/label_noise.py, docs/benchmarks.md): on 1,000 public
flower photos with 10% of labels flipped, and with re-encoded, resized and cropped copies
injected. The sound threshold was measured on injected copies of real recordings
(bench/sound_duplicates.py); the pose and hand thresholds are set from their embeddings' own
spread, not measured on injected copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..classify.knn import DEFAULT_TEMPERATURE, l2_normalise
from ..errors import NotEnoughClassesError
from ..wording import counted

REVIEW_K = 5
MISLABEL_SHARE = 0.75
PROBE_FOLDS = 5
PROBE_RIDGE = 10.0
PHOTO_DUPLICATE_SIMILARITY = 0.965  # pixel fingerprints at the best zoom (copies >= 0.98, others <= 0.94)
BURST_GAP_S = 1.0  # live samples this close in time belong to one burst
BURST_MIN = 5  # samples in a burst
BURST_SHARE = 0.5  # a class with at least this share of its samples in bursts gets a hint
# Small projects: (median samples a class, the probe's margin a flag needs), interpolated between.
SMALL_PROJECT_MARGINS = ((12, 0.09), (20, 0.15), (40, 0.22), (60, 0.28))
SMALL_PROJECT = 60
SMALL_PROJECT_SHARE = 0.5
MIN_TO_JUDGE = 8
OUTLIER_Z = -4.0
MAX_OUTLIER_FRACTION = 0.05
# Cosine similarity from which two samples count as near duplicates, per embedding kind.
# Sounds: measured on injected copies (bench/sound_duplicates.py: quieter, re-encoded, shifted, hissed
# copies of real recordings): at 0.97 39% of copies are caught and no window of another recording.
DUPLICATE_SIMILARITY = {"image": 0.95, "sound": 0.97, "pose": 0.995, "hand": 0.995}
TIGHT_CLASS_MARGIN = 0.12  # a class this much more self-similar than the others' median
SIZE_RATIO = 3.0
CONFUSED_SHARE = 0.2
ROWS = 2048  # similarities are computed this many samples at a time


@dataclass(frozen=True)
class Flag:
    """One sample to look at again. ``score``: the out-of-fold share of ``suggested``
    (mislabel), the similarity to ``duplicate_of`` (duplicate), the robust z-score (outlier)."""

    source: str
    label: str
    reason: str  # "mislabel" | "duplicate" | "outlier"
    suggested: str | None
    score: float
    duplicate_of: str | None = None
    # (source, class, similarity): for a mislabel the samples that voted, for a duplicate the one it copies
    voters: tuple[tuple[str, str, float], ...] = ()

    def to_dict(self) -> dict:
        out = {"source": self.source, "label": self.label, "reason": self.reason, "suggested": self.suggested,
               "score": round(self.score, 4)}
        if self.duplicate_of is not None:
            out["duplicate_of"] = self.duplicate_of
        if self.voters:
            out["voters"] = [{"source": v, "label": c, "similarity": round(sim, 4)} for v, c, sim in self.voters]
        return out


@dataclass(frozen=True)
class ClassHint:
    kind: str  # "tight" | "sizes" | "confused" | "sources"
    classes: tuple[str, ...]
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "classes": list(self.classes), "message": self.message}


@dataclass
class Review:
    """Flagged samples (mislabels first, then duplicates, then outliers), class hints, and the
    out-of-fold accuracy they come from."""

    flags: list[Flag] = field(default_factory=list)
    hints: list[ClassHint] = field(default_factory=list)
    samples: int = 0
    out_of_fold_accuracy: float = 0.0
    sources: list[str] = field(default_factory=list)  # each sample's source, in the order judged
    labels: np.ndarray | None = None  # each sample's class, as given
    predicted: np.ndarray | None = None  # out-of-fold class per sample
    shares: np.ndarray | None = None  # out-of-fold vote shares per sample

    def lines(self) -> list[str]:
        """The review for a terminal: each flagged sample with its reason, then the hints."""
        out = []
        for f in self.flags:
            if f.reason == "mislabel":
                out.append(f"possibly mislabelled: {f.source} is in “{f.label}” but looks like “{f.suggested}” "
                           f"({f.score:.0%} of its nearest samples)")
            elif f.reason == "duplicate":
                out.append(f"near duplicate: {f.source} (“{f.label}”) is almost the same as {f.duplicate_of} "
                           f"(similarity {f.score:.2f})")
            else:
                out.append(f"outlier: {f.source} (“{f.label}”) is unlike the other samples (z {f.score:.1f})")
        out += [f"hint: {h.message}" for h in self.hints]
        s = self.summary()
        out.append(f"{counted(s['samples'], 'sample')}, {s['flagged']} flagged ({s['mislabel']} possibly mislabelled, "
                   f"{s['duplicate']} near duplicates, {s['outlier']} outliers); out-of-fold accuracy "
                   f"{s['out_of_fold_accuracy']:.1%}")
        return out

    def summary(self) -> dict:
        counts = {reason: sum(f.reason == reason for f in self.flags) for reason in ("mislabel", "duplicate", "outlier")}
        return {"summary": True, "samples": self.samples, "flagged": len({f.source for f in self.flags}), **counts,
                "out_of_fold_accuracy": round(self.out_of_fold_accuracy, 4), "hints": [h.to_dict() for h in self.hints]}


def _neighbours(unit: np.ndarray, k: int, duplicate: float,
                fingerprints: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, float]]]:
    """Each sample's k most similar others (indices, similarities) and every near-duplicate pair
    (i < j, with its similarity: the fingerprints' for photos, else the embeddings')."""
    from .fingerprint import similarity

    n = len(unit)
    k = min(k, n - 1)
    idx = np.zeros((n, k), np.int64)
    sims = np.zeros((n, k), np.float32)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, n, ROWS):
        block = unit[start:start + ROWS] @ unit.T
        rows = np.arange(len(block))
        block[rows, rows + start] = -np.inf  # leave each sample out of its own vote
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(block, part, axis=1)
        order = np.argsort(-part_sims, axis=1)
        idx[start:start + ROWS] = np.take_along_axis(part, order, axis=1)
        sims[start:start + ROWS] = np.take_along_axis(part_sims, order, axis=1)
        likeness = block if fingerprints is None else similarity(fingerprints[start:start + ROWS], fingerprints)
        close_i, close_j = np.nonzero(likeness >= duplicate)
        pairs += [(int(i) + start, int(j), float(likeness[i, j])) for i, j in zip(close_i, close_j) if int(i) + start < int(j)]
    return idx, sims, pairs


def _bursts(y: np.ndarray, origins: list[str] | None, times: list[float] | None) -> list[list[int]]:
    """Runs of live samples (webcam, microphone) of one class recorded at most BURST_GAP_S apart,
    of BURST_MIN or more: what holding the record button makes."""
    if origins is None or times is None:
        return []
    runs: list[list[int]] = []
    for c in np.unique(y):
        live = sorted((times[i], i) for i in np.nonzero(y == c)[0] if origins[i] in ("webcam", "microphone"))
        run: list[int] = []
        last = None
        for t, i in live:
            if last is not None and t - last > BURST_GAP_S:
                if len(run) >= BURST_MIN:
                    runs.append(run)
                run = []
            run.append(int(i))
            last = t
        if len(run) >= BURST_MIN:
            runs.append(run)
    return runs


def _probe(unit: np.ndarray, y: np.ndarray, classes: int, seed: int = 0) -> np.ndarray:
    """Out-of-fold class scores of a ridge-regression probe on the unit embeddings (each fold's
    probe solved in closed form: a quarter of a second for 1,000 photos, where five trained
    heads take eleven)."""
    folds = min(PROBE_FOLDS, len(y))
    order = np.random.default_rng(seed).permutation(len(y))
    targets = np.eye(classes)[y]
    scores = np.zeros((len(y), classes))
    for fold in range(folds):
        held = order[fold::folds]
        train = np.setdiff1d(order, held)
        a = unit[train].astype(np.float64)
        weights = np.linalg.solve(a.T @ a + PROBE_RIDGE * np.eye(a.shape[1]), a.T @ targets[train])
        scores[held] = unit[held] @ weights
    return scores


def _small_project_mislabels(x: np.ndarray, y: np.ndarray, classes: int, k: int,
                              typical: float) -> tuple[list[int], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Mislabels of a small project, judged on embeddings centred on the project's mean: the
    leave-one-out vote and the probe must name the same other class, the vote with at least
    SMALL_PROJECT_SHARE and the probe by a margin that grows with the class size. Returns the flagged
    samples and the (neighbours, similarities, shares) of that vote, the evidence shown."""
    unit = l2_normalise(x - x.mean(axis=0))
    idx, sims, _ = _neighbours(unit, k, np.inf, None)
    shares = _votes(idx, sims, y, classes)
    scores = _probe(unit, y, classes)
    sizes, margins = zip(*SMALL_PROJECT_MARGINS)
    needed = float(np.interp(typical, sizes, margins))
    flagged = []
    for i in range(len(y)):
        suggested = int(shares[i].argmax())
        if (suggested != y[i] and int(scores[i].argmax()) == suggested and shares[i, suggested] >= SMALL_PROJECT_SHARE
                and scores[i, suggested] - scores[i, y[i]] >= needed):
            flagged.append(i)
    return flagged, (idx, sims, shares)


def _votes(idx: np.ndarray, sims: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    """The kNN classifier's weighted vote shares, from the leave-one-out neighbours."""
    weights = np.exp((sims - sims[:, :1]) / DEFAULT_TEMPERATURE)
    shares = np.zeros((len(y), classes), np.float64)
    np.add.at(shares, (np.repeat(np.arange(len(y)), idx.shape[1]), y[idx].ravel()), weights.ravel())
    return shares / shares.sum(axis=1, keepdims=True)


def review(embeddings: np.ndarray, y: np.ndarray, names: list[str], sources: list[str], kind: str = "image",
           origins: list[str] | None = None, centre: bool = False, k: int = REVIEW_K,
           fingerprints: np.ndarray | None = None, times: list[float] | None = None,
           scale: np.ndarray | None = None) -> Review:
    """Review samples from their embeddings and classes (``y`` indexes ``names``), in the order they
    were added; ``origins``: each sample's origin ("webcam", "upload", ...), for the live-versus-files
    hint; ``fingerprints``: photos' pixel fingerprints (fingerprint.py), for near duplicates;
    ``times``: when each was recorded (seconds), for bursts; ``scale``: a weight per number after
    centring (sounds: the two backbones' mix, classify/blocks.py)."""
    y = np.asarray(y, np.int64)
    present = np.unique(y)
    if len(names) < 2 or len(present) < 2:
        raise NotEnoughClassesError("A review compares classes: it needs at least two classes with samples.")
    if len(y) < 3:
        raise NotEnoughClassesError("A review needs at least three samples.")
    x = np.asarray(embeddings, np.float32)
    x = x - x.mean(axis=0) if centre else x
    unit = l2_normalise(x * scale if scale is not None else x)
    threshold = PHOTO_DUPLICATE_SIMILARITY if fingerprints is not None else DUPLICATE_SIMILARITY.get(kind, 0.97)
    idx, sims, pairs = _neighbours(unit, k, threshold, fingerprints)
    shares = _votes(idx, sims, y, len(names))
    predicted = shares.argmax(axis=1)
    probe = _probe(unit, y, len(names)).argmax(axis=1)
    result = Review(samples=len(y), out_of_fold_accuracy=float((predicted == y).mean()), sources=list(sources),
                    labels=y, predicted=predicted, shares=shares)

    typical = float(np.median(np.bincount(y)[present]))
    if typical < MIN_TO_JUDGE:
        mislabels, (vote_idx, vote_sims, vote_shares) = [], (idx, sims, shares)
    elif typical <= SMALL_PROJECT:
        mislabels, (vote_idx, vote_sims, vote_shares) = _small_project_mislabels(x, y, len(names), k, typical)
    else:
        probe = _probe(unit, y, len(names)).argmax(axis=1)
        mislabels = [i for i in range(len(y)) if predicted[i] != y[i] and probe[i] == predicted[i]
                     and shares[i, predicted[i]] >= MISLABEL_SHARE]
        vote_idx, vote_sims, vote_shares = idx, sims, shares
    for i in sorted(mislabels, key=lambda i: -vote_shares[i].max()):
        suggested = int(vote_shares[i].argmax())
        voters = tuple((sources[j], names[y[j]], float(v)) for j, v in zip(vote_idx[i], vote_sims[i]))
        result.flags.append(Flag(sources[i], names[y[i]], "mislabel", names[suggested], float(vote_shares[i, suggested]),
                                 voters=voters))

    bursts = _bursts(y, origins, times)
    burst_of = {i: b for b, run in enumerate(bursts) for i in run}
    best: dict[int, tuple[float, int]] = {}  # later sample -> (similarity, the earlier one it copies)
    for i, j, similarity in pairs:
        if burst_of.get(i, -1) == burst_of.get(j, -2):
            continue  # frames of one burst: said once per class, below
        if similarity > best.get(j, (-1.0, -1))[0]:
            best[j] = (similarity, i)
    for j in sorted(best):
        similarity, i = best[j]
        result.flags.append(Flag(sources[j], names[y[j]], "duplicate", None, similarity, sources[i],
                                 voters=((sources[i], names[y[i]], similarity),)))

    closeness = sims.mean(axis=1)
    median = float(np.median(closeness))
    spread = float(np.median(np.abs(closeness - median))) * 1.4826 or 1e-6
    z = (closeness - median) / spread
    far = [i for i in np.argsort(z) if z[i] <= OUTLIER_Z][: max(1, int(MAX_OUTLIER_FRACTION * len(y)))]
    for i in far:
        result.flags.append(Flag(sources[i], names[y[i]], "outlier", None, float(z[i])))

    result.hints = _class_hints(unit, y, names, predicted, origins) + _burst_hints(y, names, bursts, times)
    if typical < MIN_TO_JUDGE:
        result.hints.insert(0, ClassHint("small", tuple(names), (
            f"With {typical:.0f} samples a class the project is too small to judge which labels are wrong: "
            f"the review looks for mislabelled samples from {MIN_TO_JUDGE} a class. Add samples, then review again.")))
    return result


def _burst_hints(y: np.ndarray, names: list[str], bursts: list[list[int]], times: list[float] | None) -> list[ClassHint]:
    """One sentence for each class made mostly of bursts of near-identical frames."""
    hints = []
    for c in np.unique(y):
        runs = [run for run in bursts if y[run[0]] == c]
        inside = sum(len(run) for run in runs)
        total = int((y == c).sum())
        if runs and inside >= BURST_SHARE * total:
            seconds = sum(times[run[-1]] - times[run[0]] for run in runs)
            hints.append(ClassHint("bursts", (names[c],), (
                f"{inside} of {total} samples of “{names[c]}” come from {max(1, round(seconds))} second"
                f"{'' if round(seconds) <= 1 else 's'} of recording: neighbouring frames are nearly the same, so "
                "validation will look better than the model is. Vary angle, distance and light.")))
    return hints


def _class_hints(unit: np.ndarray, y: np.ndarray, names: list[str], predicted: np.ndarray,
                 origins: list[str] | None) -> list[ClassHint]:
    hints: list[ClassHint] = []
    counts = np.bincount(y, minlength=len(names))
    tightness = {}
    for c in np.unique(y):
        members = unit[y == c][:500]
        if len(members) >= 3:
            pair = members @ members.T
            tightness[int(c)] = float((pair.sum() - len(members)) / (len(members) * (len(members) - 1)))
    for c, value in tightness.items():
        others = [v for o, v in tightness.items() if o != c]
        if others and value - float(np.median(others)) >= TIGHT_CLASS_MARGIN:
            hints.append(ClassHint("tight", (names[c],), (
                f"The samples of “{names[c]}” are much more alike than those of the other classes (similarity "
                f"{value:.2f} against {float(np.median(others)):.2f}): one background, one framing or one burst? The model "
                f"may learn that instead of the thing itself. Add samples in other places and positions.")))
    filled = [c for c in range(len(names)) if counts[c]]
    big, small = max(filled, key=lambda c: counts[c]), min(filled, key=lambda c: counts[c])
    if counts[big] >= SIZE_RATIO * counts[small]:
        hints.append(ClassHint("sizes", (names[big], names[small]), (
            f"“{names[big]}” has {counts[big]} samples and “{names[small]}” {counts[small]}: the model will lean towards "
            f"the larger class. Give the classes similar numbers of samples.")))
    for a in filled:
        mistaken = np.bincount(predicted[y == a], minlength=len(names))
        mistaken[a] = 0
        b = int(mistaken.argmax())
        if mistaken[b] >= 2 and mistaken[b] >= CONFUSED_SHARE * counts[a]:
            hints.append(ClassHint("confused", (names[a], names[b]), (
                f"{mistaken[b]} of the {counts[a]} samples of “{names[a]}” look more like “{names[b]}” to the others: "
                f"the two are easy to mix up. Make the difference clearer in the samples, or check their labels.")))
    if origins is not None:
        live = {c: {("live" if origins[i] in ("webcam", "microphone") else "files") for i in np.nonzero(y == c)[0]} for c in filled}
        only_live = [names[c] for c, s in live.items() if s == {"live"}]
        only_files = [names[c] for c, s in live.items() if s == {"files"}]
        if only_live and only_files:
            hints.append(ClassHint("sources", tuple(only_live + only_files), (
                f"{', '.join(only_live)} recorded only live and {', '.join(only_files)} only uploaded: the model may learn "
                f"where a sample came from instead of what it is.")))
    return hints

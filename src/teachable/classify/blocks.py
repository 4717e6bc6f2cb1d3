"""How much each backbone counts when a project's embedding is two backbones end to end.

A sound embedding is speech_embedding's 96 numbers then YAMNet's 1024. Compared raw, the block with
the larger numbers decides alone; and neither block should always win: YAMNet hears claps, dogs and
doors but barely tells spoken words apart (0.41 on held-out voices saying digits, where
speech_embedding gets 0.99), and speech_embedding is the reverse. So each project gets its own mix:

1. each block is centred on the training mean and divided by its typical (mean) norm, so that both
   count the same at an even mix;
2. the mix ``share`` of the first block (the second gets ``1 - share``) is chosen from the project's
   own samples: the value in 0, 0.1, …, 1 whose leave-one-out kNN accuracy on the training samples is
   highest (samples cut from one recording are left out together when their sources say so). Near
   ties (common: clean projects score 100% at many mixes) go to the mix that separates the classes
   by the widest margin (the mean of: the nearest sample of the same class's similarity minus the
   nearest sample of another class's), then to the even mix.

The result is one weight per number (``scale``), applied after centring by both classifiers (and
their exports): ``(x - centre) * scale``. It is an affine map, so a trained head, a kNN and an ONNX
graph need nothing else. Measured designs and numbers: docs/benchmarks.md, "Sounds that are not words".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHARES = tuple(round(0.1 * i, 1) for i in range(11))
# LOO accuracies this close count as equal; the share nearer an even mix is taken.
NEAR_TIE = 0.005
# The leave-one-out search compares every pair of training samples; above this many it uses an
# evenly spread subset (the choice is a coarse one: 11 shares).
MAX_SEARCH_SAMPLES = 2000
LOO_K = 5
LOO_TEMPERATURE = 0.02


@dataclass(frozen=True)
class BlockMix:
    """The chosen mix: per-number weights, the first block's share and each share's LOO accuracy."""

    scale: np.ndarray
    share: float
    accuracy: dict[float, float]

    def note(self, names: tuple[str, ...]) -> str:
        """One sentence for the training report."""
        first, second = names
        return (f"Backbones weighed from your samples: {first} {self.share:.0%}, {second} {1 - self.share:.0%} "
                f"(leave-one-out kNN accuracy {self.accuracy[self.share]:.1%}).")


def _groups(sources: list[str] | None, n: int) -> np.ndarray:
    """Which samples came from one recording: sources 'file.wav#3' share 'file.wav'."""
    if not sources:
        return np.arange(n)
    from ..dataset import recording_of

    return np.unique([recording_of(s) for s in sources], return_inverse=True)[1]


def choose_mix(embeddings: np.ndarray, labels: np.ndarray, blocks: tuple[int, int],
               sources: list[str] | None = None, seed: int = 0) -> BlockMix:
    """The per-project mix of two blocks (see the module's docstring)."""
    x = np.asarray(embeddings, np.float64)
    y = np.asarray(labels, np.int64)
    first = blocks[0]
    if x.shape[1] != sum(blocks):
        raise ValueError(f"embeddings have {x.shape[1]} numbers, the blocks {sum(blocks)}")
    parts = [x[:, :first] - x[:, :first].mean(axis=0), x[:, first:] - x[:, first:].mean(axis=0)]
    norms = [max(float(np.linalg.norm(p, axis=1).mean()), 1e-12) for p in parts]
    scale = np.concatenate([np.full(blocks[0], 1 / norms[0]), np.full(blocks[1], 1 / norms[1])])
    groups = _groups(sources, len(y))
    if len(y) > MAX_SEARCH_SAMPLES:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), MAX_SEARCH_SAMPLES, replace=False))
        parts, y, groups = [p[keep] for p in parts], y[keep], groups[keep]
    a, b = parts[0] / norms[0], parts[1] / norms[1]
    gram_a, gram_b = a @ a.T, b @ b.T
    sq_a, sq_b = np.diag(gram_a).copy(), np.diag(gram_b).copy()
    excluded = groups[:, None] == groups[None, :]
    accuracy, margin = {}, {}
    for share in SHARES:
        length = np.sqrt(np.maximum(share * sq_a + (1 - share) * sq_b, 1e-24))
        sims = (share * gram_a + (1 - share) * gram_b) / length[:, None] / length[None, :]
        sims[excluded] = -np.inf
        accuracy[share], margin[share] = _loo_scores(sims, y)
    best = max(accuracy.values())
    share = max((s for s, acc in accuracy.items() if acc >= best - NEAR_TIE),
                key=lambda s: (round(margin[s], 4), -abs(s - 0.5)))
    weights = np.concatenate([np.full(blocks[0], np.sqrt(share)), np.full(blocks[1], np.sqrt(1 - share))])
    return BlockMix((scale * weights).astype(np.float32), share, accuracy)


def _loo_scores(sims: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy of the similarity-weighted kNN vote, the kNN classifier's; mean margin between the
    nearest sample of the same class and of another) with each sample's own rows masked out."""
    k = min(LOO_K, sims.shape[1] - 1)
    if k < 1:
        return 0.0, 0.0
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    usable = np.isfinite(top_sims)
    best = np.where(usable, top_sims, -np.inf).max(axis=1, keepdims=True)
    weights = np.where(usable, np.exp((top_sims - np.where(np.isfinite(best), best, 0)) / LOO_TEMPERATURE), 0.0)
    votes = np.zeros((len(y), int(y.max()) + 1))
    np.add.at(votes, (np.repeat(np.arange(len(y)), k), y[top].ravel()), weights.ravel())
    answered = votes.sum(axis=1) > 0
    same = y[:, None] == y[None, :]
    nearest_same = np.where(same, sims, -np.inf).max(axis=1)
    nearest_other = np.where(same, -np.inf, sims).max(axis=1)
    usable = np.isfinite(nearest_same) & np.isfinite(nearest_other)
    margins = np.where(usable, nearest_same - np.where(usable, nearest_other, 0), 0.0)
    return float(((votes.argmax(axis=1) == y) & answered).mean()), float(margins.mean())


def mix_scale(backbone_id: str, embeddings: np.ndarray, labels: np.ndarray,
              sources: list[str] | None = None) -> np.ndarray | None:
    """The per-number scale for a backbone made of blocks (None for one that is not): what a
    review compares samples with, as the classifiers do."""
    from ..embed import BACKBONE_BLOCKS

    blocks = BACKBONE_BLOCKS.get(backbone_id)
    if blocks is None or len(np.unique(labels)) < 2 or len(labels) < 3:
        return None
    return choose_mix(embeddings, labels, blocks, sources).scale

"""Exact top-k cosine search over many examples while reading a quarter of the bytes.

Over 100,000 examples the one matrix product of plain kNN reads 512 MB per query, which
takes longer than a live frame should wait on a laptop. Here the examples are also kept as
int8 (one scale per example) and a query is first scored against those with fbgemm's int8
kernel. Each approximate score comes with a proven error bound:

    |q·x - q̂·x̂| = |q·(x - x̂) + (q - q̂)·x̂| <= |q|·|x - x̂| + |q - q̂|·|x̂|

where x̂ is the stored int8 example (its error |x - x̂| is measured when it is stored) and q̂
the query as the kernel quantised it (read back by running the identity matrix through the
same kernel, so |q - q̂| is measured too). Every example whose upper bound reaches the k-th
best lower bound is rescored exactly in float32, so the answer is the exact top k, the same
as the full product. On real photo embeddings well under 1% of the examples need rescoring; when the bounds
cannot separate the examples (more than an eighth would need it) the caller does the full
product instead.
"""

from __future__ import annotations

import warnings

import numpy as np

# Added to every bound: covers float32 rounding in the kernel's dequantisation and our sums.
ROUNDING_SLACK = 1e-4
# Examples whose storage error is measured at once while the index is built.
CHUNK = 8192
# Beyond this fraction of examples to rescore, the full product is cheaper.
MAX_RESCORE_FRACTION = 1 / 8


class Int8Index:
    """int8 copies of L2-normalised examples, with what is needed to bound each score's error."""

    def __init__(self, examples: np.ndarray) -> None:
        import torch

        self.examples = examples
        scales = np.maximum(np.abs(examples).max(axis=1), 1e-12).astype(np.float64) / 127.0
        with warnings.catch_warnings():  # quantised tensors are deprecated but supported in the pinned torch
            warnings.simplefilter("ignore")
            weight = torch.quantize_per_channel(
                torch.from_numpy(examples), torch.from_numpy(scales), torch.zeros(len(examples), dtype=torch.long),
                0, torch.qint8,
            )
            self._packed = torch.ops.quantized.linear_prepack(weight, None)
            # The identity in the same kernel hands back each query exactly as the kernel
            # quantised it, so its quantisation error is measured, not estimated.
            dim = examples.shape[1]
            identity = torch.quantize_per_channel(
                torch.eye(dim), torch.full((dim,), 1 / 127, dtype=torch.float64), torch.zeros(dim, dtype=torch.long),
                0, torch.qint8,
            )
            self._identity = torch.ops.quantized.linear_prepack(identity, None)
        codes = weight.int_repr().numpy()
        self.stored_norms = np.empty(len(examples), np.float32)
        self.errors = np.empty(len(examples), np.float32)
        for start in range(0, len(examples), CHUNK):  # a chunk at a time: memory stays bounded
            part = slice(start, start + CHUNK)
            stored = codes[part].astype(np.float32) * scales[part, None].astype(np.float32)
            self.stored_norms[part] = np.linalg.norm(stored, axis=1)
            self.errors[part] = np.linalg.norm(examples[part] - stored, axis=1)

    def approximate(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(approximate scores, error bound) each queries x examples."""
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
        with torch.inference_mode():
            # reduce_range: 7-bit queries. With 8 bits, x86 CPUs without VNNI saturate the int16
            # pair sums inside the kernel and the error bound would not hold.
            scores = torch.ops.quantized.linear_dynamic(batch, self._packed, True).numpy()
            as_quantised = torch.ops.quantized.linear_dynamic(batch, self._identity, True).numpy()
        query_error = np.linalg.norm(queries - as_quantised, axis=1).astype(np.float32)[:, None]
        query_norm = np.linalg.norm(queries, axis=1).astype(np.float32)[:, None]
        bound = self.errors * query_norm + self.stored_norms * query_error + ROUNDING_SLACK
        return scores, bound

    def top_k(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact (indices, similarities) of the k most similar examples to one query, or None
        when the bounds leave too many candidates to be worth it."""
        scores, bound = self.approximate(query[None])
        scores, bound = scores[0], bound[0]
        lower = scores - bound
        kth_lower = np.partition(lower, len(lower) - k)[len(lower) - k]
        candidates = np.flatnonzero(scores + bound >= kth_lower)
        if len(candidates) > MAX_RESCORE_FRACTION * len(scores):
            return None
        exact = self.examples[candidates] @ query
        best = np.argpartition(-exact, k - 1)[:k]
        return candidates[best], exact[best]

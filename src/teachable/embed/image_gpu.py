"""EfficientNet-Lite0 on a CUDA GPU: uint8 pixels in, embeddings and ImageNet logits out.

Photos travel to the GPU as uint8 (a quarter of the bytes of float input) from pinned memory
and are scaled there; the network runs in channels-last layout, by default under float16
autocast, which docs/benchmarks.md shows changes embeddings by far less than a photo's own
noise while running faster. Only imported when a GPU is used.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from .efficientnet_lite import FeaturesAndLogits, load_pretrained
from .spec import INPUT_MEAN, INPUT_STD

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
DEFAULT_PRECISION = "fp16"


class GpuImageNetwork:
    """The backbone's network on one GPU; calls are serialised (one stream, one module)."""

    def __init__(self, precision: str = DEFAULT_PRECISION) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
        self.precision = precision
        self._lock = threading.Lock()
        self._module = FeaturesAndLogits(load_pretrained()).to("cuda").eval().to(memory_format=torch.channels_last)

    def _forward(self, nchw: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        dtype = PRECISIONS[self.precision]
        nchw = nchw.contiguous(memory_format=torch.channels_last)
        # fp32 means fp32: cuDNN would otherwise run the convolutions in TensorFloat-32.
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=dtype is not None), \
                torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            features, logits = self._module(nchw)
        return features.float().cpu().numpy(), logits.float().cpu().numpy()

    def run_pixels(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, logits) for N x 224 x 224 x 3 uint8 pictures."""
        host = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.uint8)).pin_memory()
        with self._lock, torch.inference_mode():
            nhwc = host.to("cuda", non_blocking=True).float()
            nchw = ((nhwc - INPUT_MEAN) / INPUT_STD).permute(0, 3, 1, 2)
            return self._forward(nchw)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, logits) for N x 3 x 224 x 224 float32 network input."""
        with self._lock, torch.inference_mode():
            return self._forward(torch.from_numpy(batch).to("cuda"))

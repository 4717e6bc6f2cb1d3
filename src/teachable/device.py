"""Which compute device to use: CUDA when it is there, the CPU otherwise."""

from __future__ import annotations

from typing import Literal

from .errors import TeachableError

DeviceName = Literal["auto", "cpu", "cuda"]


def resolve_device(requested: str = "auto") -> str:
    """Turn 'auto' into 'cuda' or 'cpu'; refuse 'cuda' when no GPU is usable."""
    requested = (requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda"):
        raise TeachableError(f"Unknown device {requested!r}: use auto, cpu or cuda.")
    if requested == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:  # no PyTorch: the networks run on the CPU (ONNX Runtime or OpenVINO)
        if requested == "cuda":
            raise TeachableError("CUDA was requested, but PyTorch (which runs the networks on a GPU) is not installed: "
                                 "install a CUDA build of PyTorch.") from None
        return "cpu"
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise TeachableError("CUDA was requested but no CUDA GPU is available to PyTorch.")
    return "cuda" if has_cuda else "cpu"

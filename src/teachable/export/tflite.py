"""TensorFlow Lite export, for phones, Raspberry Pi and microcontrollers (``pip install teachable[tflite]``).

The same PyTorch pipeline as the ONNX export (backbone + classifier, preprocessed NCHW image in,
``probabilities`` and ``label`` out) is converted with Google's ``litert-torch``:

- float32: a direct conversion; matches Teachable to about 1e-6;
- int8: static post-training quantisation (weights per channel, activations per tensor),
  calibrated on representative images — the training photos are the natural choice. Its
  input is int8: ``round(x / scale) + zero_point`` with the scale and zero point stored in
  the model (``predict_tflite.py`` does this); outputs stay float32.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterable

import numpy as np

from ..errors import TeachableError
from ..model import Model
from .onnx_model import pipeline_module


def tflite_input(x: np.ndarray, input_details: dict) -> np.ndarray:
    """A preprocessed float input as the interpreter's input tensor wants it: unchanged for the
    float32 model, ``round(x / scale) + zero_point`` as int8 for the quantised one."""
    if input_details["dtype"] != np.int8:
        return np.asarray(x, np.float32)
    scale, zero_point = input_details["quantization"]
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def tflite_available() -> bool:
    try:
        import litert_torch  # noqa: F401
    except Exception:
        return False
    return True


def _require() -> None:
    if not tflite_available():
        raise TeachableError(
            "TensorFlow Lite export needs the optional converter: pip install 'teachable[tflite]' "
            "(litert-torch and ai-edge-litert)."
        )


def _export_bytes(edge_model) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".tflite")
    os.close(fd)
    try:
        edge_model.export(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


def export_tflite(model: Model, int8: bool = False, calibration: Iterable[np.ndarray] | None = None) -> bytes:
    """The whole pipeline as a ``.tflite`` flatbuffer; ``calibration``: preprocessed 3x224x224 images (int8)."""
    _require()
    import litert_torch
    import torch

    from ..embed.spec import INPUT_SIZE

    pipeline = pipeline_module(model)
    example = (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),)
    with torch.inference_mode(False), torch.no_grad():
        if not int8:
            return _export_bytes(litert_torch.convert(pipeline, example))
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import quantize_pt2e

        samples = [np.asarray(x, np.float32) for x in (calibration or [])]
        if len(samples) < 8:
            raise TeachableError("int8 quantisation needs at least 8 representative images to calibrate on.")
        quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
        )
        graph = torch.export.export(pipeline, example).module()
        graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
        for x in samples:
            graph(torch.from_numpy(x[None]))
        graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
        return _export_bytes(litert_torch.convert(graph, example, quant_config=QuantConfig(pt2e_quantizer=quantizer)))

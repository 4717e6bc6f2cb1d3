"""TensorFlow Lite export, shaped like Teachable Machine's (``pip install teachable[tflite]``).

The same PyTorch pipeline as the ONNX export (backbone + classifier) is converted with Google's
``litert-torch``, behind an NHWC ``[1, 224, 224, 3]`` input and with one output, as Teachable
Machine's TensorFlow Lite files have, so apps written for those run unchanged:

- ``model_unquant.tflite``: float32 in, ``(pixel - 127.5) / 127.5`` as Teachable Machine's float
  model takes it (rescaled inside to Teachable's ``(pixel - 127) / 128``); float32 probabilities out;
- ``model.tflite``: static post-training quantisation (weights per channel, activations per tensor,
  calibrated on the project's own photos); uint8 pixels in as they are, uint8 probabilities out
  (``value / 255``).

Both carry TFLite model metadata (normalisation, labels) for the Task Library and MediaPipe.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Iterable

import numpy as np

from ..errors import TeachableError
from ..model import Model
from ..version import __version__
from . import tflite_graph
from .onnx_model import pipeline_module
from .tflite_metadata import append_labels, metadata_flatbuffer

FLOAT_FILE, QUANTISED_FILE = "model_unquant.tflite", "model.tflite"
FLOAT_MEAN = FLOAT_STD = 127.5  # what Teachable Machine's float model takes
QUANTISED_MEAN, QUANTISED_STD = 127.0, 128.0  # what the uint8 input's quantisation encodes
MIN_CALIBRATION = 8

Progress = Callable[[str, int, int], None]  # (step, done, total)


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


def _nhwc_module(model: Model, float_input: bool):
    """The pipeline behind an NHWC input, returning the probabilities only."""
    from torch import nn

    pipeline = pipeline_module(model)

    class NHWC(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pipeline = pipeline

        def forward(self, image):
            x = image.permute(0, 3, 1, 2)
            if float_input:  # (p - 127.5) / 127.5  ->  (p - 127) / 128, exactly
                x = x * (FLOAT_STD / 128) + (FLOAT_MEAN - 127) / 128
            return self.pipeline(x)[0]

    return NHWC().eval()


def _export_bytes(edge_model) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".tflite")
    os.close(fd)
    try:
        edge_model.export(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


def _finish(data: bytes, model: Model, name: str, quantised: bool) -> bytes:
    """Names by role, uint8 ends for the quantised model, metadata and the labels inside."""
    graph = tflite_graph.load(data)
    if quantised:
        tflite_graph.uint8_io(graph)
    tflite_graph.name_io(graph)
    mean, std = (QUANTISED_MEAN, QUANTISED_STD) if quantised else (FLOAT_MEAN, FLOAT_STD)
    description = (f"Teachable image classifier ({'uint8, quantised' if quantised else 'float32'}): "
                   f"{len(model.labels)} classes: {', '.join(model.labels)}.")
    tflite_graph.attach_metadata(graph, metadata_flatbuffer(name, description, __version__, "Teachable", mean, std))
    return append_labels(tflite_graph.dump(graph), model.labels)


def export_tflite(model: Model, quantised: bool = False, calibration: Iterable[np.ndarray] | None = None,
                  name: str = "teachable-image-model", on_progress: Progress | None = None) -> bytes:
    """``model_unquant.tflite`` (float) or ``model.tflite`` (uint8) as bytes.

    ``calibration``: preprocessed 3x224x224 images (Teachable's recipe), needed when quantised."""
    _require()
    import litert_torch
    import torch

    from ..embed.spec import INPUT_SIZE

    report = on_progress or (lambda step, done, total: None)
    example = (torch.zeros(1, INPUT_SIZE, INPUT_SIZE, 3),)
    with torch.inference_mode(False), torch.no_grad():
        if not quantised:
            report("converting the float model", 0, 1)
            data = _export_bytes(litert_torch.convert(_nhwc_module(model, True), example))
            report("converting the float model", 1, 1)
            return _finish(data, model, name, quantised=False)
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import quantize_pt2e

        samples = [np.ascontiguousarray(np.asarray(x, np.float32).transpose(1, 2, 0)) for x in (calibration or [])]
        if len(samples) < MIN_CALIBRATION:
            raise TeachableError(f"The quantised model needs at least {MIN_CALIBRATION} representative images to "
                                 f"calibrate on (got {len(samples)}).")
        quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
        )
        graph = torch.export.export(_nhwc_module(model, False), example).module()
        graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
        for done, x in enumerate(samples):
            report("calibrating the quantised model", done, len(samples))
            graph(torch.from_numpy(x[None]))
        report("calibrating the quantised model", len(samples), len(samples))
        graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
        report("converting the quantised model", 0, 1)
        data = _export_bytes(litert_torch.convert(graph, example, quant_config=QuantConfig(pt2e_quantizer=quantizer)))
        report("converting the quantised model", 1, 1)
        return _finish(data, model, name, quantised=True)


def tflite_input(x: np.ndarray, input_details: dict) -> np.ndarray:
    """Teachable's preprocessed images (``[N, 3, 224, 224]``, ``(pixel - 127) / 128``) as either
    model's input tensor: NHWC; ``(pixel - 127.5) / 127.5`` for the float model, the pixels
    themselves for the uint8 one."""
    pixels = np.asarray(x, np.float32).transpose(0, 2, 3, 1) * 128 + 127
    if input_details["dtype"] == np.uint8:
        return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    return ((pixels - FLOAT_MEAN) / FLOAT_STD).astype(np.float32)


def tflite_output(y: np.ndarray, output_details: dict) -> np.ndarray:
    """Probabilities from the output tensor (the uint8 one dequantised: ``(q - zero_point) * scale``)."""
    if output_details["dtype"] == np.float32:
        return np.asarray(y, np.float32)
    scale, zero_point = output_details["quantization"]
    return (np.asarray(y, np.float32) - zero_point) * scale


def tflite_metadata(image_input: dict, calibration_images: int) -> dict:
    """metadata.json's ``input``/``outputs`` for the TensorFlow Lite bundle (both files)."""
    steps = [step for step in image_input["steps"] if "pixel" not in step and "NCHW" not in step]
    files = {FLOAT_FILE: {"dtype": "float32", "normalisation": f"(pixel - {FLOAT_MEAN}) / {FLOAT_STD}",
                          "output": "float32 probabilities"}}
    if calibration_images:
        files[QUANTISED_FILE] = {"dtype": "uint8", "normalisation": "none: the pixels as they are",
                                 "output": "uint8: probability = value / 255",
                                 "calibration_images": calibration_images}
    return {
        "input": {"name": "image", "shape": [1, image_input["size"], image_input["size"], 3], "layout": "NHWC",
                  "colour": "RGB", "size": image_input["size"], "steps": steps, "files": files},
        "outputs": {"probabilities": "[1, classes], in the order of labels (labels.txt: 'index name')"},
    }

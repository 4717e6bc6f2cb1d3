"""Edits to a converted TensorFlow Lite flatbuffer, so the files look like Teachable Machine's.

The converter names tensors after PyTorch's module paths (``serving_default_args_0``) and keeps the
quantised model's float output. Apps written for Teachable Machine's exports (the TensorFlow Lite
Android example, Coral's ``classify_image.py``) expect one input called by its role, one output,
and for the quantised model uint8 pixels in and uint8 scores out. These functions make those
changes on the flatbuffer itself, with the schema's object API from ``ai-edge-litert``:

- :func:`name_io`: the input is ``image``, the output ``probabilities`` (tensors and signature);
- :func:`uint8_io`: a QUANTIZE op in front (uint8 pixels -> the model's int8 input; the zero point
  moves by 128 and the scale stays, so it is exact) and one behind (float probabilities -> uint8
  with scale 1/255, so ``score / 255`` is the probability as Teachable Machine's apps compute it);
- :func:`attach_metadata`: the ``TFLITE_METADATA`` buffer that the Task Library and MediaPipe read.
"""

from __future__ import annotations

import numpy as np

OUTPUT_SCALE = 1 / 255  # uint8 probabilities: value / 255, as Teachable Machine's Android example reads them


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def load(data: bytes):
    """The flatbuffer as mutable objects (``ModelT``)."""
    return _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)


def dump(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _graph_io(model) -> tuple:
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError("expected a model with one input and one output")
    return graph, int(graph.inputs[0]), int(graph.outputs[0])


def name_io(model, input_name: str = "image", output_name: str = "probabilities") -> None:
    """Name the input and output tensors, and their entries in each signature, by their role."""
    graph, source, sink = _graph_io(model)
    graph.tensors[source].name = input_name.encode()
    graph.tensors[sink].name = output_name.encode()
    for signature in model.signatureDefs or []:
        for entry, name in ((signature.inputs, input_name), (signature.outputs, output_name)):
            for tensor_map in entry or []:
                tensor_map.name = name.encode()


def _opcode(model, builtin: int, version: int) -> int:
    schema = _schema()
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, version)
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _new_tensor(model, like, name: str, dtype: int, scale: float, zero_point: int) -> int:
    schema = _schema()
    tensor = schema.TensorT()
    tensor.shape = np.array(like.shape, np.int32)
    tensor.shapeSignature = None if like.shapeSignature is None else np.array(like.shapeSignature, np.int32)
    tensor.type, tensor.name = dtype, name.encode()
    buffer = schema.BufferT()
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale = np.array([scale], np.float32)
    tensor.quantization.zeroPoint = np.array([zero_point], np.int64)
    graph = model.subgraphs[0]
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _quantize_op(model, source: int, sink: int):
    schema = _schema()
    op = schema.OperatorT()
    op.opcodeIndex = _opcode(model, schema.BuiltinOperator.QUANTIZE, 2)
    op.inputs, op.outputs = np.array([source], np.int32), np.array([sink], np.int32)
    op.builtinOptionsType = schema.BuiltinOptions.QuantizeOptions
    op.builtinOptions = schema.QuantizeOptionsT()
    return op


def uint8_io(model) -> None:
    """uint8 pixels in, uint8 probabilities out, around a model with int8 input and float output."""
    schema = _schema()
    graph, source, sink = _graph_io(model)
    old_in, old_out = graph.tensors[source], graph.tensors[sink]
    if old_in.type != schema.TensorType.INT8 or old_out.type != schema.TensorType.FLOAT32:
        raise ValueError("expected an int8 input and a float32 output")
    scale, zero_point = float(old_in.quantization.scale[0]), int(old_in.quantization.zeroPoint[0])
    pixels = _new_tensor(model, old_in, "image", schema.TensorType.UINT8, scale, zero_point + 128)
    scores = _new_tensor(model, old_out, "probabilities", schema.TensorType.UINT8, OUTPUT_SCALE, 0)
    old_in.name, old_out.name = b"image_int8", b"probabilities_float"
    graph.operators = [_quantize_op(model, pixels, source), *graph.operators, _quantize_op(model, sink, scores)]
    graph.inputs, graph.outputs = np.array([pixels], np.int32), np.array([scores], np.int32)
    for signature in model.signatureDefs or []:
        for tensor_map in signature.inputs or []:
            tensor_map.tensorIndex = pixels
        for tensor_map in signature.outputs or []:
            tensor_map.tensorIndex = scores


def attach_metadata(model, metadata: bytes) -> None:
    """Store a TFLite model-metadata flatbuffer (``M001``) where readers look for it."""
    schema = _schema()
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = b"TFLITE_METADATA", len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != b"TFLITE_METADATA"] + [entry]

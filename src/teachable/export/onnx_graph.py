"""The classifiers as ONNX graphs, written node by node with the ``onnx`` package (no PyTorch).

The same arithmetic as :class:`~teachable.classify.head.HeadClassifier` and
:class:`~teachable.classify.knn.KNNClassifier` (opset 17):

- both: ``f = (embedding - centre) * scale`` (zeros / ones where the classifier has none);
- head: ``softmax(relu(f @ W1 + b1) @ W2 + b2)`` (after L2 normalisation when trained so);
- kNN: the stored unit-length examples are a constant matrix; the query is made unit length, one
  MatMul gives every cosine similarity, TopK keeps the k best, their one-hot labels are summed
  weighted by ``exp((similarity - best) / temperature)`` (or equally) into vote shares, and
  ``label`` applies the same tie-break (the largest vote, then the larger summed similarity).

Outputs ``probabilities`` float32 [batch, classes] and ``label`` int64 [batch].
"""

from __future__ import annotations

import numpy as np

from ..classify.head import HeadClassifier
from ..classify.knn import TIE, KNNClassifier

OPSET = 17


class _Graph:
    """Nodes and constants of one graph, with fresh names."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.constants: list = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, value: np.ndarray, stem: str = "const") -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attributes) -> str | list[str]:
        from onnx import helper

        names = outputs if isinstance(outputs, list) else [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attributes))
        return names[0] if len(names) == 1 else names


def _prepared(g: _Graph, classifier, source: str) -> str:
    """``(source - centre) * scale``, the classifiers' first step."""
    dim = classifier.input_dim
    centre = classifier.center if classifier.center is not None else np.zeros(dim, np.float32)
    scale = getattr(classifier, "scale", None)
    x = g.op("Sub", [source, g.constant(np.asarray(centre, np.float32), "centre")])
    if scale is not None:
        x = g.op("Mul", [x, g.constant(np.asarray(scale, np.float32), "scale")])
    return x


def _unit(g: _Graph, x: str) -> str:
    length = g.op("ReduceL2", [x], axes=[1], keepdims=1)
    return g.op("Div", [x, g.op("Max", [length, g.constant(np.array(1e-12, np.float32), "tiny")])])


def _head(g: _Graph, head: HeadClassifier, source: str) -> None:
    w = head.weights
    x = _prepared(g, head, source)
    if head.input_norm == "l2":
        x = _unit(g, x)
    hidden = g.op("Relu", [g.op("Gemm", [x, g.constant(w["w1"], "w1"), g.constant(w["b1"], "b1")])])
    logits = g.op("Gemm", [hidden, g.constant(w["w2"], "w2"), g.constant(w["b2"], "b2")])
    g.op("Softmax", [logits], ["probabilities"], axis=1)
    g.op("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)


def _knn(g: _Graph, knn: KNNClassifier, source: str) -> None:
    k = min(knn.k, len(knn.labels))
    query = _unit(g, _prepared(g, knn, source))
    sims = g.op("MatMul", [query, g.constant(np.ascontiguousarray(knn.examples.T, np.float32), "examples_t")])
    top, index = g.op("TopK", [sims, g.constant(np.array([k], np.int64), "k")], 2, axis=1, largest=1, sorted=1)
    onehot = np.eye(knn.num_classes, dtype=np.float32)[knn.labels]
    voters = g.op("Gather", [g.constant(onehot, "onehot"), index], axis=0)  # batch x k x classes
    if knn.temperature > 0:  # TopK sorts: the first is the most similar
        best = g.op("Slice", [top, g.constant(np.array([0], np.int64)), g.constant(np.array([1], np.int64)),
                              g.constant(np.array([1], np.int64))])
        weights = g.op("Exp", [g.op("Div", [g.op("Sub", [top, best]),
                                             g.constant(np.array(knn.temperature, np.float32), "temperature")])])
    else:
        weights = g.op("Add", [g.op("Mul", [top, g.constant(np.array(0, np.float32))]), g.constant(np.array(1, np.float32))])
    last = g.constant(np.array([2], np.int64), "axis2")
    middle = g.constant(np.array([1], np.int64), "axis1")
    weighted = g.op("ReduceSum", [g.op("Mul", [voters, g.op("Unsqueeze", [weights, last])]), middle], keepdims=0)
    total = g.op("ReduceSum", [weights, middle], keepdims=1)
    g.op("Div", [weighted, total], ["probabilities"])
    sim_sums = g.op("ReduceSum", [g.op("Mul", [voters, g.op("Unsqueeze", [top, last])]), middle], keepdims=0)
    highest = g.op("ReduceMax", ["probabilities"], axes=[1], keepdims=1)
    tied = g.op("GreaterOrEqual", ["probabilities", g.op("Sub", [highest, g.constant(np.array(TIE, np.float32), "tie")])])
    score = g.op("Where", [tied, sim_sums, g.constant(np.array(-1e9, np.float32), "never")])
    g.op("ArgMax", [score], ["label"], axis=1, keepdims=0)


def classifier_graph(classifier, input_name: str = "embedding"):
    """An ``onnx.ModelProto``: ``input_name`` float32 [batch, dim] -> probabilities, label."""
    import onnx
    from onnx import helper

    g = _Graph()
    if isinstance(classifier, HeadClassifier):
        _head(g, classifier, input_name)
    elif isinstance(classifier, KNNClassifier):
        _knn(g, classifier, input_name)
    else:
        raise TypeError(f"cannot export a {type(classifier).__name__}")
    classes = classifier.num_classes
    graph = helper.make_graph(
        g.nodes, "teachable_classifier",
        [helper.make_tensor_value_info(input_name, onnx.TensorProto.FLOAT, ["batch", classifier.input_dim])],
        [helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["batch", classes]),
         helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["batch"])],
        g.constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="teachable")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model

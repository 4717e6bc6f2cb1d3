"""One ONNX graph for the whole pipeline: preprocessed image -> backbone -> classifier -> probabilities.

:func:`export_onnx` writes the classifier node by node (:mod:`.onnx_graph`, no PyTorch) and joins it
to the backbone's ONNX file. :func:`pipeline_module` rebuilds the same pipeline as a PyTorch module
for the TensorFlow Lite converter (the ``tflite`` extra), with the classifier as:

- head: ``softmax(relu(f @ W1 + b1) @ W2 + b2)`` (after L2 normalisation when the head was
  trained on normalised inputs);
- kNN: the stored L2-normalised examples are a constant matrix; the graph normalises the query,
  takes one MatMul for all cosine similarities, TopK, looks up the voters' one-hot labels and
  sums them, weighted by similarity, into vote shares, as :class:`~teachable.classify.knn.KNNClassifier`.
  A second output, ``label``, applies the same tie-break (the largest vote, then the larger
  summed similarity).

Inputs and outputs: ``image`` float32 [batch, 3, 224, 224] (RGB, ``(pixel - 127) / 128``,
centre square resized bilinearly) -> ``probabilities`` float32 [batch, classes] and ``label``
int64 [batch]. Labels, preprocessing and the classifier are in the model's metadata.
"""

from __future__ import annotations

import json

import numpy as np

from ..classify.head import HeadClassifier
from ..classify.knn import TIE, KNNClassifier
from ..kinds import get_kind
from ..model import Model
from .onnx_graph import classifier_graph

OPSET = 17


def _center_of(classifier) -> np.ndarray:
    """The vector subtracted from embeddings first (zeros when the classifier has none)."""
    if classifier.center is not None:
        return np.asarray(classifier.center, np.float32)
    return np.zeros(classifier.input_dim, np.float32)


def _scale_of(classifier) -> np.ndarray:
    """The weight of each number after centring (ones when the classifier has none)."""
    if getattr(classifier, "scale", None) is not None:
        return np.asarray(classifier.scale, np.float32)
    return np.ones(classifier.input_dim, np.float32)


def _torch_classifier(classifier):
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self, head: HeadClassifier) -> None:
            super().__init__()
            w = head.weights
            self.normalise = head.input_norm == "l2"
            self.register_buffer("center", torch.from_numpy(_center_of(head)))
            self.register_buffer("scale", torch.from_numpy(_scale_of(head)))
            self.register_buffer("w1", torch.from_numpy(w["w1"]))
            self.register_buffer("b1", torch.from_numpy(w["b1"]))
            self.register_buffer("w2", torch.from_numpy(w["w2"]))
            self.register_buffer("b2", torch.from_numpy(w["b2"]))

        def forward(self, f):
            f = (f - self.center) * self.scale
            if self.normalise:
                f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
            logits = torch.relu(f @ self.w1 + self.b1) @ self.w2 + self.b2
            probabilities = torch.softmax(logits, dim=1)
            return probabilities, probabilities.argmax(dim=1)

    class Knn(nn.Module):
        def __init__(self, knn: KNNClassifier) -> None:
            super().__init__()
            self.k = min(knn.k, len(knn.labels))
            self.temperature = knn.temperature
            self.register_buffer("examples_t", torch.from_numpy(np.ascontiguousarray(knn.examples.T)))
            onehot = np.eye(knn.num_classes, dtype=np.float32)[knn.labels]
            self.register_buffer("onehot", torch.from_numpy(onehot))
            self.register_buffer("center", torch.from_numpy(_center_of(knn)))
            self.register_buffer("scale", torch.from_numpy(_scale_of(knn)))

        def forward(self, f):
            f = (f - self.center) * self.scale
            q = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
            sims = q @ self.examples_t
            top_sims, top_idx = torch.topk(sims, self.k, dim=1)
            voters = self.onehot[top_idx]  # batch x k x classes
            if self.temperature > 0:  # topk sorts: the first is the most similar
                weights = torch.exp((top_sims - top_sims[:, :1]) / self.temperature)
            else:
                weights = torch.ones_like(top_sims)
            shares = (voters * weights.unsqueeze(2)).sum(dim=1) / weights.sum(dim=1, keepdim=True)
            sim_sums = (voters * top_sims.unsqueeze(2)).sum(dim=1)
            tied = shares >= shares.max(dim=1, keepdim=True).values - TIE
            score = torch.where(tied, sim_sums, torch.full_like(sim_sums, -1e9))
            return shares, score.argmax(dim=1)

    if isinstance(classifier, HeadClassifier):
        return Head(classifier)
    if isinstance(classifier, KNNClassifier):
        return Knn(classifier)
    raise TypeError(f"cannot export a {type(classifier).__name__}")


def onnx_metadata(model: Model) -> dict[str, str]:
    meta = model.metadata()
    return {
        "teachable": json.dumps({k: meta[k] for k in ("format_version", "teachable_version", "kind", "labels", "backbone", "classifier", "created")}),
        "labels": json.dumps(model.labels, ensure_ascii=False),
        "preprocessing": json.dumps(meta["backbone"]["preprocessing"]),
    }


def pipeline_module(model: Model):
    """A PyTorch module computing (probabilities, label) from the preprocessed image."""
    from torch import nn

    from ..embed.efficientnet_lite import load_pretrained

    if get_kind(model.kind).export_input != "image":
        raise TypeError("whole-pipeline export is for image models")

    class Pipeline(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = load_pretrained()
            self.classifier = _torch_classifier(model.classifier)

        def forward(self, image):
            return self.classifier(self.backbone.features(image))

    return Pipeline().eval()


def classifier_input_name(kind: str) -> str:
    """The input of a classifier-only graph: a sound embedding, or pose / hand features."""
    return get_kind(kind).export_input


def export_onnx(model: Model) -> bytes:
    """ONNX bytes (opset 17, dynamic batch): for images the whole pipeline from the preprocessed
    image; for sounds the classifier on the embedding (the embedding models are Google's ONNX
    files, shipped beside it in the bundle); for poses and hands the classifier on the keypoint
    features (the landmark model stays MediaPipe's).

    No PyTorch: the classifier graph is written node by node (:mod:`.onnx_graph`); for images it is
    joined to the backbone's own ONNX file (the one Teachable runs), ``features`` into ``embedding``."""
    import onnx
    from onnx import compose

    whole = get_kind(model.kind).export_input == "image"
    classifier = classifier_graph(model.classifier, "embedding" if whole else classifier_input_name(model.kind))
    if whole:
        from ..embed.image import backbone_onnx_path

        backbone = onnx.load(str(backbone_onnx_path()))
        classifier = compose.add_prefix(classifier, "classifier/", rename_inputs=False, rename_outputs=False)
        classifier.ir_version = backbone.ir_version
        proto = compose.merge_models(backbone, classifier, io_map=[("features", "embedding")],
                                     outputs=["probabilities", "label"], producer_name="teachable")
    else:
        proto = classifier
    for key, value in onnx_metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = (
        "Teachable image classifier: image [N,3,224,224] -> probabilities [N,classes], label [N]" if whole
        else f"Teachable {model.kind} classifier: {classifier_input_name(model.kind)} [N,{model.classifier.input_dim}] -> probabilities [N,classes], label [N]"
    )
    return proto.SerializeToString()

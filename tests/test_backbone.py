"""The pretrained network: right weights, right preprocessing, right answers on real photos."""

import numpy as np
import pytest
import torch
from skimage import data

from teachable.embed.efficientnet_lite import EfficientNetLite0, FeaturesAndLogits, load_pretrained
from teachable.embed.image import imagenet_labels
from teachable.embed.preprocess import prepare
from teachable.embed.spec import weights_path


def test_weights_load_strictly_into_our_architecture():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    network = EfficientNetLite0()
    missing, unexpected = network.load_state_dict(state, strict=True)
    assert not missing and not unexpected


def test_imagenet_labels_are_complete():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[281] == "tabby" and labels[967] == "espresso"


def test_chelsea_is_a_cat(backbone):
    guesses = backbone.classify(data.chelsea(), top=5)
    assert 281 <= guesses[0].index <= 285, guesses
    assert guesses[0].probability > 0.3
    assert sum(g.probability for g in guesses) <= 1.0 + 1e-6


def test_coffee_is_espresso_or_a_cup(backbone):
    top5 = {g.index for g in backbone.classify(data.coffee(), top=5)}
    assert top5 & {504, 967, 968}, top5  # coffee mug, espresso, cup


def test_embeddings_are_1280d_deterministic_and_batch_independent(backbone):
    photos = [data.chelsea(), data.coffee(), data.rocket()]
    first = backbone.embed(photos)
    again = backbone.embed(photos[::-1])[::-1]
    assert first.shape == (3, 1280) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert np.all(first >= 0)  # pooled ReLU6 activations
    # different photos give clearly different fingerprints
    normed = first / np.linalg.norm(first, axis=1, keepdims=True)
    assert (normed @ normed.T)[0, 1] < 0.9


def test_onnx_runtime_matches_pytorch(backbone):
    x = np.stack([prepare(data.chelsea()), prepare(data.astronaut())])
    with torch.inference_mode():
        features, logits = FeaturesAndLogits(load_pretrained())(torch.from_numpy(x))
    ort_features, ort_logits = backbone.run(x)
    np.testing.assert_allclose(ort_features, features.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(ort_logits, logits.numpy(), atol=1e-3, rtol=1e-4)


def test_the_backbone_file_is_made_without_pytorch_and_computes_its_features(tmp_path):
    """The weights read by the restricted unpickler equal torch.load's; the ONNX graph written from
    them (backbone_graph.py) gives PyTorch's features to 1e-5 and its logits to 1e-4."""
    import onnxruntime as ort

    from teachable.embed.backbone_graph import build, read_state

    state = read_state(weights_path())
    reference = torch.load(weights_path(), map_location="cpu", weights_only=True)
    assert set(state) == set(reference) and all(np.array_equal(state[k], reference[k].numpy()) for k in reference)
    session = ort.InferenceSession(build(state), providers=["CPUExecutionProvider"])
    x = np.stack([prepare(data.chelsea()), prepare(data.astronaut()), prepare(data.rocket())])
    features, logits = session.run(None, {"image": x})
    with torch.inference_mode():
        expected_features, expected_logits = FeaturesAndLogits(load_pretrained())(torch.from_numpy(x))
    np.testing.assert_allclose(features, expected_features.numpy(), atol=1e-5)
    np.testing.assert_allclose(logits, expected_logits.numpy(), atol=1e-4)


def test_the_weights_reader_refuses_anything_but_tensors(tmp_path, capsys):
    """A .pth is a pickle: one that names anything a state dict does not have is refused, not run."""
    import pickle

    from teachable.embed.backbone_graph import MAGIC, PROTOCOL, WeightsFileError, read_state

    class Boom:
        def __reduce__(self):
            return (print, ("this must never run",))

    hostile = tmp_path / "hostile.pth"
    with open(hostile, "wb") as out:
        for part in (MAGIC, PROTOCOL, {"little_endian": True}, {"w": Boom()}, []):
            pickle.dump(part, out, protocol=2)
    with pytest.raises(WeightsFileError, match=r"names __builtin__\.print"):
        read_state(hostile)
    assert "this must never run" not in capsys.readouterr().out
    hostile.write_bytes(b"not a weights file")
    with pytest.raises(WeightsFileError):
        read_state(hostile)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


@needs_cuda
def test_cuda_path_matches_cpu(backbone):
    from teachable.embed.image import ImageBackbone

    photos = [data.chelsea(), data.coffee()]
    exact = ImageBackbone("cuda", precision="fp32")
    np.testing.assert_allclose(exact.embed(photos), backbone.embed(photos), atol=2e-3, rtol=2e-3)
    fast = ImageBackbone("cuda")  # float16 autocast by default
    assert _cosines(fast.embed(photos), backbone.embed(photos)).min() > 0.999
    assert 281 <= fast.classify(data.chelsea())[0].index <= 285


@needs_cuda
def test_cuda_bulk_path_decodes_in_processes_and_keeps_order(backbone, fewshot_train, tmp_path):
    from teachable.embed.image import DECODE_POOL_MIN, ImageBackbone

    paths = sorted(fewshot_train.rglob("*.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(paths[0].read_bytes()[:300])
    sources = (paths * 3)[:DECODE_POOL_MIN] + [broken] + paths[:5]
    errors = []
    gpu = ImageBackbone("cuda")
    vectors, kept = gpu.embed_many(sources, on_error=lambda i, exc: errors.append(i))
    assert gpu._decoder is not None  # enough photos to start the worker processes
    assert errors == [DECODE_POOL_MIN]
    assert kept == [i for i in range(len(sources)) if i != DECODE_POOL_MIN]
    expected = backbone.embed([sources[i] for i in kept])
    assert _cosines(vectors, expected).min() > 0.999


def test_single_image_path_equals_bulk_path(backbone):
    photos = [data.chelsea(), data.rocket()]
    bulk = backbone.embed(photos)
    single = np.stack([backbone.embed_one(p) for p in photos])
    np.testing.assert_allclose(single, bulk, rtol=1e-5, atol=1e-5)

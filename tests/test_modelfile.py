"""`.teachable` files: exact round trips, and clear refusals of anything broken or foreign."""

import io
import json
import zipfile

import numpy as np
import pytest

import teachable
from teachable.errors import ModelFileError


@pytest.fixture(scope="module", params=["head", "knn"])
def trained(request, fewshot_train):
    return teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier=request.param, epochs=20)


def test_save_load_gives_identical_predictions(trained, fewshot_test, tmp_path):
    path = trained.save(tmp_path / "model.teachable")
    loaded = teachable.load(path)
    images = sorted(fewshot_test.rglob("*.jpg"))
    before = trained.predict_batch(images)
    after = loaded.predict_batch(images)
    assert before == after
    assert loaded.labels == trained.labels and loaded.classifier.params() == trained.classifier.params()
    assert loaded.report.to_dict() == trained.report.to_dict()
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
    assert meta["format_version"] == 2 and meta["kind"] == "image"
    assert meta["backbone"]["id"] == "efficientnet-lite0-imagenet-224-v1"
    assert meta["backbone"]["preprocessing"]["mean"] == 127.0


def _rewrite(source: bytes, meta_change=None, weights: bytes | None = None) -> bytes:
    with zipfile.ZipFile(io.BytesIO(source)) as archive:
        meta = json.loads(archive.read("metadata.json"))
        old_weights = archive.read("weights.npz")
    if meta_change:
        meta_change(meta)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("metadata.json", json.dumps(meta))
        archive.writestr("weights.npz", old_weights if weights is None else weights)
    return out.getvalue()


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda good: good[: len(good) // 2], "not a valid zip|damaged"),
        (lambda good: b"just some text", "not a valid zip"),
        (lambda good: b"", "not a valid zip"),
        (lambda good: _rewrite(good, lambda m: m.update(format_version=99)), "newer"),
        (lambda good: _rewrite(good, lambda m: m.update(format="something-else")), "not a Teachable model"),
        (lambda good: _rewrite(good, lambda m: m["backbone"].update(id="resnet-9000")), "resnet-9000"),
        (lambda good: _rewrite(good, lambda m: m.update(labels=["only-one"])), "labels"),
        (lambda good: _rewrite(good, lambda m: m["classifier"].update(type="svm")), "classifier"),
        (lambda good: _rewrite(good, weights=b"garbage"), "weights"),
        (lambda good: _rewrite(good, weights=_npz(examples=np.array([object()], dtype=object))), "weights"),
    ],
)
def test_broken_files_get_clear_errors(trained, tmp_path, mutate, message):
    bad = tmp_path / "bad.teachable"
    bad.write_bytes(mutate(trained.to_bytes()))
    with pytest.raises(ModelFileError, match=message):
        teachable.load(bad)


def test_nan_and_wrong_shapes_are_refused(tmp_path, fewshot_train):
    model = teachable.train(teachable.Dataset.from_folder(fewshot_train), classifier="head", epochs=2)
    weights = model.classifier.state()
    nan = dict(weights, w2=np.full_like(weights["w2"], np.nan))
    wrong = dict(weights, b2=np.zeros(7, np.float32))
    for broken in (nan, wrong):
        path = tmp_path / "x.teachable"
        path.write_bytes(_rewrite(model.to_bytes(), weights=_npz(**broken)))
        with pytest.raises(ModelFileError, match="inconsistent"):
            teachable.load(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        teachable.load(tmp_path / "nope.teachable")

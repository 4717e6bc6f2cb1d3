"""The whole engine on a real few-shot task: photos -> embeddings -> classifier -> held-out views."""

import numpy as np
import pytest
from PIL import Image

import teachable
from teachable.errors import DatasetError, NotEnoughClassesError


@pytest.fixture(scope="module")
def datasets(fewshot_train, fewshot_test):
    return teachable.Dataset.from_folder(fewshot_train), teachable.Dataset.from_folder(fewshot_test)


@pytest.mark.parametrize("classifier", ["head", "knn"])
def test_few_shot_accuracy_on_held_out_views(datasets, classifier):
    train, test = datasets
    model = teachable.train(train, classifier=classifier, seed=0)
    report = model.evaluate(test)
    assert report.count == 24 and report.labels == ["astronaut", "cat", "coffee", "rocket"]
    assert report.accuracy >= 0.95, report.format()
    assert sum(map(sum, report.confusion)) == 24
    assert model.report is not None and model.report.count == 4  # one validation view per class


def test_predict_accepts_paths_bytes_pil_and_arrays(datasets, fewshot_test):
    model = teachable.train(datasets[0], classifier="knn")
    path = next((fewshot_test / "coffee").glob("*.jpg"))
    for x in (path, str(path), path.read_bytes(), Image.open(path), np.asarray(Image.open(path))):
        prediction = model.predict(x)
        assert prediction.label == "coffee"
        assert abs(sum(prediction.confidences.values()) - 1) < 1e-9
    batch = model.predict_batch([path, path])
    assert [p.label for p in batch] == ["coffee", "coffee"]


def test_training_is_reproducible(datasets):
    a = teachable.train(datasets[0], seed=3, epochs=5)
    b = teachable.train(datasets[0], seed=3, epochs=5)
    np.testing.assert_array_equal(a.classifier.weights["w2"], b.classifier.weights["w2"])


def test_non_images_are_reported_and_skipped(tmp_path, fewshot_train):
    for name in ("cat", "rocket"):
        (tmp_path / name).mkdir()
        for image in sorted((fewshot_train / name).glob("*.jpg"))[:4]:
            (tmp_path / name / image.name).write_bytes(image.read_bytes())
    (tmp_path / "cat" / "notes.txt").write_text("not a photo")
    (tmp_path / "cat" / "fake.jpg").write_text("not a photo either")
    dataset = teachable.Dataset.from_folder(tmp_path)
    assert [s.path.endswith("notes.txt") for s in dataset.skipped] == [True]
    model = teachable.train(dataset, classifier="knn")
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in dataset.skipped}
    assert "fake.jpg" in reasons and "not an image" in reasons["fake.jpg"]
    assert model.training_counts == {"cat": 4, "rocket": 4}


def test_one_class_only(tmp_path, fewshot_train):
    (tmp_path / "cat").mkdir()
    for image in sorted((fewshot_train / "cat").glob("*.jpg"))[:3]:
        (tmp_path / "cat" / image.name).write_bytes(image.read_bytes())
    with pytest.raises(NotEnoughClassesError, match="two classes"):
        teachable.train(teachable.Dataset.from_folder(tmp_path))


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="no class folders"):
        teachable.Dataset.from_folder(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        teachable.Dataset.from_folder(tmp_path / "missing")


def test_dataset_from_lists_of_in_memory_images(fewshot_train):
    paths = sorted((fewshot_train / "cat").glob("*.jpg"))[:4] + sorted((fewshot_train / "rocket").glob("*.jpg"))[:4]
    images = [Image.open(p) for p in paths]
    dataset = teachable.Dataset.from_lists(images, ["cat"] * 4 + ["rocket"] * 4)
    assert dataset.classes == ["cat", "rocket"] and dataset.counts() == {"cat": 4, "rocket": 4}
    model = teachable.train(dataset, classifier="knn", validation_split=0)
    assert model.predict(sorted((fewshot_train / "rocket").glob("*.jpg"))[-1]).label == "rocket"

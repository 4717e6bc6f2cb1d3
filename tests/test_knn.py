"""The kNN classifier against a brute-force reference written the obvious way."""

import numpy as np
import pytest

from teachable.classify.knn import KNNClassifier
from teachable.errors import NotEnoughClassesError


def reference(examples, labels, queries, k, num_classes):
    """Loop over every query and example: cosine, sort, vote, tie-break by summed similarity."""
    out_labels, out_shares = [], []
    for q in queries:
        sims = [float(np.dot(q, e) / (np.linalg.norm(q) * np.linalg.norm(e))) for e in examples]
        order = sorted(range(len(sims)), key=lambda i: -sims[i])[: min(k, len(sims))]
        votes = [0] * num_classes
        sums = [0.0] * num_classes
        for i in order:
            votes[labels[i]] += 1
            sums[labels[i]] += sims[i]
        best = max(range(num_classes), key=lambda c: (votes[c], sums[c]))
        out_labels.append(best)
        out_shares.append([v / len(order) for v in votes])
    return np.array(out_labels), np.array(out_shares)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_matches_brute_force(k):
    rng = np.random.default_rng(k)
    examples = rng.normal(size=(60, 32)).astype(np.float32)
    labels = rng.integers(0, 4, size=60)
    queries = rng.normal(size=(25, 32)).astype(np.float32)
    knn = KNNClassifier(4, k=k).fit(examples, labels)
    want_labels, want_shares = reference(examples, labels, queries, k, 4)
    np.testing.assert_array_equal(knn.predict(queries), want_labels)
    np.testing.assert_allclose(knn.predict_proba(queries), want_shares, atol=1e-9)
    assert np.allclose(knn.predict_proba(queries).sum(axis=1), 1.0)


def test_chunked_search_matches_single_pass(monkeypatch):
    rng = np.random.default_rng(0)
    examples = rng.normal(size=(500, 16)).astype(np.float32)
    labels = rng.integers(0, 5, size=500)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    whole = KNNClassifier(5, k=5).fit(examples, labels)
    expected = whole.predict_proba(queries), whole.predict(queries)
    monkeypatch.setattr("teachable.classify.knn.CHUNK", 37)
    np.testing.assert_allclose(whole.predict_proba(queries), expected[0])
    np.testing.assert_array_equal(whole.predict(queries), expected[1])


def test_incremental_add_and_remove_without_training():
    knn = KNNClassifier(2, k=1)
    knn.add(np.array([[1.0, 0.0]]), [0])
    knn.add(np.array([[0.0, 1.0]]), [1])
    assert knn.predict(np.array([[0.9, 0.2]]))[0] == 0
    knn.add(np.array([[0.95, 0.25]]), [1])
    assert knn.predict(np.array([[0.9, 0.2]]))[0] == 1  # the new example is the nearest
    knn.remove([2])
    assert knn.predict(np.array([[0.9, 0.2]]))[0] == 0


def test_k_is_capped_at_the_number_of_examples():
    knn = KNNClassifier(2, k=50).fit(np.eye(2, dtype=np.float32), [0, 1])
    shares = knn.predict_proba(np.array([[1.0, 0.1]]))
    np.testing.assert_allclose(shares, [[0.5, 0.5]])
    assert knn.predict(np.array([[1.0, 0.1]]))[0] == 0  # tie broken by similarity


def test_scale_does_not_matter_cosine():
    knn = KNNClassifier(2, k=1).fit(np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 1])
    assert knn.predict(np.array([[1000.0, 1.0]]))[0] == 0


def test_needs_two_classes():
    with pytest.raises(NotEnoughClassesError):
        KNNClassifier(2).fit(np.ones((3, 4)), [0, 0, 0])

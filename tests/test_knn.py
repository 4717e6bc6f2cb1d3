"""The kNN classifier against a brute-force reference written the obvious way."""

import math

import numpy as np
import pytest

from teachable.classify.knn import KNNClassifier
from teachable.errors import NotEnoughClassesError, TeachableError


def reference(examples, labels, queries, k, num_classes, temperature=0.0):
    """Loop over every query and example: cosine, sort, vote (weighted by exp((sim - best) /
    temperature), or one each at temperature 0), tie-break by summed similarity."""
    out_labels, out_shares = [], []
    for q in queries:
        sims = [float(np.dot(q, e) / (np.linalg.norm(q) * np.linalg.norm(e))) for e in examples]
        order = sorted(range(len(sims)), key=lambda i: -sims[i])[: min(k, len(sims))]
        votes = [0.0] * num_classes
        sums = [0.0] * num_classes
        for i in order:
            votes[labels[i]] += math.exp((sims[i] - sims[order[0]]) / temperature) if temperature else 1.0
            sums[labels[i]] += sims[i]
        total = sum(votes)
        top = max(votes)
        best = max((c for c in range(num_classes) if votes[c] >= top - 1e-9), key=lambda c: sums[c])
        out_labels.append(best)
        out_shares.append([v / total for v in votes])
    return np.array(out_labels), np.array(out_shares)


@pytest.mark.parametrize("temperature", [0.0, 0.02, 0.2])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_matches_brute_force(k, temperature):
    rng = np.random.default_rng(k)
    examples = rng.normal(size=(60, 32)).astype(np.float32)
    labels = rng.integers(0, 4, size=60)
    queries = rng.normal(size=(25, 32)).astype(np.float32)
    knn = KNNClassifier(4, k=k, temperature=temperature).fit(examples, labels)
    want_labels, want_shares = reference(examples, labels, queries, k, 4, temperature)
    np.testing.assert_array_equal(knn.predict(queries), want_labels)
    # float32 similarities, weighted by exp(sim / 0.02): shares agree to ~1e-6.
    np.testing.assert_allclose(knn.predict_proba(queries), want_shares, atol=1e-5)
    assert np.allclose(knn.predict_proba(queries).sum(axis=1), 1.0)


def test_chunked_search_matches_single_pass(monkeypatch):
    rng = np.random.default_rng(0)
    examples = rng.normal(size=(500, 16)).astype(np.float32)
    labels = rng.integers(0, 5, size=500)
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    whole = KNNClassifier(5, k=5).fit(examples, labels)
    expected = whole.predict_proba(queries), whole.predict(queries)
    monkeypatch.setattr("teachable.classify.knn.CHUNK", 37)
    np.testing.assert_allclose(whole.predict_proba(queries), expected[0], atol=1e-6)
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
    knn = KNNClassifier(2, k=50, temperature=0).fit(np.eye(2, dtype=np.float32), [0, 1])
    shares = knn.predict_proba(np.array([[1.0, 0.1]]))
    np.testing.assert_allclose(shares, [[0.5, 0.5]])
    assert knn.predict(np.array([[1.0, 0.1]]))[0] == 0  # tie broken by similarity


def test_scale_does_not_matter_cosine():
    knn = KNNClassifier(2, k=1).fit(np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 1])
    assert knn.predict(np.array([[1000.0, 1.0]]))[0] == 0


def test_needs_two_classes():
    with pytest.raises(NotEnoughClassesError):
        KNNClassifier(2).fit(np.ones((3, 4)), [0, 0, 0])


def _normalised(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("signed", [False, True])
def test_int8_error_bounds_hold(signed):
    from teachable.classify.int8_search import Int8Index

    rng = np.random.default_rng(7)
    centres = rng.gamma(1.0, 0.5, size=(6, 256))
    draw = lambda n: centres[rng.integers(0, 6, n)] + rng.normal(0, 0.4, (n, 256))  # noqa: E731
    examples, queries = draw(3000), draw(40)
    if not signed:
        examples, queries = np.abs(examples), np.abs(queries)
    examples, queries = _normalised(examples), _normalised(queries)
    scores, bound = Int8Index(examples).approximate(queries)
    error = np.abs(scores - queries @ examples.T)
    assert (error <= bound).all()
    assert error.max() > 0  # the int8 scores really are approximate


def test_int8_index_finds_the_exact_neighbours_of_photo_embeddings(backbone, tmp_path, monkeypatch):
    import teachable.classify.knn as knn_module
    from photos import write_views

    from teachable.classify import int8_search
    from teachable.classify.int8_search import Int8Index

    paths = sorted(write_views(tmp_path, per_class=24, seed=5).rglob("*.jpg"))
    labels = [p.parent.name for p in paths]
    classes = sorted(set(labels))
    vectors = backbone.embed(paths)
    held_out = np.arange(len(paths)) % 6 == 0
    examples, queries = vectors[~held_out], vectors[held_out]
    y = np.array([classes.index(c) for c in labels])[~held_out]

    scores, bound = Int8Index(_normalised(examples)).approximate(_normalised(queries))
    kth_lower = np.sort(scores - bound, axis=1)[:, -3]
    rescored = (scores + bound >= kth_lower[:, None]).mean(axis=1)
    assert np.median(rescored) < 0.5  # the bounds rule out most photos of other subjects

    # Rescore however many candidates there are, so the pruned search answers every query.
    monkeypatch.setattr(int8_search, "MAX_RESCORE_FRACTION", 1.0)
    monkeypatch.setattr(knn_module, "INDEX_MIN_EXAMPLES", 10)
    knn = KNNClassifier(len(classes), k=3).fit(examples, y)
    knn.prepare_index()
    for q in queries:
        got_idx, got_sim = knn._top_k(knn._normalise(q), 3)
        want_idx, want_sim = knn._full_top_k(knn._normalise(q), 3)
        assert set(got_idx[0]) == set(want_idx[0])
        np.testing.assert_allclose(np.sort(got_sim[0]), np.sort(want_sim[0]), atol=1e-5)
    assert knn._index is not None and knn._index[1] is not None
    want_labels, want_shares = reference(examples, y, queries, 3, len(classes), knn.temperature)
    np.testing.assert_array_equal(knn.predict(queries), want_labels)
    np.testing.assert_allclose(knn.predict_proba(queries), want_shares, atol=1e-5)


def test_index_steps_aside_where_bounds_cannot_prune(monkeypatch):
    """Vectors that all point almost the same way look alike to the int8 bounds: answers stay
    exact, and the index pauses."""
    import teachable.classify.knn as knn_module

    monkeypatch.setattr(knn_module, "INDEX_MIN_EXAMPLES", 100)
    rng = np.random.default_rng(3)
    examples = (1 + 0.05 * rng.normal(size=(2000, 256))).astype(np.float32)
    labels = rng.integers(0, 3, 2000)
    queries = (1 + 0.05 * rng.normal(size=(12, 256))).astype(np.float32)
    knn = KNNClassifier(3, k=3).fit(examples, labels)
    knn.prepare_index()
    got = [knn.predict_proba(q[None])[0] for q in queries]
    _, want = reference(examples, labels, queries, 3, 3, knn.temperature)
    np.testing.assert_allclose(np.array(got), want, atol=1e-5)
    assert knn._index_misses >= knn_module.INDEX_MISSES_TO_PAUSE


def test_models_saved_before_weighted_votes_keep_equal_votes():
    rng = np.random.default_rng(4)
    examples, labels = rng.normal(size=(40, 16)).astype(np.float32), rng.integers(0, 3, 40)
    state = KNNClassifier(3, k=5).fit(examples, labels).state()
    old = KNNClassifier.from_state(3, {"k": 5}, state)  # params as older versions wrote them
    assert old.temperature == 0.0
    queries = rng.normal(size=(10, 16)).astype(np.float32)
    np.testing.assert_allclose(old.predict_proba(queries), reference(examples, labels, queries, 5, 3)[1], atol=1e-6)
    new = KNNClassifier.from_state(3, KNNClassifier(3, k=5).params(), state)
    assert new.temperature == pytest.approx(0.02)
    with pytest.raises(TeachableError):
        KNNClassifier(3, temperature=-1.0)

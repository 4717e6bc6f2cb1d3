"""The trained head: reproducible, reports every epoch, handles small and unbalanced classes."""

import numpy as np
import pytest

from teachable.classify.head import HeadClassifier, stratified_split
from teachable.errors import NotEnoughClassesError


def blobs(counts, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), dim)) * 3
    x = np.concatenate([centres[c] + rng.normal(size=(n, dim)) for c, n in enumerate(counts)]).astype(np.float32)
    y = np.concatenate([[c] * n for c, n in enumerate(counts)])
    return x, y


def test_same_seed_same_weights_and_history():
    x, y = blobs([30, 30, 30])
    a, b = HeadClassifier(3, epochs=5, seed=7), HeadClassifier(3, epochs=5, seed=7)
    ha = a.fit(x, y).history
    hb = b.fit(x, y).history
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
    assert [h.loss for h in ha] == [h.loss for h in hb]
    c = HeadClassifier(3, epochs=5, seed=8)
    c.fit(x, y)
    assert not np.array_equal(a.weights["w1"], c.weights["w1"])


def test_epoch_callback_and_learning():
    x, y = blobs([40, 40])
    seen = []
    history = HeadClassifier(2, epochs=8).fit(x, y, validation=(x[:10], y[:10]), on_epoch=seen.append).history
    assert [s.epoch for s in seen] == list(range(1, 9)) and seen == history
    assert seen[-1].loss < seen[0].loss
    assert seen[-1].accuracy > 0.95 and seen[-1].val_accuracy is not None


def test_probabilities_sum_to_one():
    x, y = blobs([20, 20, 20])
    head = HeadClassifier(3, epochs=3)
    head.fit(x, y)
    p = head.predict_proba(x)
    assert p.shape == (60, 3) and np.allclose(p.sum(axis=1), 1)


def test_minority_class_is_not_drowned():
    x, y = blobs([200, 8], seed=3)
    head = HeadClassifier(2, epochs=20)
    head.fit(x, y)
    rare = head.predict(x[y == 1])
    assert (rare == 1).mean() >= 0.75


def test_stratified_split_keeps_every_class():
    y = np.array([0] * 20 + [1] * 40 + [2] * 7)
    split = stratified_split(y, 0.15, seed=0)
    assert split.note is None
    assert sorted(np.bincount(y[split.validation])) == [1, 3, 6]
    assert len(np.intersect1d(split.train, split.validation)) == 0
    assert len(split.train) + len(split.validation) == len(y)


def test_split_skipped_with_a_note_when_a_class_is_tiny():
    y = np.array([0] * 20 + [1] * 2)
    split = stratified_split(y, 0.15, seed=0, names=["big", "tiny"])
    assert len(split.validation) == 0 and "tiny" in split.note


def test_one_class_is_refused():
    x, y = blobs([10])
    with pytest.raises(NotEnoughClassesError):
        HeadClassifier(1).fit(x, y)


def test_hand_written_training_step_matches_autograd_and_torch_adam():
    """The head's NumPy epoch (gradients written out, Adam of its own) must train exactly as
    PyTorch's autograd with torch.optim.Adam and a class-weighted CrossEntropyLoss would (where
    PyTorch is installed: it is only the reference here)."""
    torch = pytest.importorskip("torch")

    from teachable.classify.head import Adam, _epoch

    torch.manual_seed(0)
    x, y = torch.randn(40, 1280), torch.randint(0, 5, (40,))
    weight = torch.rand(5) + 0.5
    net = torch.nn.Sequential(torch.nn.Linear(1280, 100), torch.nn.ReLU(), torch.nn.Linear(100, 5))
    ours = [net[0].weight.detach().numpy().T.copy(), net[0].bias.detach().numpy().copy(),
            net[2].weight.detach().numpy().T.copy(), net[2].bias.detach().numpy().copy()]
    order = torch.from_numpy(np.random.default_rng(3).permutation(40))  # the order _epoch draws from that seed
    optimiser, loss_fn, total = torch.optim.Adam(net.parameters(), lr=1e-2), torch.nn.CrossEntropyLoss(weight=weight), 0.0
    for start in range(0, 40, 16):
        idx = order[start : start + 16]
        loss = loss_fn(net(x[idx]), y[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(idx)
    adam = Adam(ours, 1e-2)
    ours = adam.params
    stats = _epoch(ours, adam, weight.numpy(), x.numpy(), y.numpy(), None, None, 16, np.random.default_rng(3), 1, 1)
    assert abs(stats.loss - total / 40) < 1e-5
    references = [net[0].weight.detach().numpy().T, net[0].bias.detach().numpy(),
                  net[2].weight.detach().numpy().T, net[2].bias.detach().numpy()]
    for mine, reference in zip(ours, references):
        # 1e-5: float rounding differs by CPU (2.5e-6 seen on an AVX-512 Xeon); a wrong step is ~1e-2.
        np.testing.assert_allclose(mine, reference, atol=1e-5)

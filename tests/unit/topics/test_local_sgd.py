"""Unit tests of relubook.local_sgd: data, model, the step function, the simulation."""

import numpy as np
import pytest
import torch

from relubook.core.data import digits_sphere
from relubook.topics import local_sgd as ls

F64 = torch.float64


@pytest.fixture(scope="module")
def data():
    X, Y = digits_sphere(64, F64)
    return X, Y


def small(param="ntk", m=16, seed=0, dtype=F64):
    sizes = ls.layer_sizes(64, m, 10)
    return sizes, ls.scales(sizes, param), ls.init_params(sizes, (), param, seed, dtype)


def test_digits_unit_norm_and_onehot(data):
    X, Y = data
    assert X.shape == (64, 64) and Y.shape == (64, 10)
    assert torch.allclose(X.norm(dim=1), torch.ones(64, dtype=F64), atol=1e-12)
    assert torch.equal(Y.sum(1), torch.ones(64, dtype=F64))
    assert ls.separation(X) > 0
    with pytest.raises(ValueError, match="n must be"):
        digits_sphere(5)


def test_shard_iid_is_a_partition_and_sorted_groups_labels(data):
    X, Y = data
    Xs, Ys = ls.shard(X, Y, 4, "iid", seed=3)
    assert Xs.shape == (4, 16, 64) and Ys.shape == (4, 16, 10)
    rows = sorted(map(tuple, Xs.reshape(64, 64).tolist()))
    assert rows == sorted(map(tuple, X.tolist()))
    _, Yo = ls.shard(X, Y, 4, "sorted")
    lab = Yo.argmax(-1).reshape(-1)
    assert torch.all(lab[1:] >= lab[:-1])
    with pytest.raises(ValueError, match="dividing"):
        ls.shard(X, Y, 5)
    with pytest.raises(ValueError, match="valid: iid, sorted"):
        ls.shard(X, Y, 4, "random")


def test_parameterisations_agree_at_init_and_bad_name(data):
    X, _ = data
    s, a, W = small("ntk")
    _, b, V = small("standard")
    assert b == [1.0, 1.0, 1.0] and a[-1] == pytest.approx(1 / 4)
    assert torch.allclose(ls.forward(W, a, X), ls.forward(V, b, X), atol=1e-12)
    with pytest.raises(ValueError, match="valid: ntk, standard"):
        ls.scales(s, "mup")
    with pytest.raises(ValueError, match="depth"):
        ls.layer_sizes(64, 16, 10, depth=1)


@pytest.mark.parametrize("param", ["ntk", "standard"])
def test_explicit_backprop_equals_autograd(data, param):
    X, Y = data
    _, a, W = small(param, seed=1)
    Wr = [w.clone().requires_grad_() for w in W]
    r = ls.forward(Wr, a, X) - Y
    (0.5 * (r * r).sum() / X.shape[0]).backward()
    W1 = [w.clone() for w in W]
    loss = ls.local_step(W1, a, X, Y, 1.0)         # W1 = W - grad
    assert float(loss) == pytest.approx(float(0.5 * (r * r).detach().sum() / 64), abs=1e-14)
    for w0, w1, w in zip(W, W1, Wr):
        assert torch.allclose(w0 - w1, w.grad, atol=1e-13, rtol=0)


def test_H1_local_gd_equals_centralised_gd_exactly(data):
    X, Y = data
    sizes, a, W0 = small(m=32)
    Xs, Ys = ls.shard(X, Y, 4)
    W = ls.init_groups(sizes, [0], 4, dtype=F64)
    ls.simulate(W, a, Xs[None], Ys[None], lr=20.0, H=1, T=20, track=False)
    Wc = ls.centralised_gd(W0, a, X, Y, 20.0, 20)
    assert max(float((w[0, 0] - c).abs().max()) for w, c in zip(W, Wc)) < 1e-12


def test_single_worker_any_H_is_gd_on_its_shard(data):
    X, Y = data
    sizes, a, W0 = small()
    W = ls.init_groups(sizes, [0], 1, dtype=F64)
    h = ls.simulate(W, a, X[None, None], Y[None, None], lr=5.0, H=5, T=10)
    Wc = ls.centralised_gd(W0, a, X, Y, 5.0, 10)
    assert max(float((w[0, 0] - c).abs().max()) for w, c in zip(W, Wc)) < 1e-13
    assert h.max_drift()[0] == 0 and h.max_disagreement()[0] == 0
    assert len(h.loss[0]) == 3 and h.loss[0][-1] < h.loss[0][0]


def test_batched_groups_equal_separate_runs(data):
    X, Y = data
    sizes, a, _ = small()
    Xs, Ys = ls.shard(X, Y, 4)
    W = ls.init_groups(sizes, [0, 1], 4, dtype=F64)
    h = ls.simulate(W, a, Xs[None], Ys[None], lr=10.0, H=[1, 4], T=8)
    for g, (seed, H) in enumerate([(0, 1), (1, 4)]):
        V = ls.init_groups(sizes, [seed], 4, dtype=F64)
        hv = ls.simulate(V, a, Xs[None], Ys[None], lr=10.0, H=H, T=8)
        assert max(float((w[g] - v[0]).abs().max()) for w, v in zip(W, V)) < 1e-13
        assert np.allclose(h.loss[g], hv.loss[0], atol=1e-14, rtol=0)
        assert np.allclose(h.drift[g], hv.drift[0], atol=1e-14, rtol=0)
    assert len(h.loss[0]) == 9 and len(h.loss[1]) == 3


def test_vmap_route_equals_simulation(data):
    X, Y = data
    sizes, a, W0 = small()
    Xs, Ys = ls.shard(X, Y, 4, seed=2)
    W = ls.init_groups(sizes, [0], 4, dtype=F64)
    ls.simulate(W, a, Xs[None], Ys[None], lr=10.0, H=3, T=9, track=False)
    V = ls.vmap_local_gd([w.expand(4, *w.shape).clone() for w in W0], a, Xs, Ys, lr=10.0, H=3, T=9)
    assert max(float((w[0] - v).abs().max()) for w, v in zip(W, V)) < 1e-12


def test_full_minibatch_sgd_equals_gd(data):
    X, Y = data
    sizes, a, _ = small()
    Xs, Ys = ls.shard(X, Y, 4)
    W = ls.init_groups(sizes, [0], 4, dtype=F64)
    V = ls.init_groups(sizes, [0], 4, dtype=F64)
    ls.simulate(W, a, Xs[None], Ys[None], lr=10.0, H=2, T=6, track=False)
    ls.simulate(V, a, Xs[None], Ys[None], lr=10.0, H=2, T=6, batch=16, seeds=[7], track=False)
    assert max(float((w - v).abs().max()) for w, v in zip(W, V)) < 1e-12


def test_minibatch_indices():
    i = ls.minibatch_indices(16, 4, 5, seed=1, worker=2)
    assert i.shape == (5, 4) and all(len(set(r)) == 4 for r in i.tolist())
    assert np.array_equal(i, ls.minibatch_indices(16, 4, 5, seed=1, worker=2))
    assert not np.array_equal(i, ls.minibatch_indices(16, 4, 5, seed=1, worker=3))
    with pytest.raises(ValueError, match="batch"):
        ls.minibatch_indices(16, 17, 5, 0, 0)


def test_averaging_subset_and_diagnostics(data):
    X, _ = data
    sizes, a, _ = small()
    W = [w + torch.randn(w.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
         for w in ls.init_groups(sizes, [0, 1], 3, dtype=F64)]
    Xs = X[:48].reshape(1, 3, 16, 64).expand(2, 3, 16, 64)
    assert torch.all(ls.drift(W) > 0) and torch.all(ls.pattern_disagreement(W, a, Xs) > 0)
    before = [w[0].clone() for w in W]
    ls.average_(W, torch.tensor([1]))
    assert all(torch.equal(w[0], b) for w, b in zip(W, before))
    d = ls.drift(W)
    assert d[0] > 0 and d[1] == 0 and ls.pattern_disagreement(W, a, Xs)[1] == 0


def test_simulate_rejects_bad_H_and_shapes(data):
    X, Y = data
    sizes, a, _ = small()
    W = ls.init_groups(sizes, [0], 4, dtype=F64)
    Xs, Ys = ls.shard(X, Y, 4)
    with pytest.raises(ValueError, match="divisor"):
        ls.simulate(W, a, Xs[None], Ys[None], lr=1.0, H=3, T=8)
    with pytest.raises(ValueError, match="must be"):
        ls.simulate(W, a, Xs, Ys, lr=1.0, H=2, T=8)


def test_sweep_labels_groups_and_matches_simulate(data):
    X, Y = data
    h = ls.sweep(X, Y, width=16, Hs=[1, 2], seeds=[3, 4], T=4, lr=5.0)
    assert h.H == [1, 2, 1, 2] and h.seed == [3, 3, 4, 4] and h.pick(2) == [1, 3]
    sizes = ls.layer_sizes(64, 16, 10)
    Xs, Ys = ls.shard(X, Y, 4, "iid", 4)
    W = ls.init_groups(sizes, [4], 4, dtype=F64)
    ref = ls.simulate(W, ls.scales(sizes), Xs[None], Ys[None], lr=5.0, H=2, T=4)
    assert np.allclose(h.loss[3], ref.loss[0], atol=1e-14, rtol=0)
    with pytest.raises(ValueError, match="no group ran"):
        h.pick(8)

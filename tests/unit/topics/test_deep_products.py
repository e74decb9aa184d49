"""Unit tests of relubook.deep_products: the explicit form, closed forms and the tail bound."""

import numpy as np
import pytest

from relubook.topics import deep_products as dp


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def random_net(rng, n=12, m=5):
    W = rng.standard_normal((n, m, m)) * np.sqrt(2.0 / m)
    b = 0.1 * rng.standard_normal((n, m))
    return W, b


def test_forward_matches_naive_loop(rng):
    W, b = random_net(rng)
    x = rng.standard_normal((7, 5))
    y = dp.forward(W, b, x)
    for i in range(7):
        v = x[i]
        for k in range(len(W)):
            v = np.maximum(W[k] @ v + b[k], 0)
        np.testing.assert_allclose(y[i], v, rtol=0, atol=1e-13)


def test_affine_form_equals_forward(rng):
    W, b = random_net(rng)
    x = rng.standard_normal((50, 5))
    y, pats = dp.forward(W, b, x, return_patterns=True)
    assert pats.shape == (50, 12, 5) and pats.dtype == bool
    A, c = dp.affine_form(W, b, pats)
    assert np.max(np.abs(np.einsum("nij,nj->ni", A, x) + c - y)) < 1e-12


def test_affine_form_explicit_sum_small_case():
    # two layers by hand: N = D2 W2 D1 W1 x + D2 W2 D1 b1 + D2 b2
    W = np.array([[[1.0, -1.0], [2.0, 0.5]], [[0.5, 1.0], [-1.0, 1.0]]])
    b = np.array([[0.1, -0.2], [0.3, 0.0]])
    d = np.array([[[1, 0], [0, 1]]], dtype=bool)
    A, c = dp.affine_form(W, b, d)
    D1, D2 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    np.testing.assert_allclose(A[0], D2 @ W[1] @ D1 @ W[0], atol=1e-15)
    np.testing.assert_allclose(c[0], D2 @ W[1] @ D1 @ b[0] + D2 @ b[1], atol=1e-15)


def test_augmented_product_and_pattern_ids(rng):
    W, b = random_net(rng, n=6, m=3)
    x = rng.standard_normal((20, 3))
    y, pats = dp.forward(W, b, x, return_patterns=True)
    aug = dp.augmented(W, b, pats)
    z = np.concatenate([x, np.ones((20, 1))], 1)[:, :, None]
    for k in range(6):
        z = aug[:, k] @ z
    np.testing.assert_allclose(z[:, :3, 0], y, atol=1e-13)
    np.testing.assert_array_equal(z[:, 3, 0], 1.0)
    ids = dp.pattern_ids(pats)
    assert ids.shape == (20,)
    same = (pats[:, None] == pats[None]).all(axis=(2, 3))
    np.testing.assert_array_equal(same, ids[:, None] == ids[None])


def test_diagonal_trajectory_closed_forms():
    n = 1000
    k = np.arange(1, n + 1, dtype=float)
    w = np.ones((n, 2))
    b = np.zeros((n, 2))
    w[1:, 0] = 1 + 1 / k[1:]           # product (n+1)/2
    b[1:, 1] = 1 / k[1:]               # H_n - 1
    x = np.array([[2.0, 0.5], [-1.0, -1.0]])
    out = dp.diagonal_trajectory(w, b, x, [1, 10, n])
    np.testing.assert_allclose(out[:, 0, 0], 2.0 * (np.array([1, 10, n]) + 1) / 2, rtol=1e-12)
    np.testing.assert_array_equal(out[:, 1, 0], 0.0)
    H = np.cumsum(1 / k)
    np.testing.assert_allclose(out[:, 0, 1], 0.5 + H[[0, 9, n - 1]] - 1, rtol=1e-12)


def test_perturbed_identity_matches_explicit_network():
    m, L = 3, 40
    x = np.random.default_rng(0).standard_normal((4, m))
    ps = [1.0, 2.0]
    ys, g_norm, gb_norm, y1 = dp.perturbed_identity(ps, m, L, x, seeds=[5], checkpoints=[1, 7, L],
                                                    base_seed=2)
    r = np.random.default_rng(np.random.SeedSequence(2, spawn_key=(5,)))   # numpy_rng(2, 5)
    G, g = [], []
    for _ in range(L):
        G.append(r.standard_normal((m, m)))
        g.append(r.standard_normal(m))
    G, g = np.array(G), np.array(g)
    k = np.arange(1, L + 1, dtype=float)
    np.testing.assert_allclose(g_norm[0], np.linalg.norm(G, 2, axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(gb_norm[0], np.linalg.norm(g, axis=1), rtol=1e-12)
    for i, p in enumerate(ps):
        s = 1 / (np.sqrt(m) * k**p)
        W, b = np.eye(m) + G * s[:, None, None], g * s[:, None]
        for j, depth in enumerate([1, 7, L]):
            np.testing.assert_allclose(ys[i, 0, j], dp.forward(W[:depth], b[:depth], x), atol=1e-13)
        np.testing.assert_allclose(y1[i, 0], np.linalg.norm(dp.forward(W[:1], b[:1], x), axis=1))


def test_tail_bound_holds_and_matches_formula(rng):
    m, L = 4, 200
    k = np.arange(1, L + 1, dtype=float)
    G = rng.standard_normal((L, m, m))
    g = rng.standard_normal((L, m))
    W = np.eye(m) + G / (2 * k[:, None, None] ** 1.5)
    b = g / (2 * k[:, None] ** 1.5)
    x = rng.standard_normal((6, m))
    a = np.linalg.norm(W - np.eye(m), 2, axis=(1, 2))
    beta = np.linalg.norm(b, axis=1)
    y1 = np.linalg.norm(dp.forward(W[:1], b[:1], x), axis=1)
    ns = [1, 5, 50, 199]
    bd = dp.tail_bound(a, beta, y1, ns)
    assert bd.shape == (6, 4)
    M = np.exp(a[1:].sum()) * (y1 + beta[1:].sum())
    np.testing.assert_allclose(bd[:, 2], M * a[50:].sum() + beta[50:].sum(), rtol=1e-12)
    yL = dp.forward(W, b, x)
    for j, n in enumerate(ns):
        assert np.all(np.linalg.norm(yL - dp.forward(W[:n], b[:n], x), axis=1) <= bd[:, j])
    assert np.all(dp.tail_bound(a, beta, y1, [L]) == 0)


def test_identify_layer_recovers_weights(rng):
    m = 3
    Wn = np.eye(m) + 0.01 * rng.standard_normal((m, m))
    bn = 0.01 * rng.standard_normal(m)
    Y = 2 + rng.random((m + 1, m))               # positive, affinely independent
    Yn = Y @ Wn.T + bn
    D, bb, smin = dp.identify_layer(Y, Yn)
    np.testing.assert_allclose(D, Wn - np.eye(m), atol=1e-12)
    np.testing.assert_allclose(bb, bn, atol=1e-12)
    assert smin > 0
    # a degenerate set of limits (all on a line) has sigma_min ~ 0
    line = np.outer(np.arange(m + 1.0), np.ones(m))
    assert dp.identify_layer(line, line)[2] < 1e-12


@pytest.mark.parametrize("call", [
    lambda: dp.forward(np.zeros((2, 3, 4)), np.zeros((2, 3)), np.zeros((1, 3))),
    lambda: dp.forward(np.zeros((2, 3, 3)), np.zeros((2, 4)), np.zeros((1, 3))),
    lambda: dp.forward(np.zeros((2, 3, 3)), np.zeros((2, 3)), np.zeros((1, 4))),
    lambda: dp.affine_form(np.zeros((2, 3, 3)), np.zeros((2, 3)), np.zeros((1, 3, 3), bool)),
    lambda: dp.diagonal_trajectory(np.ones((5, 2)), np.zeros((5, 2)), np.ones((1, 2)), [0]),
    lambda: dp.diagonal_trajectory(np.ones((5, 2)), np.zeros((5, 2)), np.ones((1, 2)), [6]),
    lambda: dp.perturbed_identity([], 2, 4, np.ones((1, 2)), [0], [1]),
    lambda: dp.tail_bound(np.ones(3), np.ones(4), np.ones(1), [1]),
    lambda: dp.identify_layer(np.ones((2, 2)), np.ones((2, 2))),
])
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


def test_divergence_is_reported_as_inf_not_nan():
    """W_k = 1.05 I overflows float64 long before depth 1e5: the output is inf (inf * 0 = 0 for
    the exact zeros off the diagonal), and a coordinate that ReLU zeroes stays 0."""
    n = 100_000
    W = np.broadcast_to(1.05 * np.eye(2), (n, 2, 2))
    with np.errstate(over="ignore"):
        y = dp.forward(W, np.zeros((n, 2)), np.array([[1.0, 2.0], [-1.0, 1.0]]))
    assert not np.isnan(y).any()
    assert np.isinf(y[0]).all() and y[1, 0] == 0.0 and np.isinf(y[1, 1])

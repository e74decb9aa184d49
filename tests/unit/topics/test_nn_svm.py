"""Unit tests of relubook.topics.nn_svm: the batched networks, the subgradient step against
autograd, the empirical NTK, the primal/dual identity, the bound and the certificates."""

import math

import numpy as np
import pytest
import torch
from relubook.core.ntk import jacobian, relu_ntk
from relubook.core.random import numpy_rng
from relubook.topics import nn_svm as T

D = torch.float64


def _net(widths, d, S=2, seed=0):
    return T.init_networks(widths, d, [numpy_rng(seed, s) for s in range(S)], D)


def _direct(W, a, X):
    """f(x) = m^-1/2 sum_r a_r relu(w_r . x / sqrt d) for one network, written out."""
    m, d = W.shape
    return np.array([sum(a[r] * max(W[r] @ x / math.sqrt(d), 0.0) for r in range(m))
                     for x in X]) / math.sqrt(m)


def test_two_gaussians():
    X, y, u = T.two_gaussians(20000, 5, 3.0, numpy_rng(0))
    assert X.shape == (20000, 5) and set(np.unique(y)) == {-1.0, 1.0}
    assert abs(np.linalg.norm(u) - 1) < 1e-12 and abs(y.mean()) < 0.03
    # class means at +-1.5 u, unit covariance
    assert np.allclose(X[y > 0].mean(0), 1.5 * u, atol=0.05)
    assert np.allclose(np.cov(X[y < 0].T), np.eye(5), atol=0.06)
    _, _, u2 = T.two_gaussians(10, 5, 3.0, numpy_rng(1), u)
    assert u2 is u


def test_forward_against_the_formula_and_widths_are_separate():
    widths, d = [3, 5, 4], 2
    W, a = _net(widths, d)
    X = torch.as_tensor(numpy_rng(3).standard_normal((2, 6, d)))
    out = T.forward(W, a, X, widths, chunk=2)
    assert out.shape == (2, 6, 3)
    start = 0
    for k, m in enumerate(widths):
        for s in range(2):
            want = _direct(W[s, start:start + m].numpy(), a[s, start:start + m].numpy(),
                           X[s].numpy())
            assert np.allclose(out[s, :, k].numpy(), want, atol=1e-13)
        start += m
    # shared inputs broadcast over the seeds; the chunk size changes nothing
    assert torch.allclose(T.forward(W, a, X[0], widths), T.forward(W, a, X[0].expand(2, -1, -1),
                                                                  widths, chunk=7), atol=1e-14)


def _objective(W, a, W0, a0, X, y, widths, lam):
    g = T.forward(W, a, X, widths) - T.forward(W0, a0, X, widths)
    hinge = torch.clamp(1 - y[..., None] * g, min=0).mean(1).sum()
    return hinge + lam / 2 * (((W - W0) ** 2).sum() + ((a - a0) ** 2).sum())


def test_subgradient_step_is_the_autograd_gradient():
    widths, d, n = [4, 6], 3, 9
    W0, a0 = _net(widths, d, seed=1)
    W, a = _net(widths, d, seed=2)          # far from the start: some margins exceed 1
    X = torch.as_tensor(numpy_rng(5).standard_normal((2, n, d)))
    y = torch.as_tensor(numpy_rng(6).choice([-1.0, 1.0], (2, n)))
    f0 = T.forward(W0, a0, X, widths)
    lr, lam = 0.3, 0.05
    W1, a1, active = T.subgradient_step(W, a, W0, a0, X, y, f0, widths, lr, lam, chunk=3)
    Wg, ag = W.clone().requires_grad_(True), a.clone().requires_grad_(True)
    _objective(Wg, ag, W0, a0, X, y, widths, lam).backward()
    assert torch.allclose(W1, W - lr * Wg.grad, atol=1e-13)
    assert torch.allclose(a1, a - lr * ag.grad, atol=1e-13)
    g = T.forward(W, a, X, widths) - f0
    assert torch.equal(active, (y[..., None] * g < 1).to(D))
    assert 0 < active.mean() < 1          # both hinge branches are exercised


def test_train_networks_calls_back_every_step():
    widths, d = [4], 2
    W0, a0 = _net(widths, d, S=1)
    X = torch.as_tensor(numpy_rng(7).standard_normal((1, 5, d)))
    y = torch.as_tensor([[1.0, -1.0, 1.0, 1.0, -1.0]])
    seen = []
    W, _ = T.train_networks(W0, a0, X, y, widths, lr=0.1, lam=0.0, steps=3,
                            on_step=lambda t, W, a: seen.append(t))
    assert seen == [0, 1, 2, 3] and not torch.equal(W, W0)
    # no steps: the initial weights
    W2, a2 = T.train_networks(W0, a0, X, y, widths, lr=0.1, lam=0.0, steps=0)
    assert torch.equal(W2, W0) and torch.equal(a2, a0)


def test_network_jacobian_matches_torch_func_and_ntk_is_its_gram():
    m, d = 7, 3
    W, a = (t[0] for t in _net([m], d, S=1, seed=2))
    X = torch.as_tensor(numpy_rng(8).standard_normal((5, d)))

    def f(p, x):
        return torch.relu(x @ p["W"].T / math.sqrt(d)) @ p["a"] / math.sqrt(m)

    J = T.network_jacobian(W, a, X)
    assert torch.allclose(J, jacobian(f, {"W": W, "a": a}, X), atol=1e-14)
    Z = torch.as_tensor(numpy_rng(9).standard_normal((4, d)))
    K = T.empirical_ntk(W[None], a[None], X, Z, [m], chunk=3)[0, 0]
    assert torch.allclose(K, J @ T.network_jacobian(W, a, Z).T, atol=1e-13)


def test_empirical_ntk_tends_to_the_closed_form():
    d = 4
    W, a = _net([50_000], d, S=1, seed=3)
    X = numpy_rng(10).standard_normal((5, d))
    K = T.empirical_ntk(W, a, torch.as_tensor(X), torch.as_tensor(X), [50_000], chunk=4096)
    assert np.allclose(K[0, 0].numpy(), relu_ntk(X, X, False), rtol=0.03, atol=0.03)


def test_km_train_one_step_and_broadcast():
    K = np.array([[2.0, 0.5], [0.5, 1.0]])
    y = np.array([1.0, -1.0])
    a1 = T.km_train(K, y, lr=0.5, lam=0.1, steps=1)
    assert np.allclose(a1, 0.5 / 2 * y)                        # g = 0: every margin active
    a2 = T.km_train(K, y, lr=0.5, lam=0.1, steps=2)
    g = K @ a1
    assert np.allclose(a2, (1 - 0.05) * a1 + 0.25 * (y * g < 1) * y)
    stack = T.km_train(np.stack([K, 2 * K]), y, lr=0.5, lam=0.1, steps=4)
    assert stack.shape == (2, 2)
    assert np.allclose(stack[1], T.km_train(2 * K, y, lr=0.5, lam=0.1, steps=4))


def test_linearised_network_is_the_kernel_machine():
    m, d, n = 64, 3, 12
    W, a = (t[0] for t in _net([m], d, S=1, seed=4))
    X = torch.as_tensor(numpy_rng(11).standard_normal((n + 6, d)))
    y = torch.as_tensor(numpy_rng(12).choice([-1.0, 1.0], n))
    J = T.network_jacobian(W, a, X)
    out = T.linearised_vs_km(J[:n], J[n:], y, lr=0.5, lam=0.01, steps=200)
    assert out["max_rel"] < 1e-12 and out["flips"] == 0
    # the dual side alone is km_train with K = J J^T
    alpha = T.km_train((J[:n] @ J[:n].T).numpy(), y.numpy(), lr=0.5, lam=0.01, steps=200)
    assert np.allclose(out["g_dual"].numpy(), (J[n:] @ J[:n].T).numpy() @ alpha, atol=1e-10)


def test_relative_deviation():
    assert T.relative_deviation(np.array([1.0, 2.5]), np.array([1.0, 2.0])) == pytest.approx(0.25)
    r = T.relative_deviation(np.ones((3, 4)), np.full(4, 2.0))
    assert r.shape == (3,) and np.allclose(r, 0.5)


def test_bound_terms_by_hand():
    K = np.array([[1.0, 0.0], [0.0, 4.0]])
    alpha = np.array([0.5, -0.25])
    y = np.array([1.0, -1.0])
    out = T.bound_terms(alpha, K, y, 0.05)
    # g = (0.5, -1): hinge (0.5 + 0) / 2; a^T K a = 0.25 + 0.25; tr K = 5
    assert out["hinge"] == pytest.approx(0.25)
    assert out["complexity"] == pytest.approx(2 / 2 * math.sqrt(0.5) * math.sqrt(5))
    assert out["confidence"] == pytest.approx(3 * math.sqrt(math.log(40) / 4))
    assert out["bound"] == pytest.approx(out["hinge"] + out["complexity"] + out["confidence"])


def _km_setup(seed=13, n=30, N=15, d=4):
    rng = numpy_rng(seed)
    Xtr, x = rng.standard_normal((n, d)), rng.standard_normal((N, d))
    alpha = rng.standard_normal(n)
    y = rng.choice([-1.0, 1.0], N)
    return Xtr, x, alpha, y


def test_km_certificate_is_exact_at_zero_and_sound_in_the_box():
    Xtr, x, alpha, y = _km_setup()
    margin = y * (relu_ntk(x, Xtr, False) @ alpha)
    assert np.allclose(T.km_lower_margin(alpha, Xtr, x, y, 0.0), margin, atol=1e-12)
    rng = numpy_rng(14)
    prev = margin
    for eps in (0.01, 0.05, 0.2):
        lb = T.km_lower_margin(alpha, Xtr, x, y, eps)
        assert np.all(lb <= prev + 1e-12)                      # monotone in eps
        prev = lb
        for _ in range(30):
            z = x + eps * rng.uniform(-1, 1, x.shape)
            corner = x + eps * np.sign(rng.standard_normal(x.shape))
            for p in (z, corner):
                assert np.all(y * (relu_ntk(p, Xtr, False) @ alpha) >= lb - 1e-12)


def test_ibp_is_exact_at_zero_and_sound_in_the_box():
    m, d = 40, 3
    W0, a0 = (t[0] for t in _net([m], d, S=1, seed=5))
    W, a = (t[0] for t in _net([m], d, S=1, seed=6))
    x = torch.as_tensor(numpy_rng(15).standard_normal((10, d)))
    y = torch.as_tensor(numpy_rng(16).choice([-1.0, 1.0], 10))

    def g(p):
        return (T.forward(W[None], a[None], p, [m]) - T.forward(W0[None], a0[None], p, [m]))[0, :, 0]

    assert torch.allclose(T.ibp_lower_margin(W, a, W0, a0, x, y, 0.0), y * g(x), atol=1e-13)
    gen = torch.Generator().manual_seed(0)
    for eps in (0.01, 0.1):
        lb = T.ibp_lower_margin(W, a, W0, a0, x, y, eps)
        for _ in range(30):
            z = x + eps * (2 * torch.rand(x.shape, generator=gen, dtype=D) - 1)
            assert torch.all(y * g(z) >= lb - 1e-12)
    # the chunk size changes nothing
    assert torch.allclose(T.ibp_lower_margin(W, a, W0, a0, x, y, 0.1, chunk=7),
                          T.ibp_lower_margin(W, a, W0, a0, x, y, 0.1), atol=1e-13)
    # an interval bound per point: a tensor of epsilons works too
    e = torch.linspace(0, 0.1, 10, dtype=D)
    lb = T.ibp_lower_margin(W, a, W0, a0, x, y, e)
    assert torch.allclose(lb[3], T.ibp_lower_margin(W, a, W0, a0, x[3:4], y[3:4], e[3])[0])


def test_certified_radius_by_bisection():
    # lower margin 1 - 2 eps (point 0), 0.3 - eps (point 1), -1 (point 2, misclassified)
    c = np.array([[1.0, 2.0], [0.3, 1.0], [-1.0, 0.0]])
    r = T.certified_radius(lambda e: c[:, 0] - c[:, 1] * e, 3, eps_max=1.0, iters=40)
    assert r[0] == pytest.approx(0.5, abs=1e-9) and r[1] == pytest.approx(0.3, abs=1e-9)
    assert r[2] == 0.0
    r = T.certified_radius(lambda e: np.ones(2), 2, eps_max=0.7)
    assert np.all(r == 0.7)


def test_attack_radius_is_the_first_flip_on_the_grid():
    x = np.array([[0.0], [0.0], [0.0]])
    s = np.ones((3, 1))
    thresholds = np.array([0.25, 0.6, 5.0])
    grid = np.linspace(0.05, 1.0, 20)
    r = T.attack_radius(lambda p: thresholds - p[:, 0], x, s, grid)
    assert r[0] == pytest.approx(0.25) and r[1] == pytest.approx(0.6) and np.isinf(r[2])
    # refined between grid points: still a flipped point, now close to the threshold
    thresholds = np.array([0.23, 0.61, 5.0])
    r = T.attack_radius(lambda p: thresholds - p[:, 0], x, s, grid, refine=30)
    assert 0.23 <= r[0] < 0.23 + 1e-8 and 0.61 <= r[1] < 0.61 + 1e-8 and np.isinf(r[2])
    # a margin that flips back and forth: the first flip on the grid is kept
    r = T.attack_radius(lambda p: np.cos(20 * p[:, 0]), x[:1], s[:1], grid)
    assert r[0] == pytest.approx(0.1)


def test_init_networks_checks_and_draw_order():
    with pytest.raises(ValueError, match="widths"):
        T.init_networks([], 2, [numpy_rng(0)])
    W, a = T.init_networks([2, 3], 2, [numpy_rng(0)], D)
    rng = numpy_rng(0)
    assert np.allclose(W[0, :2].numpy(), rng.standard_normal((2, 2)))
    assert np.allclose(a[0, :2].numpy(), rng.standard_normal(2))
    assert np.allclose(W[0, 2:].numpy(), rng.standard_normal((3, 2)))

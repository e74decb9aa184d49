"""Tests of relubook.topics.label_noise: closed forms against autograd, exact identities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from relubook.core.data import six_points
from relubook.core.shallow import Shallow, eval_network, from_spline, interpolant, to_spline
from relubook.topics import label_noise as T


def _net(S=3, H=7, seed=0, scale=1.5) -> Shallow:
    rng = np.random.default_rng(seed)
    return Shallow(scale * rng.standard_normal((S, H)), scale * rng.standard_normal((S, H)),
                   rng.standard_normal((S, H)) / np.sqrt(H), rng.standard_normal(S))


def _autograd_jacobian(net: Shallow, x: np.ndarray) -> np.ndarray:
    out = []
    for s in range(net.w.shape[0]):
        theta = torch.tensor(np.concatenate([net.v[s], net.w[s], net.b[s], [net.c[s]]]),
                             requires_grad=True)
        H = net.w.shape[1]

        def f(th, H=H):
            v, w, b, c = th[:H], th[H:2 * H], th[2 * H:3 * H], th[3 * H]
            return torch.relu(torch.tensor(x)[:, None] * w + b) @ v + c

        out.append(torch.autograd.functional.jacobian(f, theta).numpy())
    return np.stack(out)


def test_jacobian_gram_reg_match_autograd():
    net = _net()
    x = np.linspace(-1, 1, 6)
    J = T.relu_jacobian(net, x)
    np.testing.assert_allclose(J, _autograd_jacobian(net, x), atol=1e-12)
    K = T.relu_gram(net, x)
    np.testing.assert_allclose(K, J @ np.swapaxes(J, 1, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(T.relu_reg(net, x), np.mean(np.sum(J**2, -1), -1), rtol=1e-12)
    np.testing.assert_allclose(T.relu_reg(net, x), np.trace(K, axis1=1, axis2=2) / 6,
                               rtol=1e-12)


def _reference_steps(net: Shallow, x, y, noise, lr):
    """Label-noise GD by torch autograd, one network at a time, with given noise (steps, S, n)."""
    outs = []
    for s in range(net.w.shape[0]):
        p = [torch.tensor(a[s], requires_grad=True) for a in (net.w, net.b, net.v)]
        c = torch.tensor(net.c[s], requires_grad=True)
        X, Y = torch.tensor(x), torch.tensor(y)
        for k in range(noise.shape[0]):
            f = torch.relu(X[:, None] * p[0] + p[1]) @ p[2] + c
            loss = 0.5 * torch.mean((f - Y - torch.tensor(noise[k, s])) ** 2)
            grads = torch.autograd.grad(loss, [*p, c])
            with torch.no_grad():
                for q, g in zip([*p, c], grads):
                    q -= lr * g
        outs.append([q.detach().numpy().copy() for q in (*p, c)])
    return Shallow(*(np.stack([o[i] for o in outs]) for i in range(4)))


def test_train_relu_matches_autograd_with_the_same_noise():
    x, y = six_points()
    net = _net(S=3, H=9, seed=1)
    sigma = np.array([0.0, 0.3, 1.0])
    steps, lr = 12, 0.01
    res = T.train_relu(net, x, y, sigma, lr, steps, np.random.default_rng(5), records=4,
                       block=5)
    noise = np.random.default_rng(5).standard_normal((steps, 3, 6)) * sigma[None, :, None]
    ref = _reference_steps(net, x, y, noise, lr)
    for a, b in zip(res["nets"][-1], ref):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    assert res["t"].tolist() == [0, 3, 6, 9, 12]
    # the first record is the start, untouched
    for a, b in zip(res["nets"][0], net):
        np.testing.assert_array_equal(a, b)


def test_train_relu_block_independent_and_residual_power():
    x, y = six_points()
    net = _net(S=2, H=5, seed=2)
    r1 = T.train_relu(net, x, y, np.array([0.5, 0.2]), 0.01, 20, np.random.default_rng(3),
                      records=2, block=1)
    r2 = T.train_relu(net, x, y, np.array([0.5, 0.2]), 0.01, 20, np.random.default_rng(3),
                      records=2, block=64)
    for a, b in zip(r1["nets"][-1], r2["nets"][-1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(r1["r2"], r2["r2"])
    # r2 of the first interval >= the clean residual power at the start's... recompute it
    r3 = T.train_relu(net, x, y, np.array([0.0, 0.0]), 0.01, 1, np.random.default_rng(3),
                      records=1)
    np.testing.assert_allclose(r3["r2"][0], np.sum((eval_network(net, x) - y) ** 2, 1))
    with pytest.raises(ValueError, match="multiple"):
        T.train_relu(net, x, y, 0.1, 0.01, 10, np.random.default_rng(0), records=3)


def test_gradient_descent_interpolates():
    x, y = six_points()
    net = _net(S=1, H=100, seed=3, scale=2.0)
    res = T.train_relu(net, x, y, np.zeros(1), 0.01, 20000, np.random.default_rng(0),
                       records=2)
    assert T.relu_metrics(res["nets"][-1], x, y)["mse"][0] < 1e-8
    assert res["r2"][1, 0] < res["r2"][0, 0]


def test_balanced_reg_is_the_minimum_over_rescalings():
    x, _ = six_points()
    net = _net(S=2, H=8, seed=4)
    reg, bal = T.relu_reg(net, x), T.relu_balanced_reg(net, x)
    assert np.all(reg >= bal - 1e-12)
    # balance every neuron: alpha^4 = v^2 B / (w^2 A)
    z = net.w[:, :, None] * x + net.b[:, :, None]
    A = np.mean(np.maximum(z, 0) ** 2, -1)
    B = net.v**2 * np.mean((z > 0) * (1 + x**2), -1)
    live = A > 0
    alpha = np.where(live, (B / np.where(live, A, 1.0)) ** 0.25, 1.0)
    bal_net = Shallow(net.w * alpha, net.b * alpha, net.v / alpha, net.c)
    t = np.linspace(-2, 2, 101)
    np.testing.assert_allclose(eval_network(bal_net, t), eval_network(net, t), atol=1e-12)
    # dead neurons (A = 0, hence B = 0) contribute nothing to either side
    np.testing.assert_allclose(T.relu_reg(bal_net, x), bal, rtol=1e-12)
    # a second rescaling changes reg but not the balanced value
    other = Shallow(net.w * 2, net.b * 2, net.v / 2, net.c)
    np.testing.assert_allclose(T.relu_balanced_reg(other, x), bal, rtol=1e-12)
    assert np.all(T.relu_reg(other, x) > bal)


def test_knot_weight_closed_form():
    x = np.array([0.0, 1.0])
    # s = +1, beta = 0.5: only x = 1 active: A = 0.25/2, B = 2/2
    np.testing.assert_allclose(T.knot_weight(0.5, 1.0, x), np.sqrt(0.125 * 1.0))
    # s = -1, beta = 0.5: only x = 0 active: A = 0.25/2, B = 1/2
    np.testing.assert_allclose(T.knot_weight(0.5, -1.0, x), np.sqrt(0.125 * 0.5))
    assert T.knot_weight(2.0, 1.0, x) == 0.0


def test_relu_metrics_on_the_interpolant():
    x, y = six_points()
    ip = interpolant(x, y)
    # a network equal to the interpolant: left line, then one neuron per interior knot
    beta = np.concatenate([[x[0] - 1.0], ip.knots])
    mu = np.concatenate([[ip.slopes[0]], ip.delta_slopes])
    c = y[0] - ip.slopes[0] * (x[0] - beta[0])
    sp = type(to_spline(_net(1, 1)))(beta[None], mu[None], np.ones((1, beta.size)),
                                     np.array([c]))
    net = from_spline(sp, w_abs=1.7)
    m = T.relu_metrics(net, x, y)
    assert m["sup"][0] < 1e-12 and m["mse"][0] < 1e-24
    np.testing.assert_allclose(m["tv"], 67 / 3, rtol=1e-12)     # the knot at x_1 - 1 is outside
    np.testing.assert_allclose(m["tv_all"], 67 / 3 + abs(ip.slopes[0]), rtol=1e-12)


def test_ou_residual_power_solves_the_discrete_lyapunov_equation():
    rng = np.random.default_rng(0)
    n, lr, sigma = 5, 0.01, 0.4
    G = rng.standard_normal((n, n))
    K = 30 * G @ G.T / n
    A = np.eye(n) - lr * K / n
    Q = (lr * sigma / n) ** 2 * K @ K
    C = scipy.linalg.solve_discrete_lyapunov(A, Q)
    lam = np.linalg.eigvalsh(K / n)
    np.testing.assert_allclose(T.ou_residual_power(lam, lr, sigma), np.trace(C), rtol=1e-10)
    with pytest.raises(ValueError, match="unstable"):
        T.ou_residual_power(np.array([300.0]), 0.01, 1.0)


def test_ou_normal_variance():
    assert T.ou_normal_variance(2.0, 0.01, 1.0) == pytest.approx(0.01 / 1.98)
    assert T.ou_normal_variance(2.0, 0.01, 1.0, discrete=False) == pytest.approx(0.005)
    assert T.ou_normal_variance(2.0, 0.01, 1.0, n=2) == pytest.approx(0.01 / 3.96)


def test_toy_step_identity_and_gradient_descent_stays():
    rng = np.random.default_rng(1)
    a0, b0 = np.array([4.0, 2.0, 1.0]), np.array([0.25, 0.5, 1.0])
    sig = np.array([1.0, 0.5, 0.0])
    lr, steps = 0.01, 30
    res = T.toy_run(a0, b0, sig, lr, steps, rng, records=30, block=7)
    xi = np.random.default_rng(1).standard_normal((steps, 3)) * sig
    a, b = a0.copy(), b0.copy()
    for k in range(steps):
        r = a * b - 1 - xi[k]
        q = a**2 - b**2
        a, b = a - lr * r * b, b - lr * r * a
        np.testing.assert_allclose(a**2 - b**2, q * (1 - (lr * r) ** 2), rtol=1e-12)
        np.testing.assert_allclose(res["a"][k + 1], a, rtol=1e-14)
        np.testing.assert_allclose(res["b"][k + 1], b, rtol=1e-14)
    assert res["a"][-1, 2] == 1.0 and res["b"][-1, 2] == 1.0
    gd = T.toy_run(np.array([4.0]), np.array([0.25]), np.array([0.0]), lr, 100, rng,
                   records=10)
    assert np.all(gd["a"] == 4.0) and np.all(gd["b"] == 0.25)
    np.testing.assert_allclose(res["reg"][0], a0**2 + b0**2)


def test_toy_tangent_grad_is_the_derivative_along_the_manifold():
    a = np.array([-2.0, 0.5, 1.0, 3.0])
    h = 1e-6

    def reg_along(s):
        # move by arclength s along the unit tangent (a, -b)/|(a, b)|, then back onto ab = 1
        b = 1 / a
        t = np.stack([a, -b]) / np.sqrt(a**2 + b**2)
        p = np.stack([a, b]) + s * t
        return T.toy_reg(p[0], 1 / p[0])

    num = (reg_along(h) - reg_along(-h)) / (2 * h)
    np.testing.assert_allclose(T.toy_tangent_grad(a, 1 / a), num, rtol=1e-6, atol=1e-8)
    assert T.toy_tangent_grad(1.0, 1.0) == 0.0 and T.toy_tangent_grad(-1.0, -1.0) == 0.0


def test_toy_drift_rate():
    assert T.toy_drift_rate(0.01, 1.0, 0.0) == pytest.approx(1e-4)
    assert T.toy_drift_rate(0.01, 0.5, 2.0) == pytest.approx(2 * 1e-4 * 0.25 / 1.98)

"""Unit tests of relubook.topics.extrapolation: targets, rays, NTK regression, Lemma 1.

The closed-form NTK itself (relu_ntk, arccos_ntk, augment, ntk_predict) is tested in
tests/unit/core/test_ntk.py.
"""

import math

import numpy as np
import pytest
import torch
from relubook.core.mlp import forward
from relubook.core.ntk import jacobian, ntk_predict, relu_ntk
from relubook.core.random import numpy_rng
from relubook.topics import extrapolation as E


def _net_numpy(W, b, a, c, X):
    return np.maximum(X @ W.T + b, 0.0) @ a + c


def test_targets_numpy_and_torch_agree():
    x = numpy_rng(0).standard_normal((7, 3))
    beta = np.array([1.0, -2.0, 0.5])
    r = np.linalg.norm(x, axis=1)
    expect = {"quadratic": r**2, "cos": np.cos(np.pi * r), "sqrt": np.sqrt(r), "linear": x @ beta}
    for name, want in expect.items():
        assert np.allclose(E.target(name, x, beta), want)
        got = E.target(name, torch.as_tensor(x), beta)
        assert isinstance(got, torch.Tensor) and np.allclose(got.numpy(), want)
    with pytest.raises(ValueError, match="unknown target"):
        E.target("cubic", x)
    with pytest.raises(ValueError, match="beta"):
        E.target("linear", x)


def test_samplers():
    rng = numpy_rng(1)
    x = E.sample_ball(20000, 3, 2.0, rng)
    r = np.linalg.norm(x, axis=1)
    assert r.max() <= 2.0 and abs((r < 1.0).mean() - 1 / 8) < 0.01   # volume fraction (1/2)^3
    c = E.sample_cube(5000, 4, 2, rng)
    assert c[:, :2].min() >= 0 and c[:, 2:].min() < -0.9 and c.max() <= 1
    assert np.allclose(np.linalg.norm(E.unit_directions(10, 5, rng), axis=1), 1)
    with pytest.raises(ValueError, match="restricted"):
        E.sample_cube(3, 2, 3, rng)


def test_ray_unexplained():
    t = np.linspace(0, 1, 10001)
    assert E.ray_unexplained(3 * t - 1, t) < 1e-28
    # corr(t, t^2)^2 = 15/16 for t uniform on [0, 1]
    assert E.ray_unexplained(t**2, t) == pytest.approx(1 / 16, rel=1e-3)
    assert E.ray_r2(np.stack([t, t**2]), t).shape == (2,)
    assert E.ray_unexplained(np.ones_like(t), t) == 0.0


def test_breakpoints_and_limit_slope_against_the_network():
    rng = numpy_rng(2)
    m, d = 12, 3
    W, b, a, c = (rng.standard_normal((m, d)), rng.standard_normal(m),
                  rng.standard_normal(m), 0.3)
    V = E.unit_directions(5, d, rng)
    bp = E.ray_breakpoints(W[None], b[None], V)[0]
    beta = E.ray_slope_limit(W[None], a[None], V)[0]
    for k, v in enumerate(V):
        ts = np.sort(bp[k][np.isfinite(bp[k])])
        T = 10 * (ts.max() if ts.size else 1.0)
        f = _net_numpy(W, b, a, c, np.array([T * v, (T + 1) * v]))
        assert f[1] - f[0] == pytest.approx(beta[k], abs=1e-9)
        # the slope changes at each breakpoint and nowhere between
        for t0 in ts:
            e = 1e-6 * max(1.0, t0)
            s = [(_net_numpy(W, b, a, c, np.array([(u + e / 10) * v]))
                  - _net_numpy(W, b, a, c, np.array([u * v])))[0] / (e / 10)
                 for u in (t0 - e, t0 + e)]
            j = np.nanargmin(np.abs(bp[k] - t0))
            assert s[1] - s[0] == pytest.approx(a[j] * abs(W[j] @ v), rel=1e-4, abs=1e-8)
    assert np.all(bp > 0)


@pytest.mark.parametrize("param,bias", [("ntk", True), ("ntk0", False)])
def test_relu_ntk_is_the_empirical_ntk_of_the_ntk_parameterisation(param, bias):
    d, width = 3, 40_000
    net, mult = E.init_two_layer([param], d, width, [numpy_rng(4)], dtype=torch.float64)
    X = numpy_rng(5).standard_normal((4, d))
    x = torch.as_tensor(X)
    names = ["W1", "W2", "b1", "b2"]
    params = dict(zip(names, net.weights + net.biases))

    def fn(p, xx):
        from relubook.core.mlp import StackedMLP
        eff = E.effective(StackedMLP([p["W1"], p["W2"]], [p["b1"], p["b2"]]), mult)
        return forward(eff, xx)[0, :, 0]

    assert torch.allclose(fn(params, x), torch.zeros(4, dtype=torch.float64))   # f_0 = 0
    J = jacobian(fn, params, x).numpy()
    emp = J @ J.T
    assert np.allclose(emp, relu_ntk(X, X, bias), rtol=0.03, atol=0.03)


def test_ntk_fit_interpolates_and_ray_slope_is_the_limit():
    rng = numpy_rng(7)
    X = E.sample_ball(50, 3, 1.0, rng)
    y = E.target("cos", X)
    V = E.unit_directions(4, 3, rng)
    for bias in (False, True):
        alpha = E.ntk_fit(X, y, bias)
        assert np.allclose(ntk_predict(alpha, X, X, bias, chunk=7), y, atol=1e-8)
        T = 1e7
        f = ntk_predict(alpha, X, np.concatenate([T * V, (T + 1) * V]), bias)
        assert np.allclose(f[4:] - f[:4], E.ntk_ray_slope(alpha, X, V, bias), atol=1e-5)


def test_lemma1_exact_with_the_basis_and_its_negatives():
    rng = numpy_rng(8)
    d = 5
    X = E.lemma1_points(d, 2.0, rng)
    Q = X[:d] / 2.0
    assert np.allclose(Q @ Q.T, np.eye(d), atol=1e-12) and np.allclose(X[d:], -X[:d])
    beta = rng.standard_normal(d)
    Z = 50 * rng.standard_normal((100, d))
    f = ntk_predict(E.ntk_fit(X, X @ beta, False), X, Z, False)
    assert np.abs(f - Z @ beta).max() < 1e-10 * np.abs(Z @ beta).max()
    # without the negatives it does not extrapolate
    f = ntk_predict(E.ntk_fit(X[:d], X[:d] @ beta, False), X[:d], Z, False)
    assert np.abs(f - Z @ beta).max() > 1e-2 * np.abs(Z @ beta).max()


def test_init_two_layer_parameterisations():
    rngs = [numpy_rng(9, i) for i in range(3)]
    net, mult = E.init_two_layer(["ntk", "ntk0", "standard"], 4, 6, rngs, dtype=torch.float64)
    W1, W2 = net.weights
    b1 = net.biases[0]
    assert torch.equal(W1[0, :3], W1[0, 3:]) and torch.equal(W2[0, 0, :3], -W2[0, 0, 3:])
    assert torch.all(b1[1] == 0) and W1[2].abs().max() <= 0.5 and W2[2].abs().max() <= 1 / 6**0.5
    assert np.allclose(mult.numpy(), [[0.5, 1 / 6**0.5, 1, 1], [0.5, 1 / 6**0.5, 0, 0],
                                      [1, 1, 1, 1]])
    x = torch.as_tensor(numpy_rng(10).standard_normal((5, 4)))
    out = forward(E.effective(net, mult), x)[..., 0]
    assert torch.allclose(out[:2], torch.zeros(2, 5, dtype=torch.float64))
    # a zero bias multiplier freezes the bias: no gradient reaches it
    for q in net.params():
        q.requires_grad_(True)
    forward(E.effective(net, mult), x).sum().backward()
    assert torch.all(net.biases[0].grad[1] == 0) and torch.any(net.biases[0].grad[0] != 0)
    with pytest.raises(ValueError, match="even width"):
        E.init_two_layer(["ntk"], 2, 5, [numpy_rng(0)])
    with pytest.raises(ValueError, match="parameterisation"):
        E.init_two_layer(["mup"], 2, 4, [numpy_rng(0)])


def test_two_layer_numpy_and_deviation():
    net, mult = E.init_two_layer(["standard"], 3, 8, [numpy_rng(11)], dtype=torch.float64)
    W, b, a, c = E.two_layer_numpy(E.effective(net, mult))
    x = numpy_rng(12).standard_normal((4, 3))
    want = forward(E.effective(net, mult), torch.as_tensor(x))[0, :, 0].detach().numpy()
    assert np.allclose(_net_numpy(W[0], b[0], a[0], c[0], x), want)
    assert np.allclose(E.ray_deviation(np.array([1.0]), np.array([3.0]), 2.0, 1.0), 0.0)
    assert math.isclose(float(E.ray_deviation(0.0, 1.0, 0.5, 1.0)), 0.5)

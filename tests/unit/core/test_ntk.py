"""Unit tests of relubook.core.ntk: exact Jacobians, the empirical NTK Gram matrix, and the
closed-form two-layer ReLU NTK (moved here from tests/unit/topics/test_extrapolation.py)."""

import numpy as np
import pytest
import torch
from relubook.core.ntk import (
    arccos_ntk,
    augment,
    jacobian,
    ntk_gram,
    ntk_lambda_max,
    ntk_predict,
    relu_ntk,
)
from relubook.core.random import numpy_rng
from relubook.topics import spline_dynamics, splines

D = torch.float64


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_jacobian_of_linear_map_is_analytic():
    N, d, k = 5, 3, 2
    x = torch.randn(N, d, generator=_g(0), dtype=D)
    p = {"w": torch.randn(k, d, generator=_g(1), dtype=D), "b": torch.randn(k, generator=_g(2), dtype=D)}
    J = jacobian(lambda p, x: x @ p["w"].T + p["b"], p, x)
    assert J.shape == (N * k, k * d + k) and J.dtype == D
    ref = torch.zeros(N * k, k * d + k, dtype=D)
    for n in range(N):
        for j in range(k):
            ref[n * k + j, j * d:(j + 1) * d] = x[n]          # d f_j(x_n) / d w[j, :]
            ref[n * k + j, k * d + j] = 1.0                     # d f_j(x_n) / d b[j]
    assert torch.equal(J, ref)
    # the parameter order is the order of the dict
    J2 = jacobian(lambda p, x: x @ p["w"].T + p["b"], {"b": p["b"], "w": p["w"]}, x)
    assert torch.equal(J2, torch.cat([ref[:, k * d:], ref[:, :k * d]], 1))


def test_jacobian_of_shallow_relu_net_is_analytic():
    N, d, H = 7, 3, 6
    x = torch.randn(N, d, generator=_g(3), dtype=D)
    p = {"W": torch.randn(H, d, generator=_g(4), dtype=D), "b": torch.randn(H, generator=_g(5), dtype=D),
         "v": torch.randn(H, generator=_g(6), dtype=D)}

    def f(p, x):
        return torch.relu(x @ p["W"].T + p["b"]) @ p["v"]       # scalar outputs (N,)

    J = jacobian(f, p, x)
    assert J.shape == (N, H * d + 2 * H)
    pre = x @ p["W"].T + p["b"]
    on = (pre > 0).to(D)
    gW = (on * p["v"])[:, :, None] * x[:, None, :]              # (N, H, d)
    ref = torch.cat([gW.reshape(N, -1), on * p["v"], torch.relu(pre)], 1)
    assert torch.allclose(J, ref, atol=1e-14, rtol=0)
    assert 0 < on.mean() < 1


@pytest.mark.parametrize("H", [1, 8])
def test_jacobian_matches_spline_dynamics_closed_form(H):
    net = splines.init_shallow("gaussian", H, 1, np.random.default_rng(0))
    x = np.linspace(-2, 2, 11)
    params = {k: torch.tensor(getattr(net, k)[0], dtype=D) for k in ("w", "b", "v")}
    params["c"] = torch.tensor(net.c[0], dtype=D)

    def f(p, x):
        return torch.relu(p["w"] * x[:, None] + p["b"]) @ p["v"] + p["c"]

    J = jacobian(f, params, torch.tensor(x, dtype=D))
    ref = spline_dynamics.jacobian(net, x)[0]
    assert J.shape == (11, 3 * H + 1)
    assert np.allclose(J.numpy(), ref, atol=1e-14, rtol=0)


def test_ntk_gram_is_J_Jt_over_N_numpy_and_torch():
    rng = np.random.default_rng(1)
    J = rng.standard_normal((6, 10))
    K = ntk_gram(J)
    ref = np.array([[J[i] @ J[j] for j in range(6)] for i in range(6)]) / 6
    assert isinstance(K, np.ndarray) and np.allclose(K, ref, atol=1e-14)
    Kt = ntk_gram(torch.tensor(J))
    assert isinstance(Kt, torch.Tensor) and np.allclose(Kt.numpy(), ref, atol=1e-14)
    # n_points: rows are (point, output) pairs, normalised by the number of points
    assert np.allclose(ntk_gram(J, n_points=3), ref * 2, atol=1e-14)
    # stacks (..., N, P)
    Js = rng.standard_normal((2, 3, 5, 4))
    Ks = ntk_gram(Js)
    assert Ks.shape == (2, 3, 5, 5)
    assert np.allclose(Ks[1, 2], Js[1, 2] @ Js[1, 2].T / 5, atol=1e-14)
    assert np.allclose(ntk_gram(torch.tensor(Js)).numpy(), Ks, atol=1e-14)


def test_ntk_lambda_max_is_largest_eigenvalue():
    rng = np.random.default_rng(2)
    Js = rng.standard_normal((4, 6, 9))
    lam = ntk_lambda_max(Js)
    assert lam.shape == (4,)
    for i in range(4):
        ev = np.linalg.eigvals(Js[i] @ Js[i].T / 6).real
        assert lam[i] == pytest.approx(ev.max(), rel=1e-12)
        # also the squared top singular value of J over N
        assert lam[i] == pytest.approx(np.linalg.svd(Js[i], compute_uv=False)[0] ** 2 / 6, rel=1e-12)
    lt = ntk_lambda_max(torch.tensor(Js, requires_grad=True))
    assert isinstance(lt, np.ndarray) and np.allclose(lt, lam, rtol=1e-12)


def test_ntk_lambda_max_rank_one_closed_form():
    # J = u w^T: K = |w|^2 u u^T / N has the single eigenvalue |u|^2 |w|^2 / N
    u, w = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.0, 4.0, 1.0])
    assert ntk_lambda_max(np.outer(u, w)) == pytest.approx((u @ u) * (w @ w) / 3, rel=1e-13)


# ----------------------------------------------------------------------------- the closed form

def test_relu_ntk_closed_form_against_monte_carlo():
    rng = numpy_rng(3)
    d = 3
    X, Z = rng.standard_normal((4, d)), rng.standard_normal((5, d))
    w = rng.standard_normal((400_000, d + 1))
    for bias in (False, True):
        A, B = augment(X, bias), augment(Z, bias)
        ww = w[:, :A.shape[1]]
        pa, pb = A @ ww.T, B @ ww.T
        mc = (np.maximum(pa, 0) @ np.maximum(pb, 0).T
              + (A @ B.T) * ((pa > 0).astype(float) @ (pb > 0).T)) / w.shape[0]
        want = mc + (1.0 if bias else 0.0)
        assert np.allclose(relu_ntk(X, Z, bias), want, rtol=0.02, atol=0.01)


def test_bias_free_identity_and_homogeneity():
    rng = numpy_rng(6)
    X, Z = rng.standard_normal((6, 4)), rng.standard_normal((5, 4))
    diff = relu_ntk(X, Z, False) - relu_ntk(X, -Z, False)
    assert np.allclose(diff, X @ Z.T / 4, atol=1e-14)
    assert np.allclose(relu_ntk(3.0 * X, Z, False), 3.0 * relu_ntk(X, Z, False))
    # with biases the identity does not hold
    assert not np.allclose(relu_ntk(X, Z) - relu_ntk(X, -Z), X @ Z.T / 4, atol=1e-3)



def test_augment_scales_and_appends_one():
    X = np.array([[2.0, 0.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    assert np.allclose(augment(X, False), X / 2.0)
    A = augment(X, True)
    assert A.shape == (2, 5) and np.all(A[:, -1] == 1.0) and np.allclose(A[:, :4], X / 2.0)
    assert augment(X.astype(np.float32), False).dtype == np.float64


def test_arccos_ntk_special_angles():
    a = np.array([[3.0, 4.0]])                                   # |a| = 5
    # theta = 0: a.a/2 + |a|^2 pi/(2 pi) = |a|^2
    assert arccos_ntk(a, 2 * a)[0, 0] == pytest.approx(2 * 25.0, rel=1e-12)
    # theta = pi: both terms vanish
    assert arccos_ntk(a, -a)[0, 0] == pytest.approx(0.0, abs=1e-12)
    # theta = pi/2: only the output-weight term, |a||b| / (2 pi)
    b = np.array([[-8.0, 6.0]])                                  # |b| = 10, a.b = 0
    assert arccos_ntk(a, b)[0, 0] == pytest.approx(50.0 / (2 * np.pi), rel=1e-12)
    # a zero vector gives 0, symmetric in its arguments
    Z = np.zeros((1, 2))
    assert arccos_ntk(a, Z)[0, 0] == 0.0 and arccos_ntk(Z, a)[0, 0] == 0.0
    rng = numpy_rng(13)
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
    assert np.allclose(arccos_ntk(A, B), arccos_ntk(B, A).T, atol=1e-14)


@pytest.mark.parametrize("bias", [False, True])
def test_relu_ntk_is_the_limit_of_the_empirical_ntk(bias):
    # an NTK-parameterised two-layer net written out here, N(0,1) weights, Gram J J^T
    d, m = 3, 60_000
    g = _g(14)
    p = {"W": torch.randn(m, d, generator=g, dtype=D), "a": torch.randn(m, generator=g, dtype=D)}
    if bias:
        p["b"] = torch.randn(m, generator=g, dtype=D)
        p["c"] = torch.zeros((), dtype=D)

    def f(p, x):
        pre = x @ p["W"].T / d**0.5 + (p["b"] if bias else 0.0)
        return torch.relu(pre) @ p["a"] / m**0.5 + (p["c"] if bias else 0.0)

    X = numpy_rng(15).standard_normal((4, d))
    J = jacobian(f, p, torch.as_tensor(X)).numpy()
    assert np.allclose(J @ J.T, relu_ntk(X, X, bias), rtol=0.03, atol=0.03)


def test_ntk_predict_is_the_kernel_sum_in_any_chunks():
    rng = numpy_rng(16)
    X, Z = rng.standard_normal((7, 3)), rng.standard_normal((11, 3))
    alpha = rng.standard_normal(7)
    for bias in (False, True):
        want = relu_ntk(Z, X, bias) @ alpha
        assert np.allclose(ntk_predict(alpha, X, Z, bias), want, atol=1e-13)
        assert np.allclose(ntk_predict(alpha, X, Z, bias, chunk=3), want, atol=1e-13)
    A2 = rng.standard_normal((7, 2))
    assert ntk_predict(A2, X, Z, False).shape == (11, 2)
    assert ntk_predict(A2, X, Z[:0], False).shape == (0, 2)

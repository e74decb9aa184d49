"""Unit tests of relubook.spline_dynamics: gradients, spline velocities, Hessians, predictors."""

import numpy as np
import pytest
import torch

from relubook.topics import splines as S
from relubook.topics import spline_dynamics as D


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    net = S.init_shallow("gaussian", 8, 3, rng, sigma_w=1.0, sigma_b=1.0, sigma_v=0.5)
    x = np.sort(rng.uniform(-1, 1, 20))
    y = np.sin(np.pi * x)
    return net, x, y


def test_gradient_matches_finite_differences(problem):
    net, x, y = problem
    _, g = D.loss_and_grad(net, x, y)
    theta, gflat = D.flatten(net), D.flatten(g)
    H = net.w.shape[1]
    eps = 1e-6
    for k in [0, 3, H + 1, 2 * H + 5, 3 * H]:
        tp, tm = theta.copy(), theta.copy()
        tp[:, k] += eps
        tm[:, k] -= eps
        fd = (D.loss_and_grad(D.unflatten(tp, H), x, y)[0]
              - D.loss_and_grad(D.unflatten(tm, H), x, y)[0]) / (2 * eps)
        np.testing.assert_allclose(fd, gflat[:, k], rtol=1e-6, atol=1e-9)


def test_jacobian_matches_finite_differences(problem):
    net, x, _ = problem
    j = D.jacobian(net, x)
    H = net.w.shape[1]
    theta = D.flatten(net)
    eps = 1e-7
    for k in [1, H + 2, 2 * H + 3, 3 * H]:
        tp = theta.copy()
        tp[:, k] += eps
        fd = (D.forward(D.unflatten(tp, H), x)[2] - D.forward(net, x)[2]) / eps
        np.testing.assert_allclose(fd, j[:, :, k], rtol=1e-5, atol=1e-7)


def test_spline_velocity_matches_gd_step(problem):
    net, x, y = problem
    eta = 1e-6
    bd, md, cd = D.spline_velocity(net, x, y)
    sp0, sp1 = S.to_spline(net), S.to_spline(D.gd_step(net, x, y, eta))
    rel = lambda a, b: np.max(np.abs(a - b)) / np.max(np.abs(b))  # noqa: E731
    assert rel((sp1.beta - sp0.beta) / eta, bd) < 1e-4
    assert rel((sp1.mu - sp0.mu) / eta, md) < 1e-4
    assert rel((sp1.c - sp0.c) / eta, cd) < 1e-4


def test_beta_velocity_scales_as_alpha_minus_two(problem):
    net, x, y = problem
    b1 = D.spline_velocity(net, x, y)[0]
    b3 = D.spline_velocity(S.rescale(net, 3.0), x, y)[0]
    np.testing.assert_allclose(b3, b1 / 9, rtol=1e-12, atol=1e-15)


def test_train_gd_and_kernel_predictor(problem):
    net, x, y = problem
    lr = 1 / D.ntk_lambda_max(net, x)
    net1, hist = D.train_gd(net, x, y, lr, 200, n_snapshots=5)
    assert hist["beta"].shape == (5, 3, 8) and hist["step"][-1] == 200
    assert np.all(hist["loss"][-1] < hist["loss"][0])
    # the interpolating kernel predictor interpolates; the finite-time one tends to it
    net = S.init_shallow("gaussian", 100, 2, np.random.default_rng(0), sigma_w=1.0, sigma_b=1.0)
    xd = np.linspace(-1, 1, 6)
    y = np.sin(np.pi * np.concatenate([xd, x]))
    fk = D.kernel_predictor(net, xd, y[:6], xd)
    np.testing.assert_allclose(fk, np.broadcast_to(y[:6], fk.shape), atol=1e-8)
    lr6 = 1 / D.ntk_lambda_max(net, xd)
    f0 = D.kernel_predictor(net, xd, y[:6], x, steps=0, lr=lr6)
    np.testing.assert_allclose(f0, S.eval_network(net, x), atol=1e-12)
    far = D.kernel_predictor(net, xd, y[:6], x, steps=10**6, lr=lr6)
    np.testing.assert_allclose(far, D.kernel_predictor(net, xd, y[:6], x), atol=1e-6)


def test_hessians_and_symmetry():
    rng = np.random.default_rng(0)
    H, N = 10, 5
    net = S.init_shallow("gaussian", H, 1, rng, sigma_w=1.0, sigma_b=1.0, sigma_v=0.3)
    x = np.linspace(-1, 1, N)
    y = 0.8 * np.sin(np.pi * x)

    def loss(theta):
        w, b, v, c = theta[:H], theta[H:2 * H], theta[2 * H:3 * H], theta[3 * H]
        xt = torch.as_tensor(x)
        f = torch.relu(w[:, None] * xt + b[:, None]).T @ v + c
        return 0.5 * torch.mean((f - torch.as_tensor(y)) ** 2)

    theta = torch.as_tensor(D.flatten(net)[0])
    h_torch = torch.autograd.functional.hessian(loss, theta).numpy()
    np.testing.assert_allclose(D.full_hessian(net, x, y), h_torch, atol=1e-12)
    trained, _ = D.train_gd(net, x, y, 1 / D.ntk_lambda_max(net, x), 2000)
    polished, final = D.gauss_newton_polish(trained, x, y)
    assert final < 1e-20
    gn = D.gauss_newton_hessian(polished, x)[0]
    assert np.linalg.matrix_rank(gn, tol=1e-10 * np.abs(gn).max()) <= N
    d = D.symmetry_directions(polished)
    assert np.max(np.abs(np.einsum("ip,pq,iq->i", d, D.full_hessian(polished, x, y), d))) < 1e-12
    with pytest.raises(ValueError):
        D.unflatten(np.zeros(5), H)
    with pytest.raises(ValueError):
        D.loss_and_grad(net, x, y[:3])

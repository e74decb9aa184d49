"""Unit tests of relubook.topics.normalized_dynamics: data, SVM, losses and both dynamics."""

import numpy as np
import pytest
import torch
from relubook.topics import normalized_dynamics as N

f64 = torch.float64


def test_separable_data_gap_and_svm_margin():
    x, y = N.separable_data(30, 4, 0.2, seed=1, key=2)
    assert x.shape == (30, 4) and set(np.unique(y)) <= {-1.0, 1.0}
    w, g = N.hard_margin_svm(x, y)
    assert np.linalg.norm(w) == pytest.approx(1.0)
    m = y * (x @ w)
    assert m.min() == pytest.approx(g, rel=1e-6)    # the margin is attained
    assert g >= 0.2 - 1e-7                           # the labelling direction has margin >= gap


def test_svm_closed_form_two_points():
    x = np.array([[2.0, 1.0], [-2.0, -1.0], [3.0, 3.0]])
    y = np.array([1.0, -1.0, 1.0])
    w, g = N.hard_margin_svm(x, y)
    np.testing.assert_allclose(w, np.array([2.0, 1.0]) / np.sqrt(5), atol=1e-6)
    assert g == pytest.approx(np.sqrt(5), rel=1e-6)


def test_circle_data_labels():
    x, y = N.circle_data(50, 0.2, seed=0)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    np.testing.assert_array_equal(y, np.sign(x[:, 0] * x[:, 1]))
    assert np.abs(x).min() >= np.sin(0.2) - 1e-12


def test_log_grid_contains_powers_of_ten():
    g = N.log_grid(2000, 20)
    assert g[0] == 1 and g[-1] == 2000 and {10, 100, 1000} <= set(g.tolist())
    assert np.all(np.diff(g) > 0)


def test_exp_loss_stable_and_exact():
    m = torch.tensor([[0.5, -1.0, 2.0], [800.0, 900.0, 1000.0]], dtype=f64)
    log_l, e = N.exp_loss(m)
    assert log_l[0].item() == pytest.approx(np.log(np.exp(-0.5) + np.exp(1.0) + np.exp(-2.0)))
    assert log_l[1].item() == pytest.approx(-800.0)  # no underflow to -inf
    np.testing.assert_allclose(e[0].numpy(), np.exp(-m[0].numpy()))


def test_running_drop():
    v = np.array([[0.0, 1.0, 3.0, 2.0, 2.5, 4.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    np.testing.assert_allclose(N.running_drop(v, np.array([0, 6])), [1.0, np.nan])
    np.testing.assert_allclose(N.running_drop(v[1:], np.array([2])), [3.0])


def _lin_data(R=3, n=12, d=3):
    xs, ys, ws = [], [], []
    for s in range(R):
        x, y = N.separable_data(n, d, 0.1, seed=0, key=s)
        xs.append(x), ys.append(y), ws.append(N.hard_margin_svm(x, y)[0])
    return (torch.tensor(np.array(xs)), torch.tensor(np.array(ys)), torch.tensor(np.array(ws)))


def test_linear_plain_gd_matches_autograd():
    x, y, ws = _lin_data()
    steps = 5
    out = N.linear_gd(x, y, torch.full((3,), 0.2, dtype=f64), torch.zeros(3, dtype=torch.bool),
                      steps, np.arange(1, steps + 1), ws)
    w = torch.zeros(3, 3, dtype=f64)
    for _ in range(steps):
        w = w.detach().requires_grad_(True)
        loss = torch.exp(-y * torch.einsum("rnd,rd->rn", x, w)).mean(-1).sum()
        (g,) = torch.autograd.grad(loss, w)
        w = w - 0.2 * g
    np.testing.assert_allclose(out["w"], w.detach().numpy(), rtol=1e-12)
    cos = (w * ws).sum(-1) / w.norm(dim=-1)
    np.testing.assert_allclose(out["cos"][:, -1], cos.detach().numpy(), rtol=1e-12)


def test_linear_normalised_step_by_hand():
    x, y, ws = _lin_data(R=1)
    out = N.linear_gd(x, y, torch.tensor([0.1], dtype=f64), torch.tensor([True]), 2,
                      np.array([1, 2]), ws)
    X, Y = x[0].numpy(), y[0].numpy()
    grad = lambda w: -(np.exp(-Y * (X @ w)) * Y) @ X / len(Y)
    w = -0.1 * grad(np.zeros(3))                    # the first step is plain GD from 0
    rho, v = np.linalg.norm(w), w / np.linalg.norm(w)
    g = grad(w)
    v2 = v - 0.1 * rho * (g - (v @ g) * v)
    w2 = (rho - 0.1 * (v @ g)) * v2 / np.linalg.norm(v2)
    np.testing.assert_allclose(out["w"][0], w2, rtol=1e-12)


def _relu_setup(R=2, n=10, width=6):
    xs, ys = [], []
    for s in range(R):
        a, b = N.circle_data(n, 0.2, seed=3, key=s)
        xs.append(a), ys.append(b)
    g = torch.Generator().manual_seed(0)
    W1 = torch.randn(R, width, 2, generator=g, dtype=f64)
    W2 = torch.randn(R, 1, width, generator=g, dtype=f64)
    return torch.tensor(np.array(xs)), torch.tensor(np.array(ys)), W1, W2


def _loss(W1, W2, x, y):
    f = (torch.relu(x @ W1.transpose(-1, -2)) @ W2.transpose(-1, -2)).squeeze(-1)
    return torch.exp(-y * f).mean(-1).sum()


def test_relu_plain_gd_matches_autograd():
    x, y, W1, W2 = _relu_setup()
    out = N.relu_gd(x, y, W1, W2, torch.full((2,), 0.3, dtype=f64),
                    torch.zeros(2, dtype=torch.bool), 3, np.array([1, 2, 3]))
    A, B = W1.clone(), W2.clone()
    for _ in range(3):
        A, B = A.requires_grad_(True), B.requires_grad_(True)
        ga, gb = torch.autograd.grad(_loss(A, B, x, y), (A, B))
        A, B = (A - 0.3 * ga).detach(), (B - 0.3 * gb).detach()
    np.testing.assert_allclose(out["W1"], A.numpy(), rtol=1e-11)
    np.testing.assert_allclose(out["W2"], B.numpy(), rtol=1e-11)
    rho = A.flatten(1).norm(dim=-1) * B.flatten(1).norm(dim=-1)
    np.testing.assert_allclose(out["rho"][:, -1], rho.numpy(), rtol=1e-12)


def test_relu_normalised_step_by_autograd():
    x, y, W1, W2 = _relu_setup()
    lr = 0.05
    out = N.relu_gd(x, y, W1, W2, torch.full((2,), lr, dtype=f64),
                    torch.ones(2, dtype=torch.bool), 1, np.array([1]))
    n1 = W1.flatten(1).norm(dim=-1).view(2, 1, 1)
    n2 = W2.flatten(1).norm(dim=-1).view(2, 1, 1)
    rho = (n1 * n2).requires_grad_(True)
    V1, V2 = (W1 / n1).requires_grad_(True), (W2 / n2).requires_grad_(True)
    loss = _loss(V1 * rho, V2, x, y)                 # f = rho f(x; V1, V2)
    gr, g1, g2 = torch.autograd.grad(loss, (rho, V1, V2))
    rho2 = rho.detach() - lr * gr
    new = []
    for V, g in ((V1.detach(), g1), (V2.detach(), g2)):
        g = g - (g * V).sum((-1, -2), keepdim=True) * V
        Vt = V - lr * g
        new.append(Vt / Vt.flatten(1).norm(dim=-1).view(2, 1, 1))
    np.testing.assert_allclose(out["W1"], (rho2.sqrt() * new[0]).numpy(), rtol=1e-11)
    np.testing.assert_allclose(out["W2"], (rho2.sqrt() * new[1]).numpy(), rtol=1e-11)
    np.testing.assert_allclose(out["rho"][:, 0], rho2.flatten().numpy(), rtol=1e-11)


def test_experiments_shapes():
    lin = N.linear_experiment(2, 12, 3, 0.1, [("plain", 0.1), ("normalised", 0.1)], 50, 10, 0)
    assert lin["cos"].shape == (4, lin["t"].size) and lin["gamma_svm"].shape == (4,)
    assert np.all(lin["cos"][:, -1] > 0.5)
    rel = N.relu_experiment(2, 12, 0.2, 8, 0.5, 0.1, 30, 10, 0)
    assert rel["gamma"].shape == (4, rel["t"].size)
    np.testing.assert_array_equal(rel["x"][0], rel["x"][1])   # pairs share data

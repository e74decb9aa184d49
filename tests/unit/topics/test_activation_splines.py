"""Unit tests of relubook.topics.activation_splines: the batched engine against autograd and
closed forms, and the spline references against independent computations."""

import numpy as np
import pytest
import torch
from relubook.core import shallow
from relubook.core.data import six_points
from relubook.core.training import adam
from relubook.topics import activation_splines as A


def _pack(nets, seed=0):
    x, _ = six_points()
    return A.build_pack(nets, x, [np.random.default_rng((seed, i)) for i in range(len(nets))])


def _mixed():
    _, y = six_points()
    yt = tuple(y)
    return [A.Net(5, "relu", 1e-2, 1, 0.0, yt), A.Net(3, "leaky", 3e-2, 1, 0.2, yt),
            A.Net(4, "relu2", 2e-2, 2, 0.0, yt), A.Net(6, "relu", 5e-2, 0, 0.0, yt)]


def _torch_objective(pack):
    """The objective of every network, written independently in torch (autograd)."""
    x = torch.tensor(pack.x)
    P = {k: torch.tensor(getattr(pack, k), requires_grad=True) for k in ("w", "b", "v", "c")}

    def total():
        out = []
        for i, net in enumerate(pack.nets):
            sl = pack.neurons(i)
            z = P["w"][sl, None] * x + P["b"][sl, None]
            if net.act == "relu":
                act = torch.relu(z)
            elif net.act == "leaky":
                act = torch.nn.functional.leaky_relu(z, net.leak)
            else:
                act = torch.relu(z) ** 2
            c = P["c"][i]
            f = P["v"][sl] @ act + c[0] + (c[1] * x if net.degree >= 1 else 0) \
                + (c[2] * x**2 if net.degree >= 2 else 0)
            p = 4 if net.act == "relu2" else 2
            pen = 0.5 * net.lam * (P["v"][sl] ** 2 + P["w"][sl].abs() ** p).sum()
            out.append(0.5 * ((f - torch.tensor(pack.Y[i])) ** 2).sum() + pen)
        return torch.stack(out)

    return P, total


def test_objective_and_gradient_match_autograd():
    pack = _pack(_mixed())
    mask = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0]], bool)
    pack.c[:] = np.random.default_rng(5).normal(size=pack.c.shape) * mask
    P, total = _torch_objective(pack)
    tot = total()
    np.testing.assert_allclose(A.objective(pack)["total"], tot.detach().numpy(), rtol=1e-12)
    tot.sum().backward()
    g = A.gradient(pack)
    T = pack.w.size
    np.testing.assert_allclose(g[:T], P["w"].grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(g[T:2 * T], P["b"].grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(g[2 * T:3 * T], P["v"].grad.numpy(), rtol=1e-10, atol=1e-13)
    gc = g[3 * T:].reshape(-1, 3)
    np.testing.assert_allclose(gc[mask], P["c"].grad.numpy()[mask], rtol=1e-10, atol=1e-13)
    assert np.all(gc[~mask] == 0)


def test_train_equals_autograd_adam():
    """train() makes the same Adam steps as autograd + torch.optim.Adam (core.training.adam)."""
    pack = _pack(_mixed(), seed=1)
    P, total = _torch_objective(pack)
    mask = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.float64)
    P["c"].register_hook(lambda g: g * mask)
    sched = lambda t: 1e-2 * 0.5 ** (t / 50)
    adam(list(P.values()), lambda t: (total(), None), 60, 1e-2, schedule=sched)
    A.train(pack, 60, 1e-2, schedule=sched)
    for k in ("w", "b", "v", "c"):
        np.testing.assert_allclose(getattr(pack, k), P[k].detach().numpy(), rtol=1e-9,
                                   atol=1e-12)
    assert np.all(pack.c[[0, 1], 2] == 0) and np.all(pack.c[3, 1:] == 0)


def test_train_lowers_the_objective():
    pack = _pack(_mixed(), seed=2)
    before = A.objective(pack)["total"]
    A.train(pack, 300, 1e-2)
    after = A.objective(pack)["total"]
    assert np.all(after < before)


def test_build_pack_streams_and_errors():
    x, y = six_points()
    nets = [A.Net(7, y=tuple(y)), A.Net(7, "leaky", leak=0.1, y=tuple(y))]
    p = A.build_pack(nets, x, [np.random.default_rng(3), np.random.default_rng(3)])
    np.testing.assert_array_equal(p.w[:7], p.w[7:])
    assert p.offsets.tolist() == [0, 7, 14] and p.c.shape == (2, 3)
    assert np.all(np.abs(p.w) <= 1) and np.all(np.abs(p.v) <= 1 / np.sqrt(7))
    with pytest.raises(ValueError, match="one generator per network"):
        A.build_pack(nets, x, [np.random.default_rng(0)])
    with pytest.raises(ValueError, match="targets"):
        A.build_pack([A.Net(3, y=(1.0, 2.0))], x, [np.random.default_rng(0)])
    with pytest.raises(ValueError, match="unknown activation"):
        A.Net(3, "tanh")
    with pytest.raises(ValueError, match="leak"):
        A.Net(3, "leaky", leak=0.0)


def test_as_relu_is_the_same_function_and_folds_zero_weights():
    _, y = six_points()
    pack = _pack([A.Net(9, "leaky", 1e-3, 1, 0.3, tuple(y))], seed=4)
    pack.w[2] = 0.0
    pack.b[2] = 0.7
    pack.c[0, :2] = [0.2, -0.4]
    net, c = A.as_relu(pack, 0)
    assert net.w.shape == (1, 8)
    t = np.linspace(-4, 4, 801)
    direct = A.eval_pack(pack, t, 0)
    via = shallow.eval_network(net, t)[0] + c[0] + c[1] * t
    np.testing.assert_allclose(via, direct, atol=1e-12)


def test_second_difference_operator_gives_the_slope_changes():
    x, y = six_points()
    D = A.second_difference_operator(x)
    np.testing.assert_allclose(D @ y, shallow.interpolant(x, y).delta_slopes, rtol=1e-13)
    np.testing.assert_allclose(D @ (3 - 2 * x), 0, atol=1e-13)      # affine data: no change


def test_regularised_linear_spline_is_optimal():
    """The closed form against an independent solver (cvxpy) of the generalised lasso."""
    cp = pytest.importorskip("cvxpy")
    x, y = six_points()
    lam = 1e-2
    r = A.regularised_linear_spline(x, y, lam)
    D = A.second_difference_operator(x)
    yh = cp.Variable(x.size)
    cp.Problem(cp.Minimize(0.5 * cp.sum_squares(yh - y) + lam * cp.norm1(D @ yh))).solve()
    np.testing.assert_allclose(r["yhat"], yh.value, atol=1e-6)
    assert r["tv"] == pytest.approx(67 / 3 - r["tv_drop"], rel=1e-12)
    assert r["tv_drop"] == pytest.approx(lam * 310.0555555555555, rel=1e-12)
    with pytest.raises(ValueError, match="too large"):
        A.regularised_linear_spline(x, y, 1.0)


def test_noskip_costs_closed_forms():
    assert A.noskip_cost((1.0, 1.0), 0.0) == 2.0           # f(x) = x needs 2 neurons
    assert A.noskip_cost((-1.0, 1.0), 2.0) == 2.0          # |x|
    x, y = six_points()
    ip = shallow.interpolant(x, y)
    assert A.noskip_min_cost((ip.slopes[0], ip.slopes[-1]), ip.tv) == pytest.approx(67 / 3)
    tilt = shallow.interpolant(x, y + 10 * x)              # end slopes 12.5 + 37/3
    assert A.noskip_min_cost((tilt.slopes[0], tilt.slopes[-1]), tilt.tv) == \
        pytest.approx(0.5 * (67 / 3 + 12.5 + 37 / 3))


def test_noskip_cost_is_attained_by_a_network():
    """f(x) = 2x + (x - 0.5)_+ without a linear skip: a network with path norm max(TV, |S|)."""
    # 2x = 2 (x)_+ − 2 (−x)_+; add (x − 0.5)_+: slopes 2 at −∞ and 3 at +∞, TV(f') = 1
    net = shallow.Shallow(np.array([[1.0, -1.0, 1.0]]), np.array([[0.0, 0.0, -0.5]]),
                          np.array([[2.0, -2.0, 1.0]]), np.zeros(1))
    t = np.linspace(-3, 3, 61)
    np.testing.assert_allclose(shallow.eval_network(net, t)[0], 2 * t + np.maximum(t - 0.5, 0))
    pn = np.abs(net.v * net.w).sum()
    assert pn == pytest.approx(A.noskip_cost((2.0, 3.0), 1.0)) == 5.0


def test_knot_clusters():
    cl = A.knot_clusters(np.array([0.31, -0.6, 0.29, -0.61, 2.0]),
                         np.array([1.0, -2.0, 3.0, 2.0, 0.5]), gap=0.05)
    np.testing.assert_allclose(cl.centres, [-0.605, 0.295, 2.0])
    np.testing.assert_allclose(cl.mass, [4.0, 4.0, 0.5])
    assert cl.counts.tolist() == [2, 2, 1]
    assert A.knot_clusters(np.zeros(0), np.zeros(0), 0.1).centres.size == 0


def test_min_tv2_interpolant():
    x, y = six_points()
    q = A.min_tv2_interpolant(x, y, n_grid=801)
    np.testing.assert_allclose(q(x), y, atol=1e-9)
    assert q.knots.size <= x.size - 3
    assert q.tv2 == pytest.approx(2 * np.abs(q.a).sum())
    # a quadratic needs no knot
    q0 = A.min_tv2_interpolant(x, 1 - x + 2 * x**2, n_grid=201)
    assert q0.tv2 < 1e-9
    # data of a one-knot quadratic spline: the LP finds no more TV(f'') than it has (2)
    q1 = A.min_tv2_interpolant(x, np.maximum(x - 0.2, 0) ** 2, n_grid=201)
    assert q1.tv2 <= 2 + 1e-9

"""Unit tests of relubook.drivers.ch10_activation_splines: the measurements on networks built by
hand to be exactly the reference splines, and the experiment's plumbing at a tiny scale."""

import numpy as np
import pytest
from relubook.core.data import six_points
from relubook.core.shallow import interpolant
from relubook.drivers import ch10_activation_splines as drv
from relubook.topics import activation_splines as A

CFG = {"widths": [6, 9], "lams": [1e-3, 1e-4], "seeds": 2, "main_width": 9, "main_lam": 1e-3,
       "relu2_lam": 1e-3, "leak": 0.1, "tilt": 10.0, "steps": 50, "lr": 1e-2, "lr_decay": 0.1}


def _interpolant_network(extra_dead=0):
    """A balanced ReLU network with a linear skip that is exactly the six-point interpolant."""
    x, y = six_points()
    ip = interpolant(x, y)
    mu = ip.delta_slopes
    w = np.sqrt(np.abs(mu))                     # facing right, |v| = |w|
    b = -w * ip.knots
    v = np.sign(mu) * w
    c0, c1 = y[0] - ip.slopes[0] * x[0], ip.slopes[0]
    if extra_dead:                              # neurons with (almost) nothing left
        w = np.concatenate([w, np.full(extra_dead, 1e-300)])
        b = np.concatenate([b, np.full(extra_dead, 0.3)])
        v = np.concatenate([v, np.full(extra_dead, 1e-300)])
    net = A.Net(w.size, "relu", 1e-4, 1, 0.0, tuple(y))
    return A.Pack((net,), x, y[None], w, b, v, np.array([[c0, c1, 0.0]])), ip


def test_relu_report_of_the_exact_interpolant():
    pack, ip = _interpolant_network(extra_dead=3)
    r = drv.relu_report(pack, 0)
    assert r["sup"] < 1e-13
    assert r["sup_reg"] == pytest.approx(10 * 1e-4, rel=1e-6)   # λ ‖Dᵀs‖_∞ = 10 λ
    assert r["path_norm"] == pytest.approx(ip.tv, rel=1e-13)
    assert r["max_dist"] < 1e-15 and r["n_sig"] == 4
    np.testing.assert_allclose(r["clusters"].centres, ip.knots, atol=1e-13)
    assert r["d2_out"] < 1e-12
    assert r["penalty_ratio"] == pytest.approx(1.0, abs=1e-13) and r["imbalance"] < 1e-13
    np.testing.assert_allclose(r["slopes_inf"], [ip.slopes[0], ip.slopes[-1]], rtol=1e-13)


def test_relu_report_sees_a_spare_knot_and_a_kink_outside():
    pack, ip = _interpolant_network()
    # a pair of opposite neurons: a kink at 0.1 (between data points) undone at 2.0
    pack = A.Pack(pack.nets[:0] + (A.Net(6, y=tuple(pack.Y[0])),), pack.x, pack.Y,
                  np.concatenate([pack.w, [1.0, 1.0]]), np.concatenate([pack.b, [-0.1, -2.0]]),
                  np.concatenate([pack.v, [0.5, -0.5]]), pack.c)
    r = drv.relu_report(pack, 0)
    assert r["max_dist"] == pytest.approx(1.3)                  # the knot at 2.0
    assert r["clusters"].centres.size == 6
    assert r["path_norm"] == pytest.approx(ip.tv + 1.0)
    assert r["d2_out"] > 1e-4 and r["sup"] > 0.1          # K4 sees 0.5 · h, h = 0.002


def test_relu_report_of_a_leaky_network_matches_its_relu_form():
    x, y = six_points()
    a = 0.25
    nets = (A.Net(8, "leaky", 1e-3, 1, a, tuple(y)), A.Net(8, "relu", 1e-3, 1, 0.0, tuple(y)))
    pack = A.build_pack(nets, x, [np.random.default_rng(1), np.random.default_rng(2)])
    A.train(pack, 100, 1e-2)
    relu, c = A.as_relu(pack, 0)
    sl = pack.neurons(1)                         # overwrite net 1 with net 0's ReLU form
    pack.w[sl], pack.b[sl], pack.v[sl], pack.c[1] = relu.w[0], relu.b[0], relu.v[0], c
    r0, r1 = drv.relu_report(pack, 0), drv.relu_report(pack, 1)
    assert r0["lam_eff"] == pytest.approx(1e-3 / (1 - a))
    for k in ("sup", "path_norm", "max_dist", "d2_out"):
        assert r0[k] == pytest.approx(r1[k], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(r0["slopes_inf"], r1["slopes_inf"], rtol=1e-10)


def test_third_difference_share():
    t = np.linspace(-3, 3, 6001)
    f = 1 + t - t**2 + 2 * np.maximum(t - 0.4, 0) ** 2 - 0.5 * np.maximum(t + 1, 0) ** 2
    # round-off of Δ³f (about 1e-16 |f| per stencil) is the floor
    assert drv.third_difference_share(f, t, np.array([0.4, -1.0]), 0.03) < 1e-5
    assert drv.third_difference_share(f, t, np.array([0.4]), 0.03) == pytest.approx(0.2, rel=1e-3)
    # Σ|Δ³f| / h² is TV(f'') = 2 (2 + 0.5)
    assert np.abs(np.diff(f, 3)).sum() / (t[1] - t[0]) ** 2 == pytest.approx(5.0, rel=1e-5)


def test_relu2_report_of_the_exact_quadratic_spline():
    x, y = six_points()
    q = A.min_tv2_interpolant(x, y, n_grid=401)
    w = np.abs(q.a) ** 0.25                     # balanced: |v| = w², v w² = a
    v = np.sign(q.a) * w**2
    net = A.Net(w.size, "relu2", 1e-3, 2, 0.0, tuple(y))
    pack = A.Pack((net,), x, y[None], w, -w * q.knots, v, q.coef[None].copy())
    r = drv.relu2_report(pack, 0, q)
    assert r["sup"] < 1e-9
    assert r["tv2"] == pytest.approx(q.tv2, rel=1e-12)
    assert r["share_off"] < 1e-5 and r["imbalance"] < 1e-12
    assert r["clusters"].centres.size == q.knots.size


def test_experiment_plumbing():
    res = drv.experiment(CFG, seed=3)
    pack, keys = res["pack"], res["keys"]
    n_sweep = 2 * 2 * 2
    assert len(keys) == n_sweep + 5 * 2 and pack.n_nets == len(keys)
    assert {k[0] for k in keys} == {"relu", "leaky", "relu2", "noskip", "noskip_tilt",
                                    "skip_tilt"}
    init = res["init"]
    # networks of one seed index and width share their initial weights
    sl = [init.neurons(res["index"][k]) for k in (("relu", 9, 1e-3, 1), ("relu", 9, 1e-4, 1),
                                                   ("leaky", 9, 1e-3, 1), ("relu2", 9, 1e-3, 1))]
    for s in sl[1:]:
        np.testing.assert_array_equal(init.w[s], init.w[sl[0]])
    assert not np.array_equal(init.w[sl[0]], init.w[init.neurons(res["index"][("relu", 9, 1e-3,
                                                                                0)])])
    assert not np.array_equal(pack.w, init.w)                   # trained
    i = res["index"][("noskip_tilt", 9, 1e-3, 0)]
    np.testing.assert_allclose(pack.Y[i], res["y"] + 10 * res["x"])
    assert pack.c[i, 1] == 0 and pack.c[res["index"][("relu2", 9, 1e-3, 0)], 2] != 0
    rows = drv.sweep_table(res, CFG)
    assert len(rows) == n_sweep and {(r["width"], r["lam"]) for r in rows} == {
        (6, 1e-3), (6, 1e-4), (9, 1e-3), (9, 1e-4)}
    with pytest.raises(ValueError, match="main_width"):
        drv.experiment({**CFG, "main_width": 7}, seed=0)


def test_a_trained_network_reaches_the_regularised_spline():
    """A short training run already lands near the regularised solution (λ = 1e-3)."""
    cfg = {**CFG, "widths": [40], "lams": [1e-3], "seeds": 1, "main_width": 40,
           "steps": 6000, "lr_decay": 0.01}
    res = drv.experiment(cfg, seed=0)
    r = drv.relu_report(res["pack"], res["index"][("relu", 40, 1e-3, 0)])
    assert r["sup_reg"] < 2e-2 and abs(r["path_norm"] / r["tv_reg"] - 1) < 0.03

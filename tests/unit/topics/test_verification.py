"""Unit tests of relubook.topics.verification: bounds, the MILP, 3-SAT, branch and bound."""

import itertools
import math
import sys

import numpy as np
import pytest
from relubook.topics import verification as V
from scipy.optimize import linprog


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def naive(W, b, x, act="relu"):
    phi = (lambda z: max(z, 0.0)) if act == "relu" else math.tanh
    out = []
    for xi in x:
        h = list(xi)
        for k, (w, v) in enumerate(zip(W, b)):
            z = [sum(w[j, i] * h[i] for i in range(w.shape[1])) + v[j] for j in range(w.shape[0])]
            h = z if k == len(W) - 1 else [phi(t) for t in z]
        out.append(h)
    return np.array(out)


def kink():
    """f(x) = relu(x) - 2 relu(x - 1/2) on [-1, 1]: max 1/2 at x = 1/2, min 0 on [-1, 0]
    and at x = 1."""
    return [np.array([[1.0], [1.0]]), np.array([[1.0, -2.0]])], [np.array([0.0, -0.5]),
                                                                 np.array([0.0])]


def enumerate_max(W, b, lo, hi):
    """The maximum by brute force over activation patterns: one LP per pattern (independent
    of the MILP and of relubook.core.regions)."""
    best = -np.inf
    sizes = [w.shape[0] for w in W[:-1]]
    d0 = W[0].shape[1]
    for bits in itertools.product([0, 1], repeat=sum(sizes)):
        pats = np.split(np.array(bits, dtype=float), np.cumsum(sizes)[:-1])
        A, c = np.eye(d0), np.zeros(d0)           # current layer output = A x + c
        G, h = [], []
        for w, v, p in zip(W[:-1], b[:-1], pats):
            P, q = w @ A, w @ c + v
            s = np.where(p > 0, -1.0, 1.0)
            G.append(s[:, None] * P), h.append(-s * q)
            A, c = p[:, None] * P, p * q
        obj, const = W[-1][0] @ A, W[-1][0] @ c + b[-1][0]
        r = linprog(-obj, A_ub=np.vstack(G), b_ub=np.concatenate(h), bounds=list(zip(lo, hi)),
                    method="highs")
        if r.status == 0:
            best = max(best, float(obj @ r.x + const))
    return best


@pytest.mark.parametrize("act", V.ACTIVATIONS)
def test_forward_matches_naive_loop(rng, act):
    W, b = V.random_net([3, 4, 5, 2], rng)
    x = rng.uniform(-1, 1, (6, 3))
    y, pats = V.forward(W, b, x, act)
    np.testing.assert_allclose(y, naive(W, b, x, act), rtol=0, atol=1e-12)
    assert (pats is None) == (act == "tanh")
    if act == "relu":
        assert [p.shape for p in pats] == [(6, 4), (6, 5)]


def test_region_affine_reproduces_the_network_and_its_preactivations(rng):
    W, b = V.random_net([2, 6, 5, 1], rng)
    x = rng.uniform(-1, 1, (20, 2))
    y, pats = V.forward(W, b, x)
    pre, (A, c) = V.region_affine(W, b, pats)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", A, x) + c, y, atol=1e-12)
    h = x
    for (P, q), w, v in zip(pre, W, b):
        z = h @ w.T + v
        np.testing.assert_allclose(np.einsum("nij,nj->ni", P, x) + q, z, atol=1e-12)
        h = np.maximum(z, 0)


@pytest.mark.parametrize("act", V.ACTIVATIONS)
def test_interval_bounds_are_sound_and_exact_on_a_point(rng, act):
    W, b = V.random_net([3, 8, 8, 1], rng)
    lo, hi = -np.ones(3), np.ones(3)
    pre, (L, U) = V.interval_bounds(W, b, lo, hi, act)
    y = V.forward(W, b, rng.uniform(-1, 1, (5000, 3)), act)[0][:, 0]
    assert L[0] <= y.min() and y.max() <= U[0]
    assert len(pre) == 2 and all(np.all(lo_ <= hi_) for lo_, hi_ in pre)
    p = rng.uniform(-1, 1, 3)
    _, (Lp, Up) = V.interval_bounds(W, b, p, p, act)
    fp = V.forward(W, b, p[None], act)[0][0]
    np.testing.assert_allclose([Lp[0], Up[0]], [fp[0], fp[0]], atol=1e-12)


def test_interval_bounds_of_the_kink_network():
    W, b = kink()
    pre, (L, U) = V.interval_bounds(W, b, [-1.0], [1.0])
    np.testing.assert_allclose(pre[0], [[-1.0, -1.5], [1.0, 0.5]])
    # h1 in [0, 1], h2 in [0, 0.5]: f in [0 - 1, 1 - 0]
    assert (L[0], U[0]) == (-1.0, 1.0)


def test_milp_closed_form_on_the_kink_network():
    W, b = kink()
    mx = V.milp_optimum(W, b, [-1.0], [1.0], sense="max")
    mn = V.milp_optimum(W, b, [-1.0], [1.0], sense="min")
    assert abs(mx["value"] - 0.5) < 1e-9 and abs(mx["x"][0] - 0.5) < 1e-6
    assert abs(mn["value"]) < 1e-9 and (mn["x"][0] <= 1e-6 or mn["x"][0] >= 1 - 1e-6)
    assert mx["binaries"] == 2 and mx["relus"] == 2
    reg = V.region_lp(W, b, [-1.0], [1.0], mx["x"])
    assert abs(reg["value"] - 0.5) < 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_milp_equals_the_pattern_enumeration(seed):
    rng = np.random.default_rng(seed)
    W, b = V.random_net([2, 3, 3, 1], rng)
    lo, hi = -np.ones(2), np.ones(2)
    r = V.milp_optimum(W, b, lo, hi)
    assert abs(r["value"] - enumerate_max(W, b, lo, hi)) < 1e-7
    assert abs(r["f_x"] - r["value"]) < 1e-7
    assert V.grid_max(W, b, lo, hi, 301)[0] <= r["value"] + 1e-9
    mn = V.milp_optimum(W, b, lo, hi, sense="min")
    Wn, bn = W[:-1] + [-W[-1]], b[:-1] + [-b[-1]]
    assert abs(-mn["value"] - enumerate_max(Wn, bn, lo, hi)) < 1e-7


def test_stable_neurons_get_no_binary():
    # every hidden pre-activation is >= 1 on the box: no unstable neuron, a pure LP
    W = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, -1.0]])]
    b = [np.array([2.0, 2.0]), np.array([0.0])]
    r = V.milp_optimum(W, b, [-1, -1], [1, 1])
    assert r["binaries"] == 0 and abs(r["value"] - 2.0) < 1e-9


def test_grid_max_samples_and_bad_input(rng):
    W, b = kink()
    v, x = V.grid_max(W, b, [-1.0], [1.0], 5)            # grid -1, -0.5, 0, 0.5, 1
    assert v == 0.5 and x[0] == 0.5
    v2, _ = V.grid_max(W, b, [-1.0], [1.0], 1000, rng=rng)
    assert v2 <= 0.5
    with pytest.raises(ValueError, match="lo <= hi"):
        V.milp_optimum(W, b, [1.0], [-1.0])
    with pytest.raises(ValueError, match="sense"):
        V.milp_optimum(W, b, [-1.0], [1.0], sense="sup")
    with pytest.raises(ValueError, match="activation"):
        V.interval_bounds(W, b, [-1.0], [1.0], act="gelu")
    with pytest.raises(ValueError, match="layers"):
        V.forward(W[:1], b[:1], np.zeros((1, 1)))


def test_random_3sat_draws_distinct_variables(rng):
    cl = V.random_3sat(6, 40, rng)
    assert cl.shape == (40, 3) and np.all(np.abs(cl) >= 1) and np.all(np.abs(cl) <= 6)
    assert all(len(set(np.abs(c))) == 3 for c in cl)
    assert np.any(cl < 0) and np.any(cl > 0)
    with pytest.raises(ValueError):
        V.random_3sat(2, 5, rng)


@pytest.mark.parametrize("encoding", ["sum", "max"])
def test_sat_network_counts_false_clauses_at_vertices(rng, encoding):
    n = 5
    cl = V.random_3sat(n, 12, rng)
    W, b = V.sat_network(cl, n, encoding)
    X = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    y = V.forward(W, b, X)[0][:, 0]
    false = [sum(all((x[abs(v) - 1] > 0.5) != (v > 0) for v in c) for c in cl) for x in X]
    np.testing.assert_allclose(y, false, atol=1e-12)
    assert len(W) == (2 if encoding == "sum" else 3)
    # y >= 0 on the cube
    assert V.forward(W, b, rng.random((2000, n)))[0].min() >= -1e-12


@pytest.mark.parametrize("encoding", ["sum", "max"])
def test_the_unsatisfiable_formula_has_minimum_one(rng, encoding):
    cl = np.array([[s1 * 1, s2 * 2, s3 * 3] for s1, s2, s3 in itertools.product([1, -1], repeat=3)])
    W, b = V.sat_network(cl, 3, encoding)
    assert V.forward(W, b, rng.random((5000, 3)))[0].min() >= 1 - 1e-12
    r = V.milp_optimum(W, b, np.zeros(3), np.ones(3), sense="min")
    assert abs(r["value"] - 1.0) < 1e-6
    assert V.brute_force_sat(cl, 3) == (False, 0)
    assert V.pysat_sat(cl)[0] is False


def test_satisfiable_formula_reaches_zero_at_a_model(rng):
    cl = V.random_3sat(6, 8, rng)
    sat, model = V.pysat_sat(cl)
    assert sat
    x = np.array([1.0 if v > 0 else 0.0 for v in sorted(model, key=abs)])
    W, b = V.sat_network(cl, 6)
    assert V.forward(W, b, x[None])[0][0, 0] == 0.0
    assert V.milp_optimum(W, b, np.zeros(6), np.ones(6), sense="min")["value"] <= 1e-6


def test_brute_force_counts_models_and_agrees_with_pysat(rng):
    assert V.brute_force_sat(np.array([[1, 2, 3]]), 3) == (True, 7)
    assert V.brute_force_sat(np.array([[1, 2, 3]]), 4) == (True, 14)
    for _ in range(20):
        cl = V.random_3sat(7, 35, rng)
        s, count = V.brute_force_sat(cl, 7, chunk=16)
        assert s == V.pysat_sat(cl)[0] and (count > 0) == s


def test_sat_network_rejects_bad_clauses():
    with pytest.raises(ValueError, match="DIMACS"):
        V.sat_network(np.array([[1, 0, 2]]), 3)
    with pytest.raises(ValueError, match="DIMACS"):
        V.sat_network(np.array([[1, 2, 4]]), 3)
    with pytest.raises(ValueError, match="encoding"):
        V.sat_network(np.array([[1, 2, 3]]), 3, encoding="and")


@pytest.mark.parametrize("act", V.ACTIVATIONS)
def test_branch_and_bound_brackets_the_maximum(rng, act):
    W, b = V.random_net([2, 6, 6, 1], rng)
    lo, hi = -np.ones(2), np.ones(2)
    ref = V.milp_optimum(W, b, lo, hi)["value"] if act == "relu" else \
        V.grid_max(W, b, lo, hi, 801, act=act)[0]
    counts = []
    for eps in (0.1, 0.01, 0.001):
        r = V.branch_and_bound(W, b, lo, hi, eps, act=act)
        assert r["gap"] <= eps and r["best"] <= r["ub"]
        assert r["ub"] >= ref - 1e-9
        if act == "relu":
            assert r["best"] <= ref + 1e-9
        f_best = V.forward(W, b, r["x_best"][None], act)[0][0, 0]
        assert abs(f_best - r["best"]) < 1e-12
        counts.append(r["boxes"])
    assert counts == sorted(counts)
    with pytest.raises(ValueError, match="eps"):
        V.branch_and_bound(W, b, lo, hi, 0.0)


def test_branch_and_bound_on_the_kink_network():
    W, b = kink()
    r = V.branch_and_bound(W, b, [-1.0], [1.0], 1e-3)
    assert r["best"] <= 0.5 <= r["ub"] <= r["best"] + 1e-3


def test_bisection_float_and_certified():
    f = V.bisect_sigmoid_threshold(1.0, 0.0, 0.75, 0.0, 2.0, 60)
    assert f["x_star"] == pytest.approx(math.log(3), abs=1e-15)
    ulp = np.spacing(math.log(3))
    assert np.all(f["err"] <= f["width"] + 4 * ulp)
    assert f["err"][-1] < 8 * ulp
    e = V.bisect_sigmoid_threshold(1.0, 0.0, (3, 4), 0.0, 2.0, 120, exact=True, dps=60)
    k = np.arange(1, 121)
    np.testing.assert_array_equal(e["width"], 2.0 * 2.0 ** -k)
    assert np.all(e["err"] <= e["width"])
    # another threshold: sigma(2x + 1) >= 0.9 at x* = (ln 9 - 1) / 2
    g = V.bisect_sigmoid_threshold(2.0, 1.0, (9, 10), -3.0, 3.0, 60, exact=True)
    assert g["x_star"] == pytest.approx((math.log(9) - 1) / 2, abs=1e-15)
    assert g["err"][-1] < 1e-15
    with pytest.raises(ValueError):
        V.bisect_sigmoid_threshold(-1.0, 0.0, 0.75, 0.0, 2.0, 10)


def test_marabou_missing_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "maraboupy", None)
    with pytest.raises(ImportError, match="pip install --no-deps maraboupy"):
        V.marabou_core()


def test_marabou_agrees_with_the_milp(rng):
    pytest.importorskip("maraboupy", reason=V.MARABOU_INSTALL)
    W, b = kink()
    r = V.marabou_bounds(W, b, [-1.0], [1.0])
    assert r["upper"] >= 0.5 - 1e-9 and r["lower"] <= 1e-9
    assert V.marabou_decide(W, b, [-1.0], [1.0], 0.49)["verdict"] == "sat"
    assert V.marabou_decide(W, b, [-1.0], [1.0], 0.51)["verdict"] == "unsat"
    W, b = V.random_net([2, 6, 6, 1], rng)
    lo, hi = -np.ones(2), np.ones(2)
    v = V.milp_optimum(W, b, lo, hi)["value"]
    below = V.marabou_decide(W, b, lo, hi, v - 1e-4)
    assert below["verdict"] == "sat" and below["f_x"] >= v - 1e-4 - 1e-9
    assert V.marabou_decide(W, b, lo, hi, v + 1e-4)["verdict"] == "unsat"
    assert V.marabou_bounds(W, b, lo, hi)["upper"] >= v

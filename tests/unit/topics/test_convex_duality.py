"""Unit tests of relubook.topics.convex_duality: closed forms (one data point, orthonormal
atoms, soft thresholding), brute-force sampling of the dual constraint, weak and strong
duality, the cutting-plane method against the full program, the missing-solver error and the
hand-written gradients of the batched trainer (against torch autograd)."""

import math
import sys

import numpy as np
import pytest
import torch
from relubook.topics import convex_duality as T


def dense_circle(count=200_001):
    th = np.linspace(0, 2 * np.pi, count)
    return np.stack([np.cos(th), np.sin(th)], axis=1)


def F(Z, v, U):
    return np.maximum(U @ Z.T, 0.0) @ v


# ----------------------------------------------------------------------------- solver errors
def test_unknown_solver_fails_with_the_install_command():
    with pytest.raises(T.SolverMissing, match="pip install -r requirements.txt") as err:
        T.require_solver("NOT_A_SOLVER")
    assert "cvxpy==1.9.3" in str(err.value) and "NOT_A_SOLVER" in str(err.value)
    assert isinstance(err.value, ImportError)


def test_a_missing_solver_is_never_replaced_by_another():
    Z = T.with_bias(np.array([-1.0, 0.0, 1.0]))
    with pytest.raises(T.SolverMissing, match="requirements.txt"):
        T.solve_convex_program(Z, np.array([0.0, 1.0, 0.0]), 0.1, solver="NOT_A_SOLVER")
    with pytest.raises(T.SolverMissing):
        T.restricted_dual(np.eye(3), np.ones(3), 0.1, solver="MOSEK_NOT_INSTALLED")
    with pytest.raises(T.SolverMissing):
        T.require_solver(None)


def test_missing_cvxpy_fails_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cvxpy", None)  # import cvxpy now raises ImportError
    with pytest.raises(T.SolverMissing, match="pip install -r requirements.txt"):
        T.require_solver("CLARABEL")


def test_the_pinned_solvers_are_available():
    cp = T.require_solver("CLARABEL")
    assert cp.__version__ == "1.9.3"
    T.require_solver("scs")  # case-insensitive


# ----------------------------------------------------------------------------- network
def test_with_bias_and_network_outputs():
    Z = T.with_bias(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(Z, [[1.0, 1.0], [-2.0, 1.0]])
    assert T.with_bias(np.zeros((4, 2))).shape == (4, 3)
    U, a = np.array([[1.0, 0.0], [-1.0, 0.5]]), np.array([2.0, -1.0])
    np.testing.assert_allclose(T.network_outputs(Z, U, a), [2 * 1 - 0, 0 - 2.5])
    with pytest.raises(ValueError):
        T.with_bias(np.zeros((2, 2, 2)))


def test_objective_is_minimised_by_balancing_at_the_norm_form():
    rng = np.random.default_rng(0)
    Z = T.with_bias(rng.uniform(-1, 1, 5))
    y = rng.normal(size=5)
    U, a = rng.normal(size=(4, 2)), rng.normal(size=4)
    beta = 0.3
    r = T.network_outputs(Z, U, a) - y
    norm_form = 0.5 * r @ r + beta * np.sum(np.abs(a) * np.linalg.norm(U, axis=1))
    g = np.sqrt(np.abs(a) / np.linalg.norm(U, axis=1))  # balances ||γu|| = |α|/γ
    balanced = T.objective(Z, y, U * g[:, None], a / g, beta)
    assert balanced == pytest.approx(norm_form, rel=1e-12)
    for s in (0.5, 2.0):
        assert T.objective(Z, y, U * s, a / s, beta) >= norm_form - 1e-12


# ----------------------------------------------------------------------------- arrangements
def test_patterns_in_one_dimension_are_the_2n_minus_1_half_lines():
    x = np.array([-1.0, -0.6, -0.1, 0.3, 0.7, 1.0])
    P = T.arrangement_patterns(T.with_bias(x))
    assert P.shape == (2 * x.size - 1, x.size)
    sampled = np.unique(dense_circle(20_001) @ T.with_bias(x).T > 0, axis=0)
    sampled = sampled[sampled.any(axis=1)]
    assert {r.tobytes() for r in P} == {r.tobytes() for r in sampled}
    # each pattern is an upper set {x >= t} or a lower set {x <= t}
    for row in P.astype(int):
        d = np.diff(row)
        assert np.all(d >= 0) or np.all(d <= 0)


def test_patterns_in_two_dimensions_count_the_cells_of_a_generic_arrangement():
    rng = np.random.default_rng(1)
    n = 9
    Z = T.with_bias(rng.uniform(-1, 1, (n, 2)))
    P = T.arrangement_patterns(Z)
    # a central arrangement of n generic planes in R^3 has 2 (1 + (n-1) + C(n-1, 2)) cells
    assert P.shape[0] == 2 * (1 + (n - 1) + math.comb(n - 1, 2)) - 1
    sampled = np.unique(T.unit_directions(400_000) @ Z.T > 0, axis=0)
    assert {r.tobytes() for r in sampled if r.any()} <= {r.tobytes() for r in P}
    with pytest.raises(ValueError, match="d = 2 or 3"):
        T.arrangement_patterns(np.ones((3, 4)))


def test_unit_directions_are_unit_and_spread():
    U = T.unit_directions(1000)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0)
    assert np.abs(U.mean(axis=0)).max() < 1e-2


# ----------------------------------------------------------------------------- dual constraint
def test_circle_extrema_match_dense_sampling():
    rng = np.random.default_rng(2)
    Ud = dense_circle()
    for _ in range(5):
        Z2, v = rng.normal(size=(7, 2)), rng.normal(size=7)
        hi, uh, lo, ul = T.circle_extrema(Z2, v)
        vals = F(Z2, v, Ud)
        # sampling misses by at most Lipschitz constant × half the spacing
        lip = np.abs(v) @ np.linalg.norm(Z2, axis=1) * np.pi / (Ud.shape[0] - 1)
        assert hi >= vals.max() - 1e-12 and hi - vals.max() <= lip
        assert lo <= vals.min() + 1e-12 and vals.min() - lo <= lip
        assert F(Z2, v, uh[None])[0] == pytest.approx(hi)
        assert np.linalg.norm(ul) == pytest.approx(1.0)


def test_dual_constraint_one_point_closed_form():
    z = np.array([[0.6, 1.0]])
    M, u = T.dual_constraint(z, np.array([-2.0]))
    assert M == pytest.approx(2.0 * np.linalg.norm(z))
    np.testing.assert_allclose(u, z[0] / np.linalg.norm(z), atol=1e-12)
    z3 = np.array([[0.3, -0.4, 1.0]])
    M3, _ = T.dual_constraint(np.vstack([z3, 2 * z3 + [0.1, 0, 0]]), np.array([1.5, 0.0]))
    assert M3 == pytest.approx(1.5 * np.linalg.norm(z3))


def test_dual_constraint_in_three_dimensions_is_exact():
    rng = np.random.default_rng(3)
    Ud = T.unit_directions(1_000_000)
    for _ in range(3):
        Z = T.with_bias(rng.uniform(-1, 1, (10, 2)))
        v = rng.normal(size=10)
        M, u = T.dual_constraint(Z, v)
        sampled = np.abs(F(Z, v, Ud)).max()
        assert M >= sampled - 1e-12          # never below a direction actually attained
        assert M - sampled < 2e-3 * M         # and the lattice comes close to it
        assert abs(F(Z, v, u[None])[0]) == pytest.approx(M)
        assert np.linalg.norm(u) == pytest.approx(1.0)
        assert T.dual_constraint(Z, 3 * v)[0] == pytest.approx(3 * M)  # homogeneous


def test_scaled_dual_bound_is_a_lower_bound_and_scales_to_feasibility():
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(-1, 1, 6))
    Z, y = T.with_bias(x), rng.normal(size=6)
    beta = 0.2
    p = T.solve_convex_program(Z, y, beta)["value"]
    for _ in range(5):
        out = T.scaled_dual_bound(Z, y, rng.normal(size=6), beta)
        assert out["bound"] <= p + 1e-9
        assert out["scale"] * out["M"] <= beta * (1 + 1e-12)
    assert T.scaled_dual_bound(Z, y, np.zeros(6), beta)["bound"] == 0.0


# ----------------------------------------------------------------------------- convex programs
def test_convex_program_one_point_is_soft_thresholding():
    z = np.array([[0.5, 1.0]])
    beta, nz = 0.3, np.linalg.norm(z)
    for y in (2.0, -1.5, 0.1):
        p = T.solve_convex_program(z, np.array([y]), beta)["value"]
        t = beta / nz  # cost of one unit of output
        a = np.sign(y) * max(abs(y) - t, 0.0)
        assert p == pytest.approx(0.5 * (a - y) ** 2 + t * abs(a), abs=1e-8)


def test_convex_program_strong_duality_and_recovered_network():
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(-1, 1, 7))
    Z, y = T.with_bias(x), rng.normal(size=7)
    beta = 0.05
    sol = T.solve_convex_program(Z, y, beta)
    U, a = T.recover_neurons(sol["V"], sol["W"])
    assert T.objective(Z, y, U, a, beta) == pytest.approx(sol["value"], abs=1e-7)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), np.abs(a))  # balanced
    v = y - sol["yhat"]
    assert T.scaled_dual_bound(Z, y, v, beta)["bound"] == pytest.approx(sol["value"], abs=1e-6)
    np.testing.assert_allclose(T.neuron_activity(Z, v, U, a, beta), 1.0, atol=1e-5)
    # the factor-of-two trap: β/2 on the norms is a different, smaller optimum
    assert T.solve_convex_program(Z, y, beta / 2)["value"] < sol["value"] - 1e-3
    # no network does better: random ones and their rescalings
    for _ in range(20):
        Ur, ar = rng.normal(size=(5, 2)), rng.normal(size=5)
        assert T.objective(Z, y, Ur, ar, beta) >= sol["value"] - 1e-9


def test_recover_neurons_drops_round_off_and_signs_w():
    V = np.array([[3.0, 4.0], [1e-9, 0.0]])
    W = np.array([[0.0, 0.0], [0.0, 1.0]])
    U, a = T.recover_neurons(V, W)
    np.testing.assert_allclose(a, [np.sqrt(5.0), -1.0])
    np.testing.assert_allclose(U[0], [3 / np.sqrt(5), 4 / np.sqrt(5)])


def test_lasso_and_restricted_dual_closed_forms_and_duality():
    y, beta = np.array([2.0, -0.5, 0.1, -3.0]), 0.4
    c, val = T.nonneg_lasso(np.eye(4), y, beta)
    soft = np.sign(y) * np.maximum(np.abs(y) - beta, 0)
    np.testing.assert_allclose(c, soft, atol=1e-7)
    assert val == pytest.approx(0.5 * np.sum((soft - y) ** 2) + beta * np.abs(soft).sum())
    v, dval = T.restricted_dual(np.eye(4), y, beta)
    np.testing.assert_allclose(v, np.clip(y, -beta, beta), atol=1e-7)
    assert dval == pytest.approx(val, abs=1e-7)
    rng = np.random.default_rng(6)
    A = np.maximum(rng.normal(size=(6, 9)), 0)
    y = rng.normal(size=6)
    assert T.restricted_dual(A, y, 0.1)[1] == pytest.approx(T.nonneg_lasso(A, y, 0.1)[1],
                                                            abs=1e-7)


def test_cutting_plane_matches_the_full_program():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (10, 2))
    Z, y = T.with_bias(x), np.sign(x[:, 0] * x[:, 1])
    beta = 0.05
    cut = T.cutting_plane(Z, y, beta, rng.normal(size=(3, 3)), tol=1e-4)
    p = T.solve_convex_program(Z, y, beta)["value"]
    assert cut["converged"] and cut["violation"][-1] < 1e-4
    assert cut["lower_bound"] <= p + 1e-8 and p <= cut["primal"] + 1e-8
    assert cut["duality_gap"] < 1e-3
    assert T.objective(Z, y, cut["U"], cut["alpha"], beta) == pytest.approx(cut["primal"])
    assert cut["rounds"] == len(cut["gap"]) == len(cut["violation"])
    np.testing.assert_allclose(T.neuron_activity(Z, cut["v"], cut["U"], cut["alpha"], beta),
                               1.0, atol=1e-4)
    one_d = T.cutting_plane(T.with_bias(x[:, 0]), y, beta, np.array([[1.0, 0.0]]))
    p1 = T.solve_convex_program(T.with_bias(x[:, 0]), y, beta)["value"]
    assert one_d["lower_bound"] <= p1 + 1e-8 <= one_d["primal"] + 2e-8


# ----------------------------------------------------------------------------- training
def test_first_adam_step_follows_the_autograd_gradient():
    rng = np.random.default_rng(8)
    x = np.sort(rng.uniform(-1, 1, 6))
    Z, y = T.with_bias(x), rng.normal(size=6)
    betas, widths = [0.1, 0.02], [3, 5]
    out = T.train_restarts(Z, y, betas, widths, 1, 1e-3, np.random.default_rng(9), decay=1.0)
    for k, (b, w) in enumerate(zip(betas, widths)):
        sel = out["net"] == k
        U0 = torch.tensor(out["U0"][sel], requires_grad=True)
        a0 = torch.tensor(out["alpha0"][sel], requires_grad=True)
        f = torch.relu(torch.tensor(Z) @ U0.T) @ a0
        loss = 0.5 * ((f - torch.tensor(y)) ** 2).sum() + 0.5 * b * ((U0**2).sum() + (a0**2).sum())
        loss.backward()
        # Adam's first step is lr * g / (|g| + eps): the sign of the gradient, size ~lr
        step_u = out["U0"][sel] - out["U"][sel]
        step_a = out["alpha0"][sel] - out["alpha"][sel]
        gu, ga = U0.grad.numpy(), a0.grad.numpy()
        np.testing.assert_allclose(step_u, 1e-3 * gu / (np.abs(gu) + 1e-8), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(step_a, 1e-3 * ga / (np.abs(ga) + 1e-8), rtol=1e-6, atol=1e-12)
        assert out["objective"][k] == pytest.approx(
            T.objective(Z, y, out["U"][sel], out["alpha"][sel], b))
    assert out["alpha0"][out["net"] == 1].max() <= 1 / np.sqrt(5)  # U(±1/√width)


def test_training_lowers_the_objective_and_validates_input():
    x = np.array([-1.0, -0.6, -0.1, 0.3, 0.7, 1.0])
    Z, y = T.with_bias(x), np.array([0.0, 1.0, -0.5, 0.8, -0.2, 0.5])
    rng = np.random.default_rng(10)
    before = T.train_restarts(Z, y, [0.01] * 2, [20, 20], 0, 1e-2, np.random.default_rng(10))
    after = T.train_restarts(Z, y, [0.01] * 2, [20, 20], 2000, 1e-2, rng)
    assert np.all(after["objective"] < 0.5 * before["objective"])
    with pytest.raises(ValueError, match="width"):
        T.train_restarts(Z, y, [0.1], [0], 10, 1e-2, rng)
    with pytest.raises(ValueError):
        T.train_restarts(Z, y, [0.1, 0.2], [3], 10, 1e-2, rng)

r"""Convex duality of two-layer ReLU networks (Ergen & Pilanci, 2021).

The network is :math:`f(X)=\sum_{j=1}^m(\tilde Xu_j)_+\alpha_j` with the bias inside
:math:`u_j` (:math:`\tilde X=[X,\mathbf 1]`, :func:`with_bias`) and no skip connection; its
training objective with weight decay is

.. math:: \tfrac12\|f(X)-y\|^2+\tfrac\beta2\sum_j(\|u_j\|^2+\alpha_j^2)
          \;=\;\tfrac12\|f(X)-y\|^2+\beta\sum_j|\alpha_j|\,\|u_j\|

at its minimum over the rescalings :math:`(u,\alpha)\mapsto(\gamma u,\alpha/\gamma)`
(:func:`objective`). Note the factor: :math:`\beta/2` on the squares is :math:`\beta` on the
norms.

* **Convex program** (:func:`solve_convex_program`): with the activation patterns
  :math:`D_i=\operatorname{diag}(\mathbf 1[\tilde Xu\ge0])` of the hyperplane arrangement
  (:func:`arrangement_patterns`, exact for inputs of dimension 1 or 2 with the bias),
  :math:`\min\ \tfrac12\|\sum_iD_i\tilde X(v_i-w_i)-y\|^2+\beta\sum_i(\|v_i\|+\|w_i\|)` s.t.
  :math:`(2D_i-I)\tilde Xv_i\ge0,\ (2D_i-I)\tilde Xw_i\ge0`. Its nonzero :math:`v_i` (:math:`w_i`)
  are neurons :math:`u=v_i/\sqrt{\|v_i\|}`, :math:`\alpha=\sqrt{\|v_i\|}` (:math:`-\sqrt{\|w_i\|}`)
  (:func:`recover_neurons`).
* **Dual**: :math:`\max_v\ v^\top y-\tfrac12\|v\|^2` s.t.
  :math:`\max_{\|u\|\le1}|v^\top(\tilde Xu)_+|\le\beta`. The constraint's left side is computed
  exactly by :func:`dual_constraint` (a finite candidate set: stationary points on the
  arrangement's cells and on its great circles). Any :math:`v` scaled to feasibility gives a
  lower bound on the optimum (:func:`scaled_dual_bound`), solver-free.
* **Cutting planes** (:func:`cutting_plane`): the dual restricted to finitely many directions
  (:func:`restricted_dual`), the most violated direction added each round, the primal
  recovered by a non-negative lasso (:func:`nonneg_lasso`).
* **Non-convex training** (:func:`train_restarts`): many networks of different widths and
  penalties trained at once by full-batch Adam, as one flat list of neurons.

The convex solver is cvxpy (pinned in ``requirements.txt``); :func:`require_solver` fails with
the install command when it or the requested solver is missing, and nothing falls back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.init import uniform_fan_in
from ..core.training import exp_decay

__all__ = [
    "INSTALL",
    "SOLVER_OPTIONS",
    "SolverMissing",
    "arrangement_patterns",
    "circle_extrema",
    "cutting_plane",
    "dual_constraint",
    "dual_objective",
    "network_outputs",
    "neuron_activity",
    "nonneg_lasso",
    "objective",
    "recover_neurons",
    "require_solver",
    "restricted_dual",
    "scaled_dual_bound",
    "solve_convex_program",
    "train_restarts",
    "unit_directions",
    "with_bias",
]

#: The command that installs the book's pinned solver stack.
INSTALL = ("pip install -r requirements.txt  (it pins cvxpy==1.9.3 with clarabel==0.11.1, "
           "scs==3.3.1, osqp==1.1.3 and highspy==1.16.0)")
#: Tolerances passed to each solver (tight: the chapter compares optima to 1e-6).
SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9,
                 "max_iter": 500},
    "SCS": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000},
}


class SolverMissing(ImportError):
    """cvxpy, or the convex solver asked for, is not installed."""


def require_solver(name: str = "CLARABEL"):
    """The ``cvxpy`` module, after checking that it can use the solver ``name``.

    Raises
    ------
    SolverMissing
        cvxpy cannot be imported, or ``name`` is not among ``cvxpy.installed_solvers()``;
        the message gives :data:`INSTALL`. There is no fallback to another solver.
    """
    try:
        import cvxpy as cp
    except ImportError as err:  # pragma: no cover - exercised through a monkeypatched import
        raise SolverMissing(f"this chapter solves convex programs with cvxpy, which is not "
                            f"installed; install it with: {INSTALL}") from err
    installed = cp.installed_solvers()
    if not isinstance(name, str) or name.upper() not in installed:
        raise SolverMissing(f"convex solver {name!r} is not available to cvxpy (installed: "
                            f"{', '.join(installed) or 'none'}); install the pinned solvers "
                            f"with: {INSTALL}")
    return cp


def _solve(problem, solver: str) -> float:
    name = solver.upper()
    problem.solve(solver=name, **SOLVER_OPTIONS.get(name, {}))
    if problem.status not in ("optimal",):
        raise RuntimeError(f"solver {name} ended with status {problem.status!r}")
    return float(problem.value)


# --------------------------------------------------------------------------- the network
def with_bias(x: np.ndarray) -> np.ndarray:
    r"""Inputs with a constant coordinate appended, :math:`\tilde x=[x,1]`.

    Shape:
        - x: (n,) or (n, d)
        - Output: (n, d + 1)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n,) or (n, d), got {x.shape}")
    return np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)


def network_outputs(Z: np.ndarray, U: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    r"""f = Σ_j (Z u_j)_+ α_j at the rows of ``Z``.

    Shape:
        - Z: (n, d); U: (m, d); alpha: (m,)
        - Output: (n,)
    """
    U = np.atleast_2d(np.asarray(U, dtype=float))
    return np.maximum(np.asarray(Z, dtype=float) @ U.T, 0.0) @ np.asarray(alpha, dtype=float)


def objective(Z: np.ndarray, y: np.ndarray, U: np.ndarray, alpha: np.ndarray,
              beta: float) -> float:
    r"""The non-convex objective ½‖f(Z) − y‖² + β/2 Σ_j (‖u_j‖² + α_j²) of one network."""
    r = network_outputs(Z, U, alpha) - np.asarray(y, dtype=float)
    return float(0.5 * r @ r + 0.5 * beta * (np.sum(np.square(U)) + np.sum(np.square(alpha))))


def dual_objective(y: np.ndarray, v: np.ndarray) -> float:
    r"""The dual objective v^T y − ½‖v‖²."""
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    return float(v @ y - 0.5 * v @ v)


# --------------------------------------------------------------------------- arrangements
def _circle_angles(Z2: np.ndarray) -> np.ndarray:
    """Sorted angles in [0, 2π) where z_k^T (cos θ, sin θ) = 0, for the nonzero rows z_k."""
    nz = np.linalg.norm(Z2, axis=1) > 1e-14 * max(1.0, np.abs(Z2).max(initial=0.0))
    a = np.arctan2(-Z2[nz, 0], Z2[nz, 1])
    return np.sort(np.concatenate([a, a + np.pi]) % (2 * np.pi))


def _arc_midpoints(angles: np.ndarray) -> np.ndarray:
    if angles.size == 0:
        return np.array([0.0, np.pi])
    nxt = np.append(angles[1:], angles[0] + 2 * np.pi)
    keep = nxt - angles > 1e-12
    return 0.5 * (angles[keep] + nxt[keep])


def _angle_vectors(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def unit_directions(count: int) -> np.ndarray:
    """``count`` nearly uniform unit vectors of R³ (a Fibonacci lattice; deterministic)."""
    k = np.arange(count) + 0.5
    z = 1 - 2 * k / count
    r = np.sqrt(1 - z * z)
    phi = np.pi * (3 - math.sqrt(5)) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def arrangement_patterns(Z: np.ndarray, *, samples: int = 4096) -> np.ndarray:
    r"""The activation patterns 1[Z u > 0] of every open cell of the arrangement {z_k^T u = 0}.

    Exact for d = 2 (one cell per arc between consecutive zeros on the circle) and for d = 3
    (every cell of an arrangement of distinct great circles on the sphere has a vertex; the
    four cells around the vertex ±z_i × z_k are listed, plus the cells met by ``samples``
    lattice directions as a safeguard against degenerate vertices). The empty pattern is left
    out (its neurons are zero on the data).

    Returns
    -------
    np.ndarray
        Boolean patterns, one per row, distinct, in lexicographic order.

    Shape:
        - Z: (n, d), d in {2, 3}
        - Output: (P, n)
    """
    Z = np.asarray(Z, dtype=float)
    n, d = Z.shape
    if d == 2:
        pats = (Z @ _angle_vectors(_arc_midpoints(_circle_angles(Z))).T > 0).T
    elif d == 3:
        i, k = np.triu_indices(n, 1)
        q = np.cross(Z[i], Z[k])
        ok = np.linalg.norm(q, axis=1) > 1e-12
        i, k, q = i[ok], k[ok], q[ok] / np.linalg.norm(q[ok], axis=1, keepdims=True)
        rows = []
        for sgn in (1.0, -1.0):
            base = (sgn * q) @ Z.T > 0  # (pairs, n)
            for si in (False, True):
                for sk in (False, True):
                    b = base.copy()
                    b[np.arange(len(i)), i] = si
                    b[np.arange(len(i)), k] = sk
                    rows.append(b)
        rows.append(unit_directions(samples) @ Z.T > 0)
        pats = np.concatenate(rows, axis=0)
    else:
        raise ValueError(f"exact arrangements are implemented for d = 2 or 3 columns, got {d}")
    pats = np.unique(pats, axis=0)
    return pats[pats.any(axis=1)]


def _values(Z: np.ndarray, v: np.ndarray, U: np.ndarray) -> np.ndarray:
    return np.maximum(U @ Z.T, 0.0) @ v


def _circle_candidates(Z2: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit vectors of R² among which F(u) = Σ v_k (z_k^T u)_+ has its max and min on the
    circle: the zeros of the z_k and, on each arc, ± the gradient Z^T (D v) of that arc."""
    ang = _circle_angles(Z2)
    mids = _angle_vectors(_arc_midpoints(ang))
    g = ((mids @ Z2.T > 0) * v) @ Z2  # (arcs, 2)
    gn = np.linalg.norm(g, axis=1)
    g = g[gn > 0] / gn[gn > 0, None]
    return np.concatenate([_angle_vectors(ang), g, -g, mids], axis=0)


def circle_extrema(Z2: np.ndarray, v: np.ndarray) -> tuple[float, np.ndarray, float, np.ndarray]:
    r"""Exact max and min of F(u) = Σ_k v_k (z_k^T u)_+ over the unit circle of R².

    On each arc between zeros of the z_k, F(u) = g^T u with g = Z^T D v, whose extrema on the
    arc are at ±g/‖g‖ when inside it, else at the arc's ends; F is evaluated at all of these.

    Returns
    -------
    (max F, argmax, min F, argmin)

    Shape:
        - Z2: (n, 2); v: (n,)
    """
    Z2, v = np.asarray(Z2, dtype=float), np.asarray(v, dtype=float)
    if Z2.ndim != 2 or Z2.shape[1] != 2 or v.shape != (Z2.shape[0],):
        raise ValueError(f"need Z2 (n, 2) and v (n,), got {Z2.shape} and {v.shape}")
    cand = _circle_candidates(Z2, v)
    val = _values(Z2, v, cand)
    hi, lo = int(np.argmax(val)), int(np.argmin(val))
    return float(val[hi]), cand[hi], float(val[lo]), cand[lo]


def _plane_basis(z: np.ndarray) -> np.ndarray:
    """An orthonormal basis (3, 2) of the plane z^T u = 0."""
    _, _, vt = np.linalg.svd(z[None, :])
    return vt[1:].T


def dual_constraint(Z: np.ndarray, v: np.ndarray, *, patterns: np.ndarray | None = None
                    ) -> tuple[float, np.ndarray]:
    r"""M = max_{‖u‖≤1} |v^T (Z u)_+| exactly, and a unit maximiser u* (with sign: v^T(Zu*)_+ = ±M).

    The maximum sits on the unit sphere (the function is positively homogeneous). For d = 2 it
    is :func:`circle_extrema`. For d = 3 it is either inside a cell of the arrangement, at
    ±Z^T D v / ‖·‖ for that cell's pattern D, or on one of the great circles z_k^T u = 0, where
    it is a circle problem in the plane's coordinates; F is evaluated at all these candidates.

    Parameters
    ----------
    patterns
        The cell patterns (:func:`arrangement_patterns`), to reuse across calls (d = 3).

    Shape:
        - Z: (n, d), d in {2, 3}; v: (n,)
        - Output: (M, u*) with u* of shape (d,)
    """
    Z, v = np.asarray(Z, dtype=float), np.asarray(v, dtype=float)
    n, d = Z.shape
    if v.shape != (n,):
        raise ValueError(f"v must have shape ({n},), got {v.shape}")
    if d == 2:
        hi, uh, lo, ul = circle_extrema(Z, v)
        return (hi, uh) if hi >= -lo else (-lo, ul)
    if d != 3:
        raise ValueError(f"the exact dual constraint is implemented for d = 2 or 3, got {d}")
    pats = arrangement_patterns(Z) if patterns is None else np.asarray(patterns, dtype=bool)
    g = (pats * v) @ Z
    gn = np.linalg.norm(g, axis=1)
    g = g[gn > 0] / gn[gn > 0, None]
    cands = [g, -g]
    for k in range(n):
        if np.linalg.norm(Z[k]) == 0:
            continue
        B = _plane_basis(Z[k])
        cands.append(_circle_candidates(Z @ B, v) @ B.T)
    cand = np.concatenate(cands, axis=0)
    val = np.abs(_values(Z, v, cand))
    j = int(np.argmax(val))
    return float(val[j]), cand[j]


def neuron_activity(Z: np.ndarray, v: np.ndarray, U: np.ndarray, alpha: np.ndarray,
                    beta: float) -> np.ndarray:
    r"""sgn(α_j) v^T (Z û_j)_+ / β for each neuron (û = u/‖u‖): 1 where the dual constraint is
    active with the neuron's sign, as optimality requires of every neuron of an optimum."""
    U = np.atleast_2d(np.asarray(U, dtype=float))
    uh = U / np.linalg.norm(U, axis=1, keepdims=True)
    return np.sign(alpha) * _values(Z, np.asarray(v, dtype=float), uh) / beta


def scaled_dual_bound(Z: np.ndarray, y: np.ndarray, v: np.ndarray, beta: float, *,
                      patterns: np.ndarray | None = None) -> dict[str, float]:
    r"""A certified lower bound on the optimum from any dual point v, without a solver.

    With M = max_u |v^T(Zu)_+| (:func:`dual_constraint`), s v is dual-feasible for
    0 ≤ s ≤ β/M; the dual objective along the ray is best at s = min(β/M, v^T y/‖v‖²), and
    weak duality makes d = s v^T y − s²‖v‖²/2 a lower bound on the training objective of every
    network of every width.

    Returns
    -------
    dict
        ``bound`` d, ``M``, ``scale`` s.
    """
    v, y = np.asarray(v, dtype=float), np.asarray(y, dtype=float)
    M, _ = dual_constraint(Z, v, patterns=patterns)
    vv = float(v @ v)
    if vv == 0:
        return {"bound": 0.0, "M": M, "scale": 0.0}
    s = max(0.0, float(v @ y) / vv)
    if M > 0:
        s = min(s, beta / M)
    return {"bound": s * float(v @ y) - 0.5 * s * s * vv, "M": M, "scale": s}


# --------------------------------------------------------------------------- convex programs
def solve_convex_program(Z: np.ndarray, y: np.ndarray, beta: float, *,
                         patterns: np.ndarray | None = None,
                         solver: str = "CLARABEL") -> dict[str, Any]:
    r"""The convex program of two-layer ReLU training over all arrangement patterns (a SOCP).

    min ½‖Σ_i D_i Z (v_i − w_i) − y‖² + β Σ_i (‖v_i‖ + ‖w_i‖)
    s.t. (2D_i − I) Z v_i ≥ 0, (2D_i − I) Z w_i ≥ 0.

    Returns
    -------
    dict
        ``value`` (the optimum), ``V``, ``W`` (P, d), ``yhat`` (n,), ``patterns`` (P, n),
        ``status``, ``solver``, ``seconds``.
    """
    cp = require_solver(solver)
    Z, y = np.asarray(Z, dtype=float), np.asarray(y, dtype=float)
    pats = arrangement_patterns(Z) if patterns is None else np.asarray(patterns, dtype=bool)
    D = pats.T.astype(float)  # (n, P)
    S = 2 * D - 1
    P, d = pats.shape[0], Z.shape[1]
    V, W = cp.Variable((P, d)), cp.Variable((P, d))
    yhat = cp.sum(cp.multiply(D, Z @ (V - W).T), axis=1)
    cons = [cp.multiply(S, Z @ V.T) >= 0, cp.multiply(S, Z @ W.T) >= 0]
    obj = 0.5 * cp.sum_squares(yhat - y) + beta * (cp.sum(cp.norm(V, 2, axis=1))
                                                  + cp.sum(cp.norm(W, 2, axis=1)))
    prob = cp.Problem(cp.Minimize(obj), cons)
    t0 = time.perf_counter()
    value = _solve(prob, solver)
    Vv, Wv = np.asarray(V.value), np.asarray(W.value)
    return {"value": value, "V": Vv, "W": Wv, "yhat": (D * (Z @ (Vv - Wv).T)).sum(axis=1),
            "patterns": pats, "status": prob.status, "solver": solver.upper(),
            "seconds": time.perf_counter() - t0}


def recover_neurons(V: np.ndarray, W: np.ndarray, rel_tol: float = 1e-4
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""Balanced neurons of the convex program's solution: u = v/√‖v‖, α = √‖v‖ (−√‖w‖ for w).

    Rows with norm at most ``rel_tol`` times the largest are dropped (solver round-off).

    Shape:
        - V, W: (P, d)
        - Output: U (m, d), alpha (m,)
    """
    R = np.concatenate([np.asarray(V, dtype=float), np.asarray(W, dtype=float)])
    sign = np.concatenate([np.ones(len(V)), -np.ones(len(W))])
    nrm = np.linalg.norm(R, axis=1)
    keep = nrm > rel_tol * nrm.max(initial=0.0)
    root = np.sqrt(nrm[keep])
    return R[keep] / root[:, None], sign[keep] * root


def restricted_dual(A: np.ndarray, y: np.ndarray, beta: float, *,
                    solver: str = "CLARABEL") -> tuple[np.ndarray, float]:
    r"""The dual restricted to finitely many atoms a_k = (Z u_k)_+:
    max v^T y − ½‖v‖² s.t. |a_k^T v| ≤ β for every k.

    Shape:
        - A: (n, K) (atoms as columns); y: (n,)
        - Output: (v (n,), optimum)
    """
    cp = require_solver(solver)
    A, y = np.asarray(A, dtype=float), np.asarray(y, dtype=float)
    v = cp.Variable(A.shape[0])
    prob = cp.Problem(cp.Maximize(v @ y - 0.5 * cp.sum_squares(v)), [cp.abs(A.T @ v) <= beta])
    value = _solve(prob, solver)
    return np.asarray(v.value), value


def nonneg_lasso(A: np.ndarray, y: np.ndarray, beta: float, *,
                 solver: str = "CLARABEL") -> tuple[np.ndarray, float]:
    r"""The primal over fixed unit directions: min_{c⁺, c⁻ ≥ 0} ½‖A(c⁺ − c⁻) − y‖² + β Σ(c⁺ + c⁻).

    A column a_k = (Z u_k)_+ with ‖u_k‖ = 1 and weight c_k = c⁺_k − c⁻_k is the neuron
    u = √|c_k| u_k, α = sgn(c_k) √|c_k|, so the optimum is a network's training objective.

    Shape:
        - A: (n, K); y: (n,)
        - Output: (c (K,), optimum)
    """
    cp = require_solver(solver)
    A, y = np.asarray(A, dtype=float), np.asarray(y, dtype=float)
    cpos, cneg = cp.Variable(A.shape[1], nonneg=True), cp.Variable(A.shape[1], nonneg=True)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ (cpos - cneg) - y)
                                  + beta * cp.sum(cpos + cneg)))
    value = _solve(prob, solver)
    return np.asarray(cpos.value) - np.asarray(cneg.value), value


def cutting_plane(Z: np.ndarray, y: np.ndarray, beta: float, U0: np.ndarray, *,
                  tol: float = 1e-4, max_rounds: int = 200, solver: str = "CLARABEL",
                  prune: float = 1e-4, progress: bool = False) -> dict[str, Any]:
    r"""The cutting-plane method for the dual's infinitely many constraints.

    Each round solves the dual restricted to the directions found so far
    (:func:`restricted_dual`), finds the most violated direction
    u* = argmax_{‖u‖=1} |v^T(Zu)_+| (:func:`dual_constraint`, exact), and adds it, until the
    relative violation M/β − 1 is below ``tol``. The restricted optimum d_k (an upper bound on
    the true optimum: fewer constraints) and the scaled lower bound l_k
    (:func:`scaled_dual_bound`) bracket it; their relative gap is recorded each round. At the
    end the primal is recovered by :func:`nonneg_lasso` on the directions found; weights below
    ``prune`` times the largest (solver round-off) are dropped, and ``primal`` is the training
    objective (:func:`objective`) of the network that remains.

    Returns
    -------
    dict
        ``violation``, ``upper``, ``lower``, ``gap`` per round (arrays); ``rounds``,
        ``converged``; ``directions`` (K, d); ``v``; ``weights`` c (K,); ``lasso`` (its
        optimum); ``primal``; ``lower_bound``; ``duality_gap`` (primal − lower)/primal; ``U``, ``alpha`` (the network
        of the nonzero weights).
    """
    Z, y = np.asarray(Z, dtype=float), np.asarray(y, dtype=float)
    U = np.atleast_2d(np.asarray(U0, dtype=float))
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    pats = arrangement_patterns(Z) if Z.shape[1] == 3 else None
    hist: dict[str, list[float]] = {"violation": [], "upper": [], "lower": [], "gap": []}
    converged = False
    rounds = range(max_rounds)
    if progress:
        from tqdm import tqdm  # a text bar (tqdm.auto warns without ipywidgets)

        rounds = tqdm(rounds, desc="cutting planes", mininterval=1.0)
    for _ in rounds:
        v, upper = restricted_dual(np.maximum(Z @ U.T, 0.0), y, beta, solver=solver)
        M, ustar = dual_constraint(Z, v, patterns=pats)
        lb = scaled_dual_bound(Z, y, v, beta, patterns=pats)["bound"]
        hist["violation"].append(M / beta - 1)
        hist["upper"].append(upper)
        hist["lower"].append(lb)
        hist["gap"].append((upper - lb) / upper)
        if M / beta - 1 < tol:
            converged = True
            break
        U = np.concatenate([U, ustar[None, :]], axis=0)
    c, lasso = nonneg_lasso(np.maximum(Z @ U.T, 0.0), y, beta, solver=solver)
    keep = np.abs(c) > prune * np.abs(c).max(initial=0.0)
    Un = U[keep] * np.sqrt(np.abs(c[keep]))[:, None]
    an = np.sign(c[keep]) * np.sqrt(np.abs(c[keep]))
    primal = objective(Z, y, Un, an, beta)
    out = {k: np.asarray(h) for k, h in hist.items()}
    out.update(rounds=len(hist["gap"]), converged=converged, directions=U, v=v, weights=c,
               lasso=lasso, primal=primal, lower_bound=hist["lower"][-1],
               duality_gap=(primal - hist["lower"][-1]) / primal, U=Un, alpha=an)
    return out


# --------------------------------------------------------------------------- gradient descent
def train_restarts(Z: np.ndarray, y: np.ndarray, betas: Sequence[float],
                   widths: Sequence[int], steps: int, lr: float, rng: np.random.Generator, *,
                   decay: float = 0.01, progress: bool = False) -> dict[str, Any]:
    r"""Full-batch Adam on ½‖f(Z) − y‖² + β_k/2 Σ_j(‖u_j‖² + α_j²) for many networks at once.

    Network k has width ``widths[k]`` and penalty ``betas[k]``; all neurons of all networks form
    one flat list (network k owns a contiguous block), so different widths share one program.
    Initialisation: u ~ U(±1/√d) entrywise, α ~ U(±1/√width) (``nn.Linear``'s default law).
    Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, as ``torch.optim.Adam``), gradients by hand, the
    learning rate decayed as lr·decay^{t/steps} (:func:`relubook.core.training.exp_decay`).

    Returns
    -------
    dict
        ``objective`` (N,), ``U`` (M, d), ``alpha`` (M,), ``net`` (M,) (owner of each neuron),
        ``U0``, ``alpha0`` (the initial neurons), ``seconds``.
    """
    Z, y = np.asarray(Z, dtype=float), np.asarray(y, dtype=float)
    widths = np.asarray(widths, dtype=int)
    betas = np.asarray(betas, dtype=float)
    if widths.ndim != 1 or betas.shape != widths.shape or np.any(widths < 1):
        raise ValueError(f"need one positive width and one β per network, got {widths}, {betas}")
    d = Z.shape[1]
    net = np.repeat(np.arange(widths.size), widths)
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]])
    P = np.empty((net.size, d + 1))
    P[:, :d] = uniform_fan_in((net.size, d), d, rng)
    P[:, d] = uniform_fan_in((net.size,), 1, rng) / np.sqrt(widths[net])
    P0 = P.copy()
    bm = betas[net][:, None]
    m1, m2 = np.zeros_like(P), np.zeros_like(P)
    b1, b2, eps = 0.9, 0.999, 1e-8
    sched = exp_decay(lr, max(steps, 1), decay)
    it = range(steps)
    if progress:
        from tqdm import tqdm  # a text bar (tqdm.auto warns without ipywidgets)

        it = tqdm(it, desc="Adam", mininterval=1.0)
    g = np.empty_like(P)
    t0 = time.perf_counter()
    for t in it:
        pre = Z @ P[:, :d].T  # (n, M)
        act = np.maximum(pre, 0.0)
        r = (np.add.reduceat(act * P[:, d], starts, axis=1) - y[:, None])[:, net]
        g[:, d] = np.einsum("nm,nm->m", act, r)
        g[:, :d] = ((pre > 0) * r * P[:, d]).T @ Z
        g += bm * P
        m1 *= b1
        m1 += (1 - b1) * g
        m2 *= b2
        m2 += (1 - b2) * g * g
        c1, c2 = 1 - b1 ** (t + 1), 1 - b2 ** (t + 1)
        P -= (sched(t) / c1) * m1 / (np.sqrt(m2 / c2) + eps)
    seconds = time.perf_counter() - t0
    act = np.maximum(Z @ P[:, :d].T, 0.0)
    res = np.add.reduceat(act * P[:, d], starts, axis=1) - y[:, None]
    obj = 0.5 * np.sum(res * res, axis=0) + 0.5 * betas * np.add.reduceat(
        np.sum(P * P, axis=1), starts)
    return {"objective": obj, "U": P[:, :d].copy(), "alpha": P[:, d].copy(), "net": net,
            "U0": P0[:, :d], "alpha0": P0[:, d], "seconds": seconds}

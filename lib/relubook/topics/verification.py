r"""Verification of small networks: exact MILP, interval bounds, 3-SAT, ε-reachability, bisection.

A network here is a pair of lists ``W``, ``b`` of float64 layers in ``torch.nn.Linear``'s
layout (``W[k]`` is ``(d_{k+1}, d_k)``), with an activation :math:`\phi` (ReLU or tanh) on
every hidden layer and a *linear* output layer,

.. math:: f(x)=W_L\,\phi(W_{L-1}\cdots\phi(W_1x+b_1)\cdots)+b_L .

Blocks (each checked against an independent one in the unit tests):

* :func:`forward` (hidden layers through :func:`relubook.core.regions.forward_patterns`),
  :func:`region_affine` (the affine form on an activation region, from
  :func:`relubook.core.regions.affine_form`);
* :func:`interval_bounds`: interval bound propagation (IBP), sound and incomplete;
* :func:`milp_optimum`: the exact optimum of a ReLU network over a box as a big-M
  mixed-integer linear program, solved by HiGHS through :func:`scipy.optimize.milp`;
  :func:`region_lp`: the linear program on one activation region;
* :func:`marabou_bounds`, :func:`marabou_decide`: the same network in the Marabou verifier
  (optional dependency ``maraboupy``);
* :func:`random_3sat`, :func:`sat_network`, :func:`brute_force_sat`, :func:`pysat_sat`: random
  3-SAT formulas and their encoding as a ReLU network whose minimum over :math:`[0,1]^n` is
  0 when the formula is satisfiable and at least 1 when it is not;
* :func:`branch_and_bound`: ε-approximate maximisation (reachability) by interval branch and
  bound, for ReLU or tanh networks;
* :func:`bisect_sigmoid_threshold`: bisection for the transcendental threshold of one sigmoid
  neuron, in float64 and in exact interval arithmetic (mpmath).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterator, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from ..core.regions import affine_form, forward_patterns

__all__ = [
    "ACTIVATIONS",
    "MARABOU_INSTALL",
    "bisect_sigmoid_threshold",
    "branch_and_bound",
    "brute_force_sat",
    "forward",
    "grid_max",
    "interval_bounds",
    "marabou_bounds",
    "marabou_core",
    "marabou_decide",
    "milp_optimum",
    "pysat_sat",
    "random_3sat",
    "random_net",
    "region_affine",
    "region_lp",
    "sat_network",
]

Array = np.ndarray
ACTIVATIONS = ("relu", "tanh")
#: The command that installs the optional Marabou verifier (a binary wheel without
#: dependencies: it cannot replace the pinned torch).
MARABOU_INSTALL = "pip install --no-deps maraboupy==2.0.0"


def _check(W: Sequence[Array], b: Sequence[Array]) -> tuple[list[Array], list[Array]]:
    Ws = [np.asarray(w, dtype=np.float64) for w in W]
    bs = [np.asarray(v, dtype=np.float64) for v in b]
    if len(Ws) < 2 or len(Ws) != len(bs):
        raise ValueError(f"need >= 2 layers (hidden + linear output) and one bias per layer, "
                         f"got {len(Ws)} weights and {len(bs)} biases")
    # every layer's shape is checked by core.regions (same rules and messages)
    forward_patterns(Ws, bs, np.zeros((1, np.shape(Ws[0])[-1] if Ws[0].ndim else 0)))
    return Ws, bs


def _box(lo, hi, d: int) -> tuple[Array, Array]:
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (d,)).copy()
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (d,)).copy()
    if not np.all(lo <= hi):
        raise ValueError(f"the box needs lo <= hi, got {lo} and {hi}")
    return lo, hi


def _activation(act: str):
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; valid: {', '.join(ACTIVATIONS)}")
    return (lambda z: np.maximum(z, 0.0)) if act == "relu" else np.tanh


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send the C-level standard output (file descriptor 1) to /dev/null for a while: HiGHS
    prints diagnostics there that scipy's ``disp=False`` does not silence."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # pragma: no cover - no fd 1
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def random_net(widths: Sequence[int], rng: np.random.Generator, scale: float = 1.0
               ) -> tuple[list[Array], list[Array]]:
    r"""A random network with i.i.d. :math:`\mathcal N(0,\text{scale}^2)` weights and biases.

    ``widths`` = ``(d_0, d_1, ..., d_L)``; returns ``W`` (``(d_{k+1}, d_k)`` each) and ``b``.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 3 or min(widths) < 1:
        raise ValueError(f"widths must list d_0, >= 1 hidden width and d_L, all >= 1: {widths}")
    W = [scale * rng.standard_normal((o, i)) for i, o in itertools.pairwise(widths)]
    b = [scale * rng.standard_normal(o) for o in widths[1:]]
    return W, b


def forward(W: Sequence[Array], b: Sequence[Array], x: Array, act: str = "relu"
            ) -> tuple[Array, list[Array] | None]:
    """``f(x)`` ``(N, d_L)`` and, for ReLU, the hidden activation patterns (``None`` for tanh).

    ReLU hidden layers go through :func:`relubook.core.regions.forward_patterns`.
    """
    Ws, bs = _check(W, b)
    x = np.asarray(x, dtype=np.float64)
    if act == "relu":
        h, pats = forward_patterns(Ws[:-1], bs[:-1], x)
        return h @ Ws[-1].T + bs[-1], pats
    phi = _activation(act)
    h = x
    for w, v in zip(Ws[:-1], bs[:-1]):
        h = phi(h @ w.T + v)
    return h @ Ws[-1].T + bs[-1], None


def region_affine(W: Sequence[Array], b: Sequence[Array], patterns: Sequence[Array]
                  ) -> tuple[list[tuple[Array, Array]], tuple[Array, Array]]:
    r"""The affine forms on the activation region of each pattern (ReLU networks).

    Returns ``pre`` (for each hidden layer ``k``, ``(P_k, q_k)`` with pre-activation
    :math:`z_k(x)=P_kx+q_k` on the region) and ``(A, c)`` with :math:`f(x)=Ax+c` there; the
    hidden affine maps come from :func:`relubook.core.regions.affine_form`.

    Shape:
        patterns[k]: (N, d_{k+1}); P_k: (N, d_{k+1}, d_0); A: (N, d_L, d_0); c: (N, d_L)
    """
    Ws, bs = _check(W, b)
    N, d0 = np.asarray(patterns[0]).shape[0], Ws[0].shape[1]
    pre = []
    for k in range(len(Ws)):
        if k == 0:
            A_prev, c_prev = np.broadcast_to(np.eye(d0), (N, d0, d0)), np.zeros((N, d0))
        else:
            A_prev, c_prev = affine_form(Ws[:k], bs[:k], patterns[:k])
        P = np.einsum("ij,njk->nik", Ws[k], A_prev)
        q = c_prev @ Ws[k].T + bs[k]
        pre.append((P, q))
    return pre[:-1], pre[-1]


def interval_bounds(W: Sequence[Array], b: Sequence[Array], lo, hi, act: str = "relu"
                    ) -> tuple[list[tuple[Array, Array]], tuple[Array, Array]]:
    r"""Interval bound propagation over the box ``[lo, hi]``: sound, not tight.

    With :math:`W=W^+ + W^-` (positive and negative parts), a box :math:`[l,u]` maps to
    :math:`[W^+l+W^-u+b,\ W^+u+W^-l+b]`; the activation (monotone) maps bounds to bounds.
    ``lo`` and ``hi`` are ``(d_0,)`` or ``(N, d_0)`` (a batch of boxes).

    Returns
    -------
    pre : list of (L_k, U_k)
        Bounds of every hidden layer's pre-activation.
    out : (L, U)
        Bounds of the output.
    """
    Ws, bs = _check(W, b)
    phi = _activation(act)
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    pre = []
    for k, (w, v) in enumerate(zip(Ws, bs)):
        wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
        L = lo @ wp.T + hi @ wn.T + v
        U = hi @ wp.T + lo @ wn.T + v
        if k == len(Ws) - 1:
            return pre, (L, U)
        pre.append((L, U))
        lo, hi = phi(L), phi(U)
    raise AssertionError("unreachable")


def milp_optimum(W: Sequence[Array], b: Sequence[Array], lo, hi, *, sense: str = "max",
                 output: int = 0, mip_rel_gap: float = 0.0, time_limit: float | None = None
                 ) -> dict:
    r"""The exact maximum (or minimum) of output ``output`` of a ReLU network over a box.

    The big-M encoding, with pre-activation bounds :math:`z\in[L,U]` from
    :func:`interval_bounds` (valid, so no feasible point is cut off): a neuron with
    :math:`U\le0` is fixed to :math:`h=0`, one with :math:`L\ge0` to :math:`h=z`, and an
    unstable one gets a binary :math:`\delta` and

    .. math:: h\ge z,\quad h\ge0,\quad h\le z-L(1-\delta),\quad h\le U\delta .

    HiGHS solves it through :func:`scipy.optimize.milp` with ``mip_rel_gap`` (0 by default:
    solve to optimality up to HiGHS's absolute gap and feasibility tolerances).

    Returns
    -------
    dict
        ``value`` (the optimum the solver reports), ``x`` (its input), ``f_x`` (the network
        evaluated at ``x``: the witness), ``binaries``, ``relus``, ``seconds``, ``status``,
        ``nodes`` (branch-and-bound nodes, when HiGHS reports them).
    """
    Ws, bs = _check(W, b)
    if sense not in ("max", "min"):
        raise ValueError(f"sense must be 'max' or 'min', got {sense!r}")
    d0 = Ws[0].shape[1]
    lo, hi = _box(lo, hi, d0)
    pre, _ = interval_bounds(Ws, bs, lo, hi)
    sizes = [d0] + [w.shape[0] for w in Ws[:-1]]
    offs = np.concatenate([[0], np.cumsum(sizes)])            # x, h_1, ..., h_{L-1}
    unstable = [(L < 0) & (U > 0) for L, U in pre]
    n_bin = int(sum(u.sum() for u in unstable))
    n = int(offs[-1]) + n_bin
    lb, ub = np.zeros(n), np.zeros(n)
    lb[:d0], ub[:d0] = lo, hi
    rows, rlo, rhi = [], [], []
    bin_at = int(offs[-1])
    for k, (L, U) in enumerate(pre):
        w, v, prev, cur = Ws[k], bs[k], slice(offs[k], offs[k + 1]), offs[k + 1]
        for j in range(w.shape[0]):
            h = cur + j
            ub[h] = max(U[j], 0.0)
            if U[j] <= 0:                                       # inactive: h = 0
                continue
            r = np.zeros(n)
            r[prev], r[h] = -w[j], 1.0                           # h - W h_prev
            if L[j] >= 0:                                       # active: h = z
                rows.append(r), rlo.append(v[j]), rhi.append(v[j])
                continue
            rows.append(r), rlo.append(v[j]), rhi.append(np.inf)          # h >= z
            r2 = r.copy()
            r2[bin_at] = -L[j]
            rows.append(r2), rlo.append(-np.inf), rhi.append(v[j] - L[j])  # h <= z - L(1 - d)
            r3 = np.zeros(n)
            r3[h], r3[bin_at] = 1.0, -U[j]
            rows.append(r3), rlo.append(-np.inf), rhi.append(0.0)          # h <= U d
            lb[bin_at], ub[bin_at] = 0.0, 1.0
            bin_at += 1
    c = np.zeros(n)
    c[offs[-2]:offs[-1]] = Ws[-1][output]
    sign = -1.0 if sense == "max" else 1.0
    integrality = np.zeros(n)
    integrality[int(offs[-1]):] = 1
    cons = [LinearConstraint(np.array(rows), rlo, rhi)] if rows else []
    opts = {"mip_rel_gap": mip_rel_gap, "presolve": True}
    if time_limit is not None:
        opts["time_limit"] = float(time_limit)
    t0 = time.perf_counter()
    with _quiet_stdout():
        res = milp(sign * c, integrality=integrality, bounds=Bounds(lb, ub), constraints=cons,
                   options=opts)
    seconds = time.perf_counter() - t0
    if res.x is None:
        raise RuntimeError(f"HiGHS found no solution: {res.message}")
    x = res.x[:d0].copy()
    value = float(c @ res.x + bs[-1][output])
    f_x = float(forward(Ws, bs, x[None])[0][0, output])
    return {"value": value, "x": x, "f_x": f_x, "binaries": n_bin,
            "relus": int(sum(sizes[1:])), "seconds": seconds, "status": int(res.status),
            "message": str(res.message), "nodes": getattr(res, "mip_node_count", None),
            "gap": getattr(res, "mip_gap", None)}


def region_lp(W: Sequence[Array], b: Sequence[Array], lo, hi, x: Array, *, sense: str = "max",
              output: int = 0) -> dict:
    r"""The optimum of output ``output`` over the activation region of ``x`` within the box.

    On the closed region :math:`\{x': \operatorname{sgn} z_k(x')\text{ as at }x\}` the network
    is affine (:func:`region_affine`), so its optimum there is a linear program (HiGHS via
    :func:`scipy.optimize.linprog`). Returns ``value``, ``x`` and the pattern's ``size``.
    """
    Ws, bs = _check(W, b)
    d0 = Ws[0].shape[1]
    lo, hi = _box(lo, hi, d0)
    x = np.asarray(x, dtype=np.float64).reshape(1, d0)
    _, pats = forward(Ws, bs, x)
    pre, (A, c) = region_affine(Ws, bs, pats)
    G, h = [], []
    for (P, q), p in zip(pre, pats):
        s = np.where(p[0], -1.0, 1.0)                 # active: -z <= 0; inactive: z <= 0
        G.append(s[:, None] * P[0]), h.append(-s * q[0])
    sign = -1.0 if sense == "max" else 1.0
    res = linprog(sign * A[0, output], A_ub=np.vstack(G), b_ub=np.concatenate(h),
                  bounds=list(zip(lo, hi)), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the region LP failed: {res.message}")
    return {"value": float(A[0, output] @ res.x + c[0, output]), "x": res.x,
            "size": int(sum(p.size for p in pats))}


def grid_max(W: Sequence[Array], b: Sequence[Array], lo, hi, points: int, *,
             act: str = "relu", rng: np.random.Generator | None = None, output: int = 0,
             chunk: int = 1 << 16) -> tuple[float, Array]:
    """The largest output on a dense grid of ``points`` per axis (or, with ``rng``, at
    ``points`` uniform samples): a lower bound of the maximum. Returns (value, argmax)."""
    Ws, bs = _check(W, b)
    d0 = Ws[0].shape[1]
    lo, hi = _box(lo, hi, d0)
    if rng is None:
        axes = [np.linspace(a, z, int(points)) for a, z in zip(lo, hi)]
        X = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d0)
    else:
        X = lo + (hi - lo) * rng.random((int(points), d0))
    best, arg = -np.inf, None
    for i in range(0, X.shape[0], chunk):
        y = forward(Ws, bs, X[i:i + chunk], act)[0][:, output]
        j = int(np.argmax(y))
        if y[j] > best:
            best, arg = float(y[j]), X[i + j]
    return best, arg


# ---------------------------------------------------------------------------------------------
# Marabou (optional)


def marabou_core():
    """``maraboupy.MarabouCore``, or an ImportError that names the install command."""
    try:
        from maraboupy import MarabouCore
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"this needs the Marabou verifier: {MARABOU_INSTALL}") from e
    return MarabouCore


def _marabou_query(Ws: list[Array], bs: list[Array], lo: Array, hi: Array, output: int):
    """An InputQuery: inputs x, then per hidden layer pre-activations z and ReLU outputs h,
    then the output y. Only the input box is given; Marabou derives every other bound."""
    mc = marabou_core()
    q = mc.InputQuery()
    d0 = Ws[0].shape[1]
    n = d0 + 2 * sum(w.shape[0] for w in Ws[:-1]) + 1
    q.setNumberOfVariables(n)
    for i in range(d0):
        q.setLowerBound(i, float(lo[i]))
        q.setUpperBound(i, float(hi[i]))
    prev = list(range(d0))
    nxt = d0
    for w, v in zip(Ws[:-1], bs[:-1]):
        z = list(range(nxt, nxt + w.shape[0]))
        h = list(range(nxt + w.shape[0], nxt + 2 * w.shape[0]))
        nxt += 2 * w.shape[0]
        for j in range(w.shape[0]):
            eq = mc.Equation()                               # z_j - W_j h_prev = b_j
            eq.addAddend(1.0, z[j])
            for i, p in enumerate(prev):
                eq.addAddend(-float(w[j, i]), p)
            eq.setScalar(float(v[j]))
            q.addEquation(eq)
            mc.addReluConstraint(q, z[j], h[j])
            q.setLowerBound(h[j], 0.0)
        prev = h
    y = nxt
    eq = mc.Equation()
    eq.addAddend(1.0, y)
    for i, p in enumerate(prev):
        eq.addAddend(-float(Ws[-1][output, i]), p)
    eq.setScalar(float(bs[-1][output]))
    q.addEquation(eq)
    for i in range(d0):
        q.markInputVariable(i, i)
    q.markOutputVariable(y, 0)
    return q, y


def _marabou_options(mc, timeout: int):
    o = mc.Options()
    o._verbosity = 0
    o._timeoutInSeconds = int(timeout)
    o._numWorkers = 1
    o._numBlasThreads = 1
    o._snc = False
    o._solveWithMILP = False
    o._tighteningStrategy = "deeppoly"
    o._milpTightening = "none"
    o._splittingStrategy = "auto"
    o._sncSplittingStrategy = "auto"
    o._lpSolver = ""
    o._numSimulations = 10
    o._preprocessorBoundTolerance = 1e-10
    o._splitThreshold = 20
    o._initialTimeout = 5
    o._timeoutFactor = 1.5
    o._onlineDivides = 2
    o._initialDivides = 0
    return o


def marabou_bounds(W: Sequence[Array], b: Sequence[Array], lo, hi, *, output: int = 0,
                   timeout: int = 60) -> dict:
    """Marabou's sound output bounds after its preprocessing and DeepPoly bound tightening
    (``MarabouCore.calculateBounds``): ``lower``, ``upper``, ``seconds``."""
    Ws, bs = _check(W, b)
    lo, hi = _box(lo, hi, Ws[0].shape[1])
    mc = marabou_core()
    q, y = _marabou_query(Ws, bs, lo, hi, output)
    t0 = time.perf_counter()
    code, bounds, _ = mc.calculateBounds(q, _marabou_options(mc, timeout), "/dev/null")
    seconds = time.perf_counter() - t0
    if y not in bounds:
        raise RuntimeError(f"Marabou computed no bounds (exit code {code!r})")
    return {"lower": float(bounds[y][0]), "upper": float(bounds[y][1]), "seconds": seconds}


def marabou_decide(W: Sequence[Array], b: Sequence[Array], lo, hi, threshold: float, *,
                   output: int = 0, timeout: int = 60) -> dict:
    r"""Marabou's complete decision of "is :math:`f(x)\ge` ``threshold`` for some x in the box?"

    Returns ``verdict`` (``"sat"``, ``"unsat"``, or Marabou's other exit codes such as
    ``"TIMEOUT"``), ``x`` (the witness when sat), ``f_x`` (the network there) and ``seconds``.
    """
    Ws, bs = _check(W, b)
    d0 = Ws[0].shape[1]
    lo, hi = _box(lo, hi, d0)
    mc = marabou_core()
    q, y = _marabou_query(Ws, bs, lo, hi, output)
    q.setLowerBound(y, float(threshold))
    t0 = time.perf_counter()
    code, vals, _ = mc.solve(q, _marabou_options(mc, timeout), "/dev/null")
    seconds = time.perf_counter() - t0
    x = np.array([vals[i] for i in range(d0)]) if code == "sat" else None
    f_x = float(forward(Ws, bs, x[None])[0][0, output]) if x is not None else None
    return {"verdict": str(code), "x": x, "f_x": f_x, "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# 3-SAT as ReLU reachability


def random_3sat(n: int, m: int, rng: np.random.Generator) -> Array:
    """``m`` random 3-clauses over ``n >= 3`` variables: three distinct variables per clause,
    each negated with probability 1/2. DIMACS literals: ``+i`` is :math:`x_i`, ``-i`` its
    negation (``i`` from 1). Shape ``(m, 3)``, int."""
    if n < 3 or m < 1:
        raise ValueError(f"need n >= 3 variables and m >= 1 clauses, got n={n}, m={m}")
    var = np.stack([rng.choice(n, 3, replace=False) for _ in range(m)]) + 1
    sign = np.where(rng.random((m, 3)) < 0.5, -1, 1)
    return (var * sign).astype(np.int64)


def sat_network(clauses: Array, n: int, encoding: str = "sum") -> tuple[list[Array], list[Array]]:
    r"""A ReLU network on :math:`[0,1]^n` whose minimum is 0 iff the formula is satisfiable.

    With literals :math:`l=x_i` or :math:`1-x_i` and :math:`d_i(x)=\min(x_i,1-x_i)`
    (:math:`=x_i-\mathrm{relu}(2x_i-1)`), ``encoding="sum"`` (one ReLU per clause) is

    .. math:: y(x)=\sum_{\text{clauses}}\mathrm{relu}(1-l_1-l_2-l_3)+\sum_i d_i(x),

    and ``encoding="max"`` (two ReLUs per clause, :math:`\max(a,b)=b+\mathrm{relu}(a-b)`)

    .. math:: y(x)=\sum_{\text{clauses}}\big(1-\max(l_1,l_2,l_3)\big)+\sum_i d_i(x).

    Both are :math:`\ge0` on the cube and 0 at a satisfying assignment. For an
    unsatisfiable formula both are :math:`\ge1` everywhere: round :math:`x` to an assignment;
    some clause is false there, so each of its literals equals its variable's distance
    :math:`d_i` to the rounding, and the clause term is at least :math:`1-\sum_{i\in C}d_i`
    (sum) or :math:`1-\max_{i\in C}d_i` (max), which :math:`\sum_id_i` pays back.

    Layers (literals lie in [0, 1], so the copies :math:`\mathrm{relu}(l)=l` are identities):
    ``"sum"``: layer 1 = [relu(1 - l1 - l2 - l3) per clause; relu(2x_i - 1), relu(x_i) per
    variable], linear output. ``"max"``: layer 1 = [relu(l1 - l2), relu(l2), relu(l3) per clause;
    relu(2x_i - 1), relu(x_i)], layer 2 = [relu(l2 + relu(l1 - l2) - l3), relu(l3) per
    clause; copies], linear output.
    """
    clauses = np.asarray(clauses, dtype=np.int64)
    if clauses.ndim != 2 or clauses.shape[1] != 3 or np.any(clauses == 0) \
            or np.abs(clauses).max() > n:
        raise ValueError(f"clauses must be (m, 3) non-zero DIMACS literals in [-{n}, {n}]")
    if encoding not in ("sum", "max"):
        raise ValueError(f"encoding must be 'sum' or 'max', got {encoding!r}")
    m = clauses.shape[0]

    def lit(v: int) -> tuple[Array, float]:              # l = a . x + c
        a = np.zeros(n)
        a[abs(v) - 1] = 1.0 if v > 0 else -1.0
        return a, 0.0 if v > 0 else 1.0

    per = 1 if encoding == "sum" else 3
    W1, b1 = np.zeros((per * m + 2 * n, n)), np.zeros(per * m + 2 * n)
    for j, (p, q, r) in enumerate(clauses):
        (a1, c1), (a2, c2), (a3, c3) = lit(p), lit(q), lit(r)
        if encoding == "sum":
            W1[j], b1[j] = -(a1 + a2 + a3), 1.0 - (c1 + c2 + c3)
        else:
            W1[3 * j], b1[3 * j] = a1 - a2, c1 - c2
            W1[3 * j + 1], b1[3 * j + 1] = a2, c2
            W1[3 * j + 2], b1[3 * j + 2] = a3, c3
    for i in range(n):
        W1[per * m + 2 * i, i], b1[per * m + 2 * i] = 2.0, -1.0
        W1[per * m + 2 * i + 1, i] = 1.0
    if encoding == "sum":
        W2 = np.zeros((1, m + 2 * n))
        W2[0, :m] = 1.0
        W2[0, m::2], W2[0, m + 1::2] = -1.0, 1.0                   # x_i - relu(2 x_i - 1)
        return [W1, W2], [b1, np.zeros(1)]
    W2, b2 = np.zeros((2 * m + 2 * n, 3 * m + 2 * n)), np.zeros(2 * m + 2 * n)
    for j in range(m):
        W2[2 * j, [3 * j, 3 * j + 1, 3 * j + 2]] = 1.0, 1.0, -1.0   # l2 + r1 - l3
        W2[2 * j + 1, 3 * j + 2] = 1.0                             # copy of l3
    for i in range(2 * n):
        W2[2 * m + i, 3 * m + i] = 1.0
    W3, b3 = np.zeros((1, 2 * m + 2 * n)), np.array([float(m)])
    W3[0, 0:2 * m:2], W3[0, 1:2 * m:2] = -1.0, -1.0                # - max(l1, l2, l3)
    W3[0, 2 * m::2], W3[0, 2 * m + 1::2] = -1.0, 1.0               # x_i - relu(2 x_i - 1)
    return [W1, W2, W3], [b1, b2, b3]


def brute_force_sat(clauses: Array, n: int, chunk: int = 1 << 15) -> tuple[bool, int]:
    """Satisfiability by trying all :math:`2^n` assignments (vectorised, in chunks); returns
    (satisfiable, number of satisfying assignments)."""
    clauses = np.asarray(clauses, dtype=np.int64)
    if n > 26:
        raise ValueError(f"brute force over 2^{n} assignments is too large (n <= 26)")
    var, pos = np.abs(clauses) - 1, clauses > 0
    count = 0
    for start in range(0, 2 ** n, chunk):
        idx = np.arange(start, min(start + chunk, 2 ** n))
        X = ((idx[:, None] >> np.arange(n)) & 1).astype(bool)             # (chunk, n)
        count += int((X[:, var] == pos).any(-1).all(-1).sum())            # (chunk, m, 3)
    return count > 0, count


def pysat_sat(clauses: Array, solver: str = "cadical153") -> tuple[bool, list[int] | None]:
    """Satisfiability by a CDCL SAT solver (python-sat); returns (satisfiable, model)."""
    try:
        from pysat.solvers import Solver
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("this needs python-sat: pip install python-sat==1.9.dev24") from e
    with Solver(name=solver, bootstrap_with=[[int(v) for v in c] for c in clauses]) as s:
        sat = bool(s.solve())
        return sat, (s.get_model() if sat else None)


# ---------------------------------------------------------------------------------------------
# ε-approximate reachability and the sigmoid threshold


def branch_and_bound(W: Sequence[Array], b: Sequence[Array], lo, hi, eps: float, *,
                     act: str = "relu", output: int = 0, max_boxes: int = 5_000_000) -> dict:
    r"""ε-approximate maximum over a box by interval branch and bound.

    Keep a list of boxes with IBP upper bounds and a best value (the network at box centres).
    Each round, every box whose upper bound exceeds ``best + eps`` is bisected along its
    longest side (the others cannot raise the answer by more than ``eps`` and are dropped),
    and the two halves are bounded. It stops when no box is left above ``best + eps``, so

    .. math:: \text{best}\le\max_{\text{box}}f\le\text{ub}\le\text{best}+\varepsilon .

    Rounding is not directed (float64), so the bound is sound up to about 1e-15.

    Returns ``best``, ``x_best``, ``ub``, ``gap`` (= ub - best), ``boxes`` (bounded in all),
    ``rounds``, ``seconds``.
    """
    Ws, bs = _check(W, b)
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    d0 = Ws[0].shape[1]
    lo, hi = _box(lo, hi, d0)
    t0 = time.perf_counter()
    L, U = lo[None].copy(), hi[None].copy()
    ub = interval_bounds(Ws, bs, L, U, act)[1][1][:, output]
    mid = (L + U) / 2
    val = forward(Ws, bs, mid, act)[0][:, output]
    i = int(np.argmax(val))
    best, x_best = float(val[i]), mid[i]
    boxes, rounds, ub_dropped = 1, 0, -np.inf
    while True:
        keep = ub > best + eps
        ub_dropped = max(ub_dropped, float(ub[~keep].max()) if (~keep).any() else -np.inf)
        if not keep.any():
            break
        L, U = L[keep], U[keep]
        axis = np.argmax(U - L, axis=1)
        r = np.arange(L.shape[0])
        cut = (L[r, axis] + U[r, axis]) / 2
        L2, U2 = L.copy(), U.copy()
        U[r, axis] = cut
        L2[r, axis] = cut
        L, U = np.concatenate([L, L2]), np.concatenate([U, U2])
        boxes += L.shape[0]
        if boxes > max_boxes:
            raise RuntimeError(f"more than {max_boxes} boxes for eps = {eps}")
        ub = interval_bounds(Ws, bs, L, U, act)[1][1][:, output]
        mid = (L + U) / 2
        val = forward(Ws, bs, mid, act)[0][:, output]
        i = int(np.argmax(val))
        if val[i] > best:
            best, x_best = float(val[i]), mid[i]
        rounds += 1
    top = max(ub_dropped, best)
    return {"best": best, "x_best": x_best, "ub": top, "gap": top - best, "boxes": boxes,
            "rounds": rounds, "seconds": time.perf_counter() - t0}


def bisect_sigmoid_threshold(w: float, b: float, c, lo: float, hi: float, iters: int, *,
                             exact: bool = False, dps: int = 80) -> dict:
    r"""Bisection for :math:`x^*` with :math:`\sigma(wx^*+b)=c`, :math:`w>0`, on ``[lo, hi]``.

    The closed form is :math:`x^*=(\operatorname{logit}c-b)/w`; for rational :math:`w,b,c`
    (``c`` not 1/2 when b = 0) it is transcendental, so no rational procedure ends with it
    exactly. Each step asks the decision question ":math:`\sigma(wx+b)\ge c`?" at the
    midpoint. ``exact=False`` asks it in float64; ``exact=True`` asks it in mpmath interval
    arithmetic at ``dps`` digits with rational midpoints (a certified answer, since the
    midpoint is never :math:`x^*`). Returns ``mid`` (midpoints), ``width`` (bracket width)
    and ``err`` (\|mid - x*\| against :math:`x^*` at ``dps`` digits), all float64 arrays.
    """
    import mpmath

    if not w > 0 or not lo < hi or iters < 1:
        raise ValueError(f"need w > 0, lo < hi and iters >= 1; got w={w}, [{lo}, {hi}], {iters}")
    with mpmath.workdps(dps):
        cq = mpmath.mpf(c) if not isinstance(c, tuple) else mpmath.mpf(c[0]) / c[1]
        x_star = (mpmath.log(cq / (1 - cq)) - b) / w
        mids, widths, errs = [], [], []
        if exact:
            from fractions import Fraction
            a, z = Fraction(lo), Fraction(hi)
            num, den = (c if isinstance(c, tuple) else Fraction(c).as_integer_ratio())
            iv, saved = mpmath.iv, mpmath.iv.dps
            iv.dps = dps
            try:
                civ = iv.mpf(num) / den
                for _ in range(iters):
                    m = (a + z) / 2
                    s = 1 / (1 + iv.exp(-(iv.mpf(w) * iv.mpf(m.numerator) / m.denominator
                                          + iv.mpf(b))))
                    above, below = s.a >= civ.b, s.b < civ.a
                    if not (above or below):
                        raise RuntimeError("the interval answer is undecided: raise dps")
                    a, z = (a, m) if above else (m, z)
                    mids.append(mpmath.mpf(m.numerator) / m.denominator)
                    widths.append(mpmath.mpf((z - a).numerator) / (z - a).denominator)
            finally:
                iv.dps = saved
        else:
            a, z = float(lo), float(hi)
            cf = float(cq)
            for _ in range(iters):
                m = (a + z) / 2
                if 1.0 / (1.0 + np.exp(-(w * m + b))) >= cf:
                    z = m
                else:
                    a = m
                mids.append(mpmath.mpf(m))
                widths.append(mpmath.mpf(z - a))
        errs = [abs(m - x_star) for m in mids]
        return {"x_star": float(x_star), "mid": np.array([float(m) for m in mids]),
                "width": np.array([float(v) for v in widths]),
                "err": np.array([float(e) for e in errs])}

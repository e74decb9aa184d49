"""Loss surface, Hessian and gradient-descent dynamics of shallow ReLU nets in spline coordinates.

Loss :math:`L=\\frac1{2N}\\sum_n r_n^2`, :math:`r_n=f(x_n)-y_n`, with
:math:`f(x)=\\sum_i v_i(w_ix+b_i)_+ + c`; active set :math:`A_i=\\{n: w_ix_n+b_i>0\\}`.
Gradient flow of the network parameters, written in spline coordinates (β, μ):

* :math:`\\dot\\beta_i=\\frac{v_i}{Nw_i}\\sum_{A_i}r_n(1+\\beta_ix_n)`,
* :math:`\\dot\\mu_i=-\\frac{s_i}N\\sum_{A_i}r_n[w_i^2(x_n-\\beta_i)+v_i^2x_n]`,
  :math:`\\dot c=-\\bar r`.

Batched over networks: parameters are a :class:`relubook.topics.splines.Shallow` with ``(B, H)``
arrays, data ``x, y`` of shape ``(N,)`` shared by all networks. NumPy float64 throughout.
The parameter vector of one network is ordered ``[w (H), b (H), v (H), c]``.
"""

from __future__ import annotations

import numpy as np

from ..core import ntk
from .splines import Shallow, Spline, as_batch, to_spline

__all__ = ["forward", "loss_and_grad", "spline_velocity", "gd_step", "jacobian", "ntk_lambda_max",
           "flatten", "unflatten", "train_gd", "kernel_predictor", "breakpoint_movement",
           "gauss_newton_polish", "gauss_newton_hessian", "full_hessian", "symmetry_directions"]


def _data(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float)
    if y.shape[-1] != x.size or x.size == 0:
        raise ValueError(f"x has {x.size} points but y has shape {y.shape}")
    return x, y


def forward(net: Shallow, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-activations ``(B, H, N)``, activations ``(B, H, N)`` and outputs ``(B, N)``."""
    pre = net.w[:, :, None] * x + net.b[:, :, None]
    act = np.maximum(pre, 0.0)
    return pre, act, np.einsum("bh,bhn->bn", net.v, act) + net.c[:, None]


def loss_and_grad(net: Shallow, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, Shallow]:
    """L = (1/2N) Σ r_n² per network and its gradient (a :class:`Shallow` of gradients)."""
    net = as_batch(net)
    x, y = _data(x, y)
    pre, act, f = forward(net, x)
    r = f - y
    n = x.size
    g_pre = (pre > 0) * r[:, None, :] / n  # (B, H, N): ∂L/∂f_n · 1[active]
    gw = net.v * np.einsum("bhn,n->bh", g_pre, x)
    gb = net.v * g_pre.sum(axis=2)
    gv = np.einsum("bhn,bn->bh", act, r) / n
    return 0.5 * np.mean(r**2, axis=1), Shallow(gw, gb, gv, r.mean(axis=1))


def spline_velocity(net: Shallow, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """(β̇, μ̇, ċ) under gradient flow of the network parameters, from the closed forms."""
    net = as_batch(net)
    x, y = _data(x, y)
    sp = to_spline(net)
    pre, _, f = forward(net, x)
    r = f - y
    n = x.size
    act = pre > 0
    beta_dot = net.v / (n * net.w) * np.einsum("bhn,bhn->bh", act,
                                                r[:, None, :] * (1 + sp.beta[:, :, None] * x))
    inner = net.w[:, :, None] ** 2 * (x - sp.beta[:, :, None]) + net.v[:, :, None] ** 2 * x
    mu_dot = -sp.s / n * np.sum(act * r[:, None, :] * inner, axis=2)
    return beta_dot, mu_dot, -r.mean(axis=1)


def gd_step(net: Shallow, x: np.ndarray, y: np.ndarray, lr: np.ndarray | float) -> Shallow:
    """One full-batch gradient-descent step θ ← θ − η∇L (η scalar or one per network)."""
    _, g = loss_and_grad(net, x, y)
    lr = np.asarray(lr, dtype=float)
    lr2 = lr[:, None] if lr.ndim == 1 else lr
    return Shallow(net.w - lr2 * g.w, net.b - lr2 * g.b, net.v - lr2 * g.v, net.c - lr * g.c)


def jacobian(net: Shallow, x: np.ndarray) -> np.ndarray:
    """J[b, n, :] = ∂f(x_n)/∂θ with θ = [w, b, v, c]; shape ``(B, N, 3H+1)``."""
    net = as_batch(net)
    x = np.asarray(x, dtype=float).ravel()
    pre, act, _ = forward(net, x)
    d = (pre > 0) * net.v[:, :, None]  # (B, H, N)
    jw = np.swapaxes(d * x, 1, 2)
    jb = np.swapaxes(d, 1, 2)
    jv = np.swapaxes(act, 1, 2)
    ones = np.ones(jw.shape[:2] + (1,))
    return np.concatenate([jw, jb, jv, ones], axis=2)


def ntk_lambda_max(net: Shallow, x: np.ndarray) -> np.ndarray:
    """Largest eigenvalue of the empirical NTK J Jᵀ/N (normalised like L = (1/2N)Σr²), from the
    closed-form :func:`jacobian` (:func:`relubook.core.ntk.ntk_lambda_max`)."""
    return ntk.ntk_lambda_max(jacobian(net, x))


def flatten(net: Shallow) -> np.ndarray:
    """Parameter vectors ``(B, 3H+1)`` ordered [w, b, v, c]."""
    return np.concatenate([net.w, net.b, net.v, net.c[:, None]], axis=1)


def unflatten(theta: np.ndarray, H: int) -> Shallow:
    """Inverse of :func:`flatten`."""
    theta = np.atleast_2d(theta)
    if theta.shape[1] != 3 * H + 1:
        raise ValueError(f"θ has {theta.shape[1]} entries, expected 3H+1 = {3 * H + 1}")
    return Shallow(theta[:, :H], theta[:, H:2 * H], theta[:, 2 * H:3 * H], theta[:, 3 * H])


def train_gd(net: Shallow, x: np.ndarray, y: np.ndarray, lr: np.ndarray | float, steps: int,
             n_snapshots: int = 0, progress=None) -> tuple[Shallow, dict]:
    """Full-batch GD on all networks at once.

    Returns the final networks and a history: ``loss`` at each snapshot, and spline
    coordinates ``beta``, ``mu`` of shape ``(n_snapshots, B, H)`` at steps ``step``
    (evenly spaced, including 0 and ``steps``) when ``n_snapshots > 0``.
    """
    if steps < 0:
        raise ValueError("steps must be ≥ 0")
    net = as_batch(net)
    x, y = _data(x, y)
    when = (np.unique(np.linspace(0, steps, n_snapshots).round().astype(int))
            if n_snapshots > 0 else np.array([], dtype=int))
    hist: dict[str, list] = {"step": [], "loss": [], "beta": [], "mu": []}
    it = range(steps + 1)
    if progress is not None:
        it = progress(it)
    for t in it:
        if t in when:
            sp = to_spline(net)
            hist["step"].append(t)
            hist["loss"].append(loss_and_grad(net, x, y)[0])
            hist["beta"].append(sp.beta.copy())
            hist["mu"].append(sp.mu.copy())
        if t < steps:
            net = gd_step(net, x, y, lr)
    return net, {k: np.asarray(v) for k, v in hist.items()}


def kernel_predictor(net0: Shallow, x: np.ndarray, y: np.ndarray, xs: np.ndarray,
                     steps: int | None = None, lr: np.ndarray | float | None = None
                     ) -> np.ndarray:
    """Random-feature (lazy) predictor at ``xs``: w, b frozen at init, (v, c) moved.

    With ``steps=None`` (v, c) move by the minimum-norm change that interpolates the data
    (the limit of GD on (v, c) from init). With ``steps`` and ``lr``, by the change that
    ``steps`` GD steps of rate η on (v, c) alone produce:
    Φδ_t = (I − (I − ηΦΦᵀ/N)^t)(y − f₀), δ_t in the row space of Φ. Shape ``(B, len(xs))``.
    """
    net0 = as_batch(net0)
    x, y = _data(x, y)
    xs = np.asarray(xs, dtype=float).ravel()
    _, act, f0 = forward(net0, x)
    phi = np.concatenate([np.swapaxes(act, 1, 2), np.ones(act.shape[:1] + (x.size, 1))], axis=2)
    target = y - f0
    if steps is not None:
        if lr is None or steps < 0:
            raise ValueError("finite-time predictor needs steps ≥ 0 and lr")
        lr_b = np.broadcast_to(np.asarray(lr, dtype=float), f0.shape[:1])
        k = np.einsum("bnp,bmp->bnm", phi, phi) / x.size
        m = np.eye(x.size) - lr_b[:, None, None] * k
        target = target - np.einsum("bnm,bm->bn", np.linalg.matrix_power(m, steps), target)
    delta = np.einsum("bpn,bn->bp", np.linalg.pinv(phi), target)
    _, act_s, fs = forward(net0, xs)
    return fs + np.einsum("bhm,bh->bm", act_s, delta[:, :-1]) + delta[:, -1:]


def breakpoint_movement(sp0: Spline, sp1: Spline) -> np.ndarray:
    """|μ|-weighted mean breakpoint displacement Σ|μ_i||Δβ_i| / Σ|μ_i| (final |μ|)."""
    w = np.abs(np.atleast_2d(sp1.mu))
    return np.sum(w * np.abs(sp1.beta - sp0.beta), axis=1) / np.sum(w, axis=1)


def gauss_newton_polish(net: Shallow, x: np.ndarray, y: np.ndarray, tol: float = 1e-28,
                        max_iter: int = 100) -> tuple[Shallow, float]:
    """Minimum-norm Gauss–Newton steps θ ← θ − tJ⁺r (t halved until L decreases) on one
    network until L < ``tol`` or no step decreases L."""
    net = as_batch(net)
    if net.w.shape[0] != 1:
        raise ValueError("gauss_newton_polish works on one network at a time")
    x, y = _data(x, y)
    H = net.w.shape[1]
    loss = float(loss_and_grad(net, x, y)[0][0])
    for _ in range(max_iter):
        if loss < tol:
            break
        r = forward(net, x)[2][0] - y
        step = np.linalg.lstsq(jacobian(net, x)[0], r, rcond=None)[0]
        for t in 0.5 ** np.arange(30):  # backtrack until the loss decreases
            trial = unflatten(flatten(net)[0] - t * step, H)
            trial_loss = float(loss_and_grad(trial, x, y)[0][0])
            if trial_loss < loss:
                break
        else:
            break
        net, loss = trial, trial_loss
    return net, loss


def gauss_newton_hessian(net: Shallow, x: np.ndarray) -> np.ndarray:
    """Gauss–Newton Hessian JᵀJ/N ``(B, P, P)``; equals ∇²L wherever r = 0."""
    j = jacobian(net, x)
    return np.einsum("bnp,bnq->bpq", j, j) / j.shape[1]


def full_hessian(net: Shallow, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact ∇²L = (JᵀJ + Σ_n r_n ∇²f_n)/N of one network; ``(3H+1, 3H+1)``.

    Off the breakpoints, the only second derivatives of f are ∂²f/∂v_i∂w_i = x·1[active]
    and ∂²f/∂v_i∂b_i = 1[active].
    """
    net = as_batch(net)
    if net.w.shape[0] != 1:
        raise ValueError("full_hessian works on one network at a time")
    x, y = _data(x, y)
    H = net.w.shape[1]
    pre, _, f = forward(net, x)
    r = f[0] - y
    act = (pre[0] > 0).astype(float)
    h = gauss_newton_hessian(net, x)[0]
    vw = act @ (r * x) / x.size
    vb = act @ r / x.size
    idx = np.arange(H)
    h[idx, 2 * H + idx] += vw
    h[2 * H + idx, idx] += vw
    h[H + idx, 2 * H + idx] += vb
    h[2 * H + idx, H + idx] += vb
    return h


def symmetry_directions(net: Shallow) -> np.ndarray:
    """Unit tangents (w_i, b_i, −v_i) of the rescaling orbits, one row per neuron; ``(H, 3H+1)``."""
    net = as_batch(net)
    if net.w.shape[0] != 1:
        raise ValueError("symmetry_directions works on one network at a time")
    H = net.w.shape[1]
    d = np.zeros((H, 3 * H + 1))
    idx = np.arange(H)
    d[idx, idx], d[idx, H + idx], d[idx, 2 * H + idx] = net.w[0], net.b[0], -net.v[0]
    return d / np.linalg.norm(d, axis=1, keepdims=True)

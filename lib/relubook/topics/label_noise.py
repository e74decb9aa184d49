r"""Label-noise SGD and its implicit regulariser (Blanc, Gupta, Valiant & Valiant, 2020).

The process: full-batch gradient descent on the squared loss whose labels are perturbed by
fresh Gaussian noise at every step,

.. math:: \theta_{t+1}=\theta_t-\eta\,\nabla_\theta\,\frac1{2n}\sum_{i=1}^n
          \bigl(h(x_i;\theta_t)-y_i-\sigma\xi_{t,i}\bigr)^2,\qquad \xi_{t,i}\sim N(0,1),

and the implicit regulariser :math:`\mathrm{reg}(\theta)=\frac1n\sum_i\|\nabla_\theta
h(x_i;\theta)\|^2`, the trace of the loss Hessian :math:`H=J^\top J/n` at a zero-loss point
(:math:`J` the ``n × p`` Jacobian of the outputs).

**Ornstein–Uhlenbeck part** (derived for the book, not taken from the paper). Linearised at a
zero-loss point, the clean residual :math:`r=h(X)-y` follows
:math:`r_{t+1}=(I-\eta K/n)\,r_t+(\eta\sigma/n)\,K\xi_t` with :math:`K=JJ^\top`, an AR(1)
(discrete OU) process. In an eigendirection of :math:`K/n` (eigenvalue λ, a nonzero eigenvalue
of :math:`H`) its stationary variance is :math:`\eta\sigma^2\lambda/(2-\eta\lambda)`
(:func:`ou_residual_power` sums them), and the parameter displacement along the matching
normal direction of the zero-loss manifold has variance :math:`\eta\sigma^2/(n(2-\eta\lambda))`
(:func:`ou_normal_variance`); the continuous-time OU limit drops the :math:`\eta\lambda`.

**Toy model** :math:`h(x;a,b)=abx` on the single point :math:`(1,1)`: the zero-loss manifold
is :math:`ab=1`, :math:`\mathrm{reg}=a^2+b^2` (:func:`toy_reg`), minimal (= 2) at
:math:`a=b=\pm1`. One step multiplies :math:`q=a^2-b^2` by exactly :math:`1-\eta^2r_t^2` with
:math:`r_t=ab-1-\sigma\xi_t`, so along the manifold :math:`q` decays at the rate
:math:`\eta^2\,\mathbb E r^2=2\eta^2\sigma^2/(2-\eta\lambda)` per step (:func:`toy_drift_rate`;
λ = reg), a drift of :math:`-(\eta^2\sigma^2/4)\,P_T\nabla\mathrm{reg}` per step: second order
in the noise. :func:`toy_tangent_grad` is the component of ∇reg along the manifold.
:func:`toy_run` runs many chains (starts, noise levels, seeds) as one NumPy program.

**1-D ReLU network** :math:`f(x)=\sum_kv_k(w_kx+b_k)_++c` (a :class:`relubook.core.shallow.Shallow`
batch): its Jacobian has the closed form :math:`\partial_{v_k}f=(w_kx+b_k)_+`,
:math:`\partial_{w_k}f=v_kx\,\mathbf 1[\cdot]`, :math:`\partial_{b_k}f=v_k\mathbf 1[\cdot]`,
:math:`\partial_cf=1` (:func:`relu_jacobian`, :func:`relu_gram`, :func:`relu_reg`), and
:func:`train_relu` runs GD and label-noise chains of many networks in one NumPy program with
hand-written gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.shallow import Shallow, as_batch, eval_network, interpolant, roughness, to_spline

__all__ = [
    "knot_weight",
    "ou_normal_variance",
    "ou_residual_power",
    "relu_balanced_reg",
    "relu_gram",
    "relu_jacobian",
    "relu_metrics",
    "relu_reg",
    "toy_drift_rate",
    "toy_reg",
    "toy_run",
    "toy_tangent_grad",
    "train_relu",
]


# --------------------------------------------------------------------------- OU predictions
def ou_residual_power(lams: np.ndarray, lr: float, sigma: float | np.ndarray) -> np.ndarray:
    r"""E‖r‖² = Σ_k ησ²λ_k/(2 − ηλ_k): the stationary residual power of the linearised process.

    Parameters
    ----------
    lams
        Eigenvalues λ_k of K/n (the nonzero eigenvalues of the loss Hessian), last axis k.
    lr, sigma
        Step η and label-noise level σ (``sigma`` broadcasts against ``lams[..., 0]``).

    Raises
    ------
    ValueError
        If some ηλ_k ≥ 2 (the linearised process has no stationary law).
    """
    lams = np.asarray(lams, dtype=float)
    if np.any(lr * lams >= 2):
        raise ValueError(f"unstable: max ηλ = {float(np.max(lr * lams)):.3g} >= 2")
    return lr * np.asarray(sigma, dtype=float) ** 2 * np.sum(lams / (2 - lr * lams), axis=-1)


def ou_normal_variance(lam: np.ndarray | float, lr: float, sigma: float, n: int = 1, *,
                       discrete: bool = True) -> np.ndarray:
    r"""Var of the displacement normal to the zero-loss manifold: ησ²/(n(2 − ηλ)).

    With ``discrete=False`` the continuous-time Ornstein–Uhlenbeck value ησ²/(2n).
    """
    lam = np.asarray(lam, dtype=float)
    if not discrete:
        return np.full(lam.shape, lr * sigma**2 / (2 * n))
    if np.any(lr * lam >= 2):
        raise ValueError("unstable: ηλ >= 2")
    return lr * sigma**2 / (n * (2 - lr * lam))


# --------------------------------------------------------------------------- the toy model
def toy_reg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """reg(a, b) = a² + b² of h(x; a, b) = abx at x = 1."""
    return np.asarray(a) ** 2 + np.asarray(b) ** 2


def toy_tangent_grad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""∇reg · t of the toy, t = (a, −b)/‖(a, b)‖ the unit tangent of {ab = const}.

    Equals 2(a² − b²)/√(a² + b²): zero exactly at a = ±b (on ab = 1: a = b = ±1).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return 2 * (a**2 - b**2) / np.sqrt(a**2 + b**2)


def toy_drift_rate(lr: float, sigma: float | np.ndarray, lam: float | np.ndarray = 2.0
                   ) -> np.ndarray:
    r"""Predicted decay rate of log|a² − b²| per step: η²E r² = 2η²σ²/(2 − ηλ) (λ = reg)."""
    return 2 * lr**2 * np.asarray(sigma, dtype=float) ** 2 / (2 - lr * np.asarray(lam))


def toy_run(a0: np.ndarray, b0: np.ndarray, sigma: np.ndarray, lr: float, steps: int,
            rng: np.random.Generator, *, records: int = 200, block: int = 4096,
            progress: bool = False) -> dict[str, np.ndarray]:
    r"""Label-noise SGD on h = abx, (x, y) = (1, 1), for S chains at once (float64).

    Step: r = ab − 1 − σξ, (a, b) ← (a − ηrb, b − ηra), ξ ~ N(0, 1) fresh every step and
    chain (drawn from ``rng`` in blocks of ``block`` steps; the stream does not depend on
    ``block``). σ = 0 is plain gradient descent.

    Returns
    -------
    dict
        ``t`` (records + 1 step counts, 0 and ``steps`` included), ``a``, ``b`` at those steps
        (records + 1, S); per interval between records (records, S): ``u2`` the mean of
        u² = (ab − 1)² (clean residual), ``d2`` the mean of the squared normal displacement
        u²/(a² + b²), ``reg`` the mean of a² + b²; ``logq`` log|a² − b²| at the records.

    Shape:
        - a0, b0, sigma: (S,) (broadcast)
    """
    a0, b0, sigma = np.broadcast_arrays(*(np.asarray(z, dtype=float) for z in (a0, b0, sigma)))
    if steps < 1 or records < 1 or steps % records:
        raise ValueError(f"steps ({steps}) must be a positive multiple of records ({records})")
    S = a0.size
    a, b = a0.ravel().copy(), b0.ravel().copy()
    sig = sigma.ravel()
    every = steps // records
    t_rec = np.arange(records + 1) * every
    A, B = np.empty((records + 1, S)), np.empty((records + 1, S))
    A[0], B[0] = a, b
    u2, d2, rg = (np.zeros((records, S)) for _ in range(3))
    su2, sd2, srg = np.zeros(S), np.zeros(S), np.zeros(S)
    it = range(steps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="toy", mininterval=1.0, disable=None)
    noise = None
    for t in it:
        k = t % block
        if k == 0:
            noise = rng.standard_normal((min(block, steps - t), S)) * sig
        u = a * b - 1.0
        R = a * a + b * b
        uu = u * u
        su2 += uu
        sd2 += uu / R
        srg += R
        r = lr * (u - noise[k])
        a, b = a - r * b, b - r * a
        if (t + 1) % every == 0:
            j = (t + 1) // every
            A[j], B[j] = a, b
            u2[j - 1], d2[j - 1], rg[j - 1] = su2 / every, sd2 / every, srg / every
            su2[:], sd2[:], srg[:] = 0.0, 0.0, 0.0
    with np.errstate(divide="ignore"):
        logq = np.log(np.abs(A**2 - B**2))
    return {"t": t_rec, "a": A, "b": B, "u2": u2, "d2": d2, "reg": rg, "logq": logq}


# --------------------------------------------------------------------------- 1-D ReLU networks
def relu_jacobian(net: Shallow, x: np.ndarray) -> np.ndarray:
    r"""J = ∂f(x_i)/∂θ in the order θ = (v_1..v_H, w_1..w_H, b_1..b_H, c), closed form.

    Shape:
        - net: w, b, v (S, H), c (S,)
        - x: (n,)
        - Output: (S, n, 3H + 1)
    """
    w, b, v, _ = as_batch(net)
    x = np.asarray(x, dtype=float).ravel()
    z = w[:, None, :] * x[None, :, None] + b[:, None, :]          # (S, n, H)
    m = (z > 0).astype(float)
    S, n, H = z.shape
    J = np.empty((S, n, 3 * H + 1))
    J[..., :H] = z * m
    J[..., H:2 * H] = v[:, None, :] * m * x[None, :, None]
    J[..., 2 * H:3 * H] = v[:, None, :] * m
    J[..., 3 * H] = 1.0
    return J


def relu_gram(net: Shallow, x: np.ndarray) -> np.ndarray:
    r"""K_ij = ∇f(x_i)·∇f(x_j) = Σ_k[(z_ik)_+(z_jk)_+ + v_k² 1_ik 1_jk (x_i x_j + 1)] + 1.

    Shape:
        - Output: (S, n, n)
    """
    w, b, v, _ = as_batch(net)
    x = np.asarray(x, dtype=float).ravel()
    z = w[:, :, None] * x + b[:, :, None]                          # (S, H, n)
    a, m = np.maximum(z, 0.0), (z > 0).astype(float)
    mv = m * np.abs(v)[:, :, None]
    K = np.swapaxes(a, 1, 2) @ a + (np.swapaxes(mv, 1, 2) @ mv) * (np.outer(x, x) + 1.0)
    return K + 1.0


def relu_reg(net: Shallow, x: np.ndarray) -> np.ndarray:
    r"""reg(θ) = (1/n) Σ_i ‖∇_θ f(x_i)‖² = tr(K)/n, closed form, one value per network (S,)."""
    w, b, v, _ = as_batch(net)
    x = np.asarray(x, dtype=float).ravel()
    z = w[:, :, None] * x + b[:, :, None]
    a2 = np.maximum(z, 0.0) ** 2
    m = z > 0
    per = a2.sum(1) + ((v**2)[:, :, None] * m).sum(1) * (x**2 + 1.0) + 1.0   # (S, n)
    return per.mean(1)


def knot_weight(beta: np.ndarray, s: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""φ(β, s) = √(mean_i (s(x_i − β))_+² · mean_i 1[s(x_i − β) > 0](1 + x_i²)).

    The weight of a knot at β facing s in the balanced regulariser
    (:func:`relu_balanced_reg`): a neuron's share of reg is w²A + v²B with
    A = mean_i (s(x_i − β))_+², B = mean_i 1_i (1 + x_i²), and its minimum over the rescalings
    (w, b, v) ↦ (αw, αb, v/α) is 2|v w|√(AB) = 2|μ|φ(β, s).
    """
    beta, s = np.broadcast_arrays(np.asarray(beta, dtype=float), np.asarray(s, dtype=float))
    x = np.asarray(x, dtype=float).ravel()
    d = s[..., None] * (x - beta[..., None])
    A = np.mean(np.maximum(d, 0.0) ** 2, axis=-1)
    B = np.mean((d > 0) * (1.0 + x**2), axis=-1)
    return np.sqrt(A * B)


def relu_balanced_reg(net: Shallow, x: np.ndarray) -> np.ndarray:
    r"""min over per-neuron rescalings of reg: 1 + 2 Σ_k |μ_k| φ(β_k, s_k) (S,), a lower bound.

    reg equals it exactly when every neuron is balanced (w_k²A_k = v_k²B_k). It depends on the
    function's knots and slope changes only (:func:`knot_weight`): a TV(f′) in which each knot
    is weighted by 2φ(β, s), so label noise, which lowers reg, lowers this weighted TV and not
    TV(f′) itself.
    """
    net = as_batch(net)
    with np.errstate(divide="ignore", invalid="ignore"):
        sp = to_spline(net)
    return 1.0 + 2.0 * np.sum(np.abs(sp.mu) * knot_weight(sp.beta, sp.s, x), axis=1)


def train_relu(net: Shallow, x: np.ndarray, y: np.ndarray, sigma: np.ndarray, lr: float,
               steps: int, rng: np.random.Generator, *, records: int = 100, block: int = 2048,
               progress: bool = False) -> dict[str, Any]:
    r"""Gradient descent with label noise on (1/2n) Σ_i (f(x_i) − y_i − σξ_i)², S networks at once.

    Full batch, float64, hand-written gradients (the closed-form Jacobian of
    :func:`relu_jacobian`): with e = f(X) − y − σξ, ∂_v = (1/n) Σ_i e_i (z_i)_+,
    ∂_w = (v/n) Σ_i e_i x_i 1_i, ∂_b = (v/n) Σ_i e_i 1_i, ∂_c = mean(e). Network s uses
    ``sigma[s]`` (0: plain gradient descent). ξ (S, n) is fresh every step, drawn from ``rng``
    in blocks (the stream does not depend on ``block``).

    Returns
    -------
    dict
        ``t`` (records + 1 step counts), ``nets`` (a list of :class:`Shallow` at those steps),
        ``r2`` (records, S): the mean over each interval of the clean residual power
        ‖f(X) − y‖², ``sigma``.

    Shape:
        - net: w, b, v (S, H), c (S,); x, y: (n,); sigma: (S,)
    """
    w, b, v, c = (z.copy() for z in as_batch(net))
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    S = w.shape[0]
    n = x.size
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (S,))[:, None]
    if steps < 1 or records < 1 or steps % records:
        raise ValueError(f"steps ({steps}) must be a positive multiple of records ({records})")
    every = steps // records
    Xb = np.stack([np.ones(n), x], axis=1)                        # (n, 2): bias, input
    XbT = Xb.T.copy()
    P = np.stack([b, w], axis=-1)                                 # (S, H, 2)
    nets = [Shallow(w.copy(), b.copy(), v.copy(), c.copy())]
    r2 = np.zeros((records, S))
    acc = np.zeros((S, n))
    scale = lr / n
    it = range(steps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="ReLU nets", mininterval=1.0, disable=None)
    noise = None
    for t in it:
        k = t % block
        if k == 0:
            noise = rng.standard_normal((min(block, steps - t), S, n)) * sig
        z = P @ XbT                                               # (S, H, n)
        m = z > 0
        a = z * m
        e = np.matmul(v[:, None, :], a)[:, 0]
        e += c[:, None]
        e -= y
        acc += e * e
        e -= noise[k]
        e *= scale
        gv = np.matmul(a, e[:, :, None])[..., 0]
        G = np.matmul(m.astype(float), e[:, :, None] * Xb)        # (S, H, 2)
        G *= v[..., None]
        P -= G
        v -= gv
        c -= e.sum(1)
        if (t + 1) % every == 0:
            j = (t + 1) // every
            r2[j - 1] = acc.sum(1) / every
            acc[:] = 0.0
            nets.append(Shallow(P[..., 1].copy(), P[..., 0].copy(), v.copy(), c.copy()))
    return {"t": np.arange(records + 1) * every, "nets": nets, "r2": r2,
            "sigma": sig[:, 0].copy()}


def relu_metrics(net: Shallow, x: np.ndarray, y: np.ndarray, *, grid: int = 2001
                 ) -> dict[str, np.ndarray]:
    r"""reg, TV(f′) on [x_1, x_N], sup |f − linear interpolant| on [x_1, x_N], mse (per net).

    TV(f′) on the data interval is Σ|μ_k| over the knots β_k = −b_k/w_k in [x_1, x_N]
    (:func:`relubook.core.shallow.roughness`; distinct knots); ``tv_all`` sums every knot.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not np.isclose(x[0], -x[-1]):
        raise ValueError("the data interval must be symmetric, [-X, X]")
    net = as_batch(net)
    with np.errstate(divide="ignore", invalid="ignore"):
        sp = to_spline(net)
    t = np.linspace(x[0], x[-1], grid)
    f = eval_network(net, t)
    ip = interpolant(x, y)
    res = eval_network(net, x) - y
    return {"reg": relu_reg(net, x), "tv": roughness(sp, X=float(x[-1]))["tv"],
            "tv_all": roughness(sp)["tv"], "sup": np.abs(f - ip(t)).max(axis=1),
            "mse": np.mean(res**2, axis=1)}


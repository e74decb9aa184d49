r"""Wide networks trained on the soft-margin loss are NTK support vector machines (Chen et al., 2021).

The network is the bias-free two-layer ReLU network in the NTK parameterisation,

.. math:: f(x;\theta)=\frac1{\sqrt m}\sum_{r=1}^ma_r\,\sigma\!\Big(\frac{w_r\cdot x}{\sqrt d}\Big),
          \qquad w_r\sim N(0,I_d),\ a_r\sim N(0,1),\ \theta=(W,a),

and it is trained on :math:`g=f(\cdot;\theta)-f(\cdot;\theta_0)` (the initial output
subtracted) by full-batch subgradient descent on the soft-margin objective

.. math:: L(\theta)=\frac1n\sum_i\max\big(0,1-y_ig(x_i)\big)+\frac\lambda2\|\theta-\theta_0\|^2

(:func:`train_networks`, every weight penalised). Its kernel machine (KM) is
:math:`g(x)=\sum_i\alpha_i K(x,x_i)` trained by the dual update

.. math:: \alpha\leftarrow(1-\eta\lambda)\,\alpha+\frac\eta n\,\mathbf 1[y\odot g<1]\odot y

(:func:`km_train`). For the linearised network :math:`g(x)=\langle\nabla f_0(x),
\theta-\theta_0\rangle` the two updates are the same iteration exactly, with
:math:`K=\Theta_0`, the empirical NTK :math:`\nabla f_0(x)\cdot\nabla f_0(x')` at
initialisation (:func:`linearised_vs_km`); as :math:`m\to\infty`, :math:`\Theta_0` tends to the
closed form :func:`relubook.core.ntk.relu_ntk` (``bias=False``) and the network stays linear.

Several widths are trained at once: their hidden units are concatenated into one layer of
:math:`\sum_k m_k` units, each unit carrying the multiplier :math:`1/\sqrt{m_k}` of its own
network, and the outputs are summed width by width (:func:`forward`). A leading axis holds
independent seeds (each its own data and initialisation).

The applications: the generalisation bound of the official code (:func:`bound_terms`) and two
robustness certificates against :math:`\ell_\infty` perturbations, interval bounds of the
kernel (:func:`km_lower_margin`) and interval bound propagation through the network
(:func:`ibp_lower_margin`), with certified radii by bisection (:func:`certified_radius`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

__all__ = [
    "attack_radius",
    "bound_terms",
    "certified_radius",
    "empirical_ntk",
    "forward",
    "ibp_lower_margin",
    "init_networks",
    "km_lower_margin",
    "km_train",
    "linearised_vs_km",
    "network_jacobian",
    "relative_deviation",
    "subgradient_step",
    "train_networks",
    "two_gaussians",
]


# ----------------------------------------------------------------------------- data

def two_gaussians(n: int, d: int, separation: float, rng: np.random.Generator,
                  u: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Two Gaussian classes in :math:`\mathbb R^d`: :math:`y=\pm1` with probability 1/2 each and
    :math:`x\sim N(y\,\tfrac s2\,u,\,I_d)`, :math:`u` a unit vector (random unless given), so
    the class means are ``separation`` apart and the Bayes error is :math:`\Phi(-s/2)`.

    Returns ``X`` ``(n, d)`` float64, ``y`` ``(n,)`` float64 in :math:`\{-1,1\}` and ``u``.
    """
    if u is None:
        u = rng.standard_normal(d)
        u = u / np.linalg.norm(u)
    y = rng.choice(np.array([-1.0, 1.0]), n)
    X = y[:, None] * (0.5 * separation) * u[None, :] + rng.standard_normal((n, d))
    return X, y, u


# ----------------------------------------------------------------------------- networks

def init_networks(widths: Sequence[int], d: int, rngs: Sequence[np.random.Generator],
                  dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The initial weights of one network per width and per seed, :math:`N(0,1)` entries:
    hidden weights ``W`` ``(S, M, d)`` and output weights ``a`` ``(S, M)``, ``S = len(rngs)``,
    :math:`M=\sum_k m_k` units, the units of width ``widths[k]`` contiguous in order. Network
    ``k`` of seed ``s`` draws ``(W, a)`` from ``rngs[s]`` in the order of ``widths``."""
    if not widths or any(int(m) < 1 for m in widths):
        raise ValueError(f"widths must be positive ints, got {widths}")
    Ws, As = [], []
    for rng in rngs:
        w_parts, a_parts = [], []
        for m in widths:
            w_parts.append(rng.standard_normal((int(m), d)))
            a_parts.append(rng.standard_normal(int(m)))
        Ws.append(np.concatenate(w_parts))
        As.append(np.concatenate(a_parts))
    return (torch.as_tensor(np.stack(Ws), dtype=dtype),
            torch.as_tensor(np.stack(As), dtype=dtype))


def forward(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor, widths: Sequence[int],
            chunk: int = 256) -> torch.Tensor:
    r""":math:`f(x)=m_k^{-1/2}\sum_{r\in k}a_r\sigma(w_r\cdot x/\sqrt d)` for every width
    :math:`k` and seed (units in chunks of ``chunk``).

    Shape:
        - W: (S, M, d); a: (S, M)
        - X: (S, N, d) (each seed its own inputs) or (N, d) (shared)
        - Output: (S, N, K), K = len(widths)
    """
    d = W.shape[-1]
    if X.dim() == 2:
        X = X.expand(W.shape[0], -1, -1)
    out = []
    for m, blocks in zip(widths, _blocks(widths, chunk)):
        f = torch.zeros(X.shape[:2], dtype=W.dtype, device=W.device)
        for lo, hi in blocks:
            f = f + (torch.relu(X @ W[:, lo:hi].mT) @ a[:, lo:hi, None])[..., 0]
        out.append(f / math.sqrt(int(m) * d))
    return torch.stack(out, -1)


def _blocks(widths: Sequence[int], chunk: int) -> list[list[tuple[int, int]]]:
    """For each width, the unit ranges ``(lo, hi)`` of its chunks of at most ``chunk`` units."""
    out, start = [], 0
    for m in widths:
        out.append([(lo, min(lo + chunk, start + int(m))) for lo in range(start, start + int(m),
                                                                          chunk)])
        start += int(m)
    return out


def subgradient_step(W: torch.Tensor, a: torch.Tensor, W0: torch.Tensor, a0: torch.Tensor,
                     X: torch.Tensor, y: torch.Tensor, f0: torch.Tensor, widths: Sequence[int],
                     lr: float, lam: float, chunk: int = 256
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One full-batch subgradient step on :math:`L(\theta)` of the module docstring.

    With :math:`g_i=f(x_i)-f_0(x_i)` and :math:`\delta_i=-\frac1n\mathbf 1[y_ig_i<1]y_i`,

    .. math:: \partial_{a_r}L=\tfrac{1}{\sqrt m}\sum_i\delta_i\sigma(p_{ir})+\lambda(a_r-a_r^0),
              \quad
              \partial_{w_r}L=\tfrac{a_r}{\sqrt{md}}\sum_i\delta_i\mathbf 1[p_{ir}>0]x_i
              +\lambda(w_r-w_r^0),

    :math:`p_{ir}=w_r\cdot x_i/\sqrt d` (the subgradient 0 of :math:`\sigma` at 0). The units
    are processed in chunks of ``chunk`` (two passes: outputs, then gradients), which keeps
    the ``(S, n, chunk)`` temporaries in cache.

    Returns the new ``(W, a)`` and the margins' indicator :math:`\mathbf 1[y g<1]` ``(S, n, K)``
    of the step (computed at the old weights).

    Shape:
        - X: (S, n, d); y: (S, n); f0: (S, n, K) the initial outputs on X
    """
    n, d = X.shape[-2], X.shape[-1]
    grads_a, grads_W, act = [], [], []
    for k, (m, blocks) in enumerate(zip(widths, _blocks(widths, chunk))):
        c = 1.0 / math.sqrt(int(m) * d)              # f = c a . relu(W x): sigma(p) = relu(Wx)/sqrt d
        g = -f0[..., k]
        for lo, hi in blocks:
            H = torch.relu(X @ W[:, lo:hi].mT)                              # (S, n, chunk)
            g = g + c * (H @ a[:, lo:hi, None])[..., 0]
        active = (y * g < 1).to(W.dtype)
        delta = -active * y / n                                             # (S, n)
        dX = delta[..., None] * X
        for lo, hi in blocks:
            H = torch.relu(X @ W[:, lo:hi].mT)
            grads_a.append(c * (delta[:, None, :] @ H)[:, 0])                # (S, chunk)
            back = (H > 0).to(W.dtype).mT @ dX                              # (S, chunk, d)
            grads_W.append(back * (a[:, lo:hi] * c)[..., None])
        act.append(active)
    grad_a = torch.cat(grads_a, -1) + lam * (a - a0)
    grad_W = torch.cat(grads_W, -2) + lam * (W - W0)
    return W - lr * grad_W, a - lr * grad_a, torch.stack(act, -1)


def empirical_ntk(W: torch.Tensor, a: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                  widths: Sequence[int], chunk: int = 256) -> torch.Tensor:
    r"""The empirical NTK :math:`\nabla_\theta f(x)\cdot\nabla_\theta f(z)` of every network,

    .. math:: \Theta_\theta(x,z)=\frac1m\sum_r\Big[\sigma(p_r(x))\sigma(p_r(z))
              +a_r^2\,\mathbf 1[p_r(x)>0]\mathbf 1[p_r(z)>0]\,\frac{x\cdot z}d\Big],

    output weights first, hidden weights second (the unnormalised Gram :math:`JJ^\top` of
    :func:`network_jacobian`; its limit is :func:`relubook.core.ntk.relu_ntk` without biases).

    Shape:
        - A: (S, N_A, d) or (N_A, d); B: (S, N_B, d) or (N_B, d)
        - Output: (S, K, N_A, N_B)
    """
    S, d = W.shape[0], W.shape[-1]
    A = A.expand(S, -1, -1) if A.dim() == 2 else A
    B = B.expand(S, -1, -1) if B.dim() == 2 else B
    dots = A @ B.mT / d                                          # (S, N_A, N_B)
    out = []
    for m, blocks in zip(widths, _blocks(widths, chunk)):
        first = torch.zeros(dots.shape, dtype=W.dtype, device=W.device)
        second = torch.zeros(dots.shape, dtype=W.dtype, device=W.device)
        for lo, hi in blocks:
            Wk, ak = W[:, lo:hi], a[:, lo:hi, None].mT               # (S, c, d), (S, 1, c)
            PA, PB = A @ Wk.mT, B @ Wk.mT                            # times sqrt(d)
            first += torch.relu(PA) @ torch.relu(PB).mT / d
            second += ((PA > 0).to(W.dtype) * ak) @ ((PB > 0).to(W.dtype) * ak).mT
        out.append((first + second * dots) / int(m))
    return torch.stack(out, 1)


def network_jacobian(W: torch.Tensor, a: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    r"""The Jacobian of one network (one width, one seed) in closed form, parameters ordered
    ``(W row by row, a)``: :math:`\partial f/\partial w_r=\frac{a_r}{\sqrt{md}}\mathbf 1[p_r>0]
    x`, :math:`\partial f/\partial a_r=\frac1{\sqrt m}\sigma(p_r)`.

    Shape:
        - W: (m, d); a: (m,); X: (N, d)
        - Output: (N, m d + m)
    """
    m, d = W.shape
    P = X @ W.T / math.sqrt(d)
    gW = ((P > 0).to(W.dtype) * a)[:, :, None] * X[:, None, :] / math.sqrt(m * d)
    return torch.cat([gW.reshape(X.shape[0], -1), torch.relu(P) / math.sqrt(m)], 1)


def train_networks(W0: torch.Tensor, a0: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                   widths: Sequence[int], *, lr: float, lam: float, steps: int,
                   on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
                   progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``steps`` subgradient steps (:func:`subgradient_step`) from :math:`\theta_0=(W_0,a_0)`,
    every width and seed at once. ``on_step(t, W, a)`` is called with the weights after
    ``t`` steps, for ``t = 0, …, steps``. Returns the final ``(W, a)``."""
    from tqdm import tqdm  # a text bar (tqdm.auto warns without ipywidgets)

    f0 = forward(W0, a0, X, widths)
    W, a = W0.clone(), a0.clone()
    if on_step is not None:
        on_step(0, W, a)
    for t in tqdm(range(1, steps + 1), desc="subgradient descent", disable=None if progress
                  else True, leave=False):
        W, a, _ = subgradient_step(W, a, W0, a0, X, y, f0, widths, lr, lam)
        if on_step is not None:
            on_step(t, W, a)
    return W, a


# ----------------------------------------------------------------------------- kernel machines

def km_train(K: np.ndarray, y: np.ndarray, *, lr: float, lam: float, steps: int
             ) -> np.ndarray:
    r"""The dual subgradient update :math:`\alpha\leftarrow(1-\eta\lambda)\alpha+\frac\eta n
    \mathbf 1[y\odot K\alpha<1]\odot y` from :math:`\alpha=0`, for a stack of kernels.

    Shape:
        - K: (..., n, n) the training Gram matrices; y: (..., n) (broadcast against K's
          leading axes)
        - Output: α (..., n)
    """
    K = np.asarray(K, dtype=np.float64)
    n = K.shape[-1]
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), K.shape[:-1])
    alpha = np.zeros(K.shape[:-1])
    for _ in range(steps):
        g = np.einsum("...ij,...j->...i", K, alpha)
        alpha = (1.0 - lr * lam) * alpha + (lr / n) * (y * g < 1) * y
    return alpha


def linearised_vs_km(J_train: torch.Tensor, J_eval: torch.Tensor, y: torch.Tensor, *,
                     lr: float, lam: float, steps: int) -> dict:
    r"""The linearised network and the KM with its empirical NTK, step by step (float64).

    Primal: :math:`\Delta\leftarrow(1-\eta\lambda)\Delta+\frac\eta nJ_{tr}^\top
    (\mathbf 1[y\odot J_{tr}\Delta<1]\odot y)`, :math:`g=J\Delta` (parameter space, ``P``
    entries). Dual: :func:`km_train`'s update with :math:`K=J_{tr}J_{tr}^\top`, :math:`g=
    J J_{tr}^\top\alpha`. The two are algebraically one iteration (:math:`\Delta=J_{tr}^\top
    \alpha` at every step); they are computed independently here.

    Returns ``max_rel`` (the largest :math:`\max|g_{primal}-g_{dual}|/\max|g_{dual}|` over
    the steps, training and evaluation points together), ``flips`` (steps × points at which
    the two margin indicators differ) and the final outputs ``g_primal``, ``g_dual``.

    Shape:
        - J_train: (n, P); J_eval: (N, P); y: (n,)
    """
    n = J_train.shape[0]
    J = torch.cat([J_train, J_eval])                             # rows: train, then eval
    K = J @ J_train.T                                            # Θ_0(all points, train)
    delta = torch.zeros(J.shape[1], dtype=J.dtype)
    alpha = torch.zeros(n, dtype=J.dtype)
    g_p = g_d = torch.zeros(J.shape[0], dtype=J.dtype)
    max_rel, flips = 0.0, 0
    for _ in range(steps):
        sp, sd = (y * g_p[:n] < 1).to(y.dtype), (y * g_d[:n] < 1).to(y.dtype)
        flips += int((sp != sd).sum())
        delta = (1.0 - lr * lam) * delta + (lr / n) * (J_train.T @ (sp * y))
        alpha = (1.0 - lr * lam) * alpha + (lr / n) * sd * y
        g_p, g_d = J @ delta, K @ alpha
        scale = float(g_d.abs().max())
        if scale > 0:
            max_rel = max(max_rel, float((g_p - g_d).abs().max()) / scale)
    return {"max_rel": max_rel, "flips": flips, "g_primal": g_p[n:], "g_dual": g_d[n:]}


def relative_deviation(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    r""":math:`\max_x|f(x)-g(x)|/\max_x|g(x)|` over the last axis (the chapter's deviation)."""
    f, g = np.asarray(f, dtype=np.float64), np.asarray(g, dtype=np.float64)
    return np.abs(f - g).max(-1) / np.abs(g).max(-1)


def bound_terms(alpha: np.ndarray, K: np.ndarray, y: np.ndarray, delta: float) -> dict:
    r"""The generalisation bound of the official code for the KM :math:`g=K\alpha`:

    .. math:: \underbrace{\frac1n\sum_i\max(0,1-y_ig(x_i))}_{\text{hinge}}
              +\underbrace{\frac2n\sqrt{\alpha^\top K\alpha}\,\sqrt{\operatorname{tr}K}}
              _{\text{complexity}}
              +\underbrace{3\sqrt{\frac{\ln(2/\delta)}{2n}}}_{\text{confidence}},

    an upper bound on the test error :math:`P(yg(x)\le0)` with probability :math:`1-\delta`
    (Bartlett & Mendelson's Rademacher bound with the RKHS norm
    :math:`\|g\|_{\mathcal H}^2=\alpha^\top K\alpha`). Returns the three terms and ``bound``.
    """
    K = np.asarray(K, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    n = K.shape[-1]
    g = K @ alpha
    hinge = float(np.maximum(0.0, 1.0 - np.asarray(y) * g).mean())
    complexity = float(2.0 / n * math.sqrt(max(alpha @ K @ alpha, 0.0)) * math.sqrt(np.trace(K)))
    confidence = float(3.0 * math.sqrt(math.log(2.0 / delta) / (2.0 * n)))
    return {"hinge": hinge, "complexity": complexity, "confidence": confidence,
            "bound": hinge + complexity + confidence}


# ----------------------------------------------------------------------------- certificates

def _kappa(u: np.ndarray) -> np.ndarray:
    r""":math:`\kappa(u)=\frac{2u(\pi-\arccos u)+\sqrt{1-u^2}}{2\pi}`: the bias-free ReLU NTK
    is :math:`\Theta(x,z)=\frac{\|x\|\|z\|}d\kappa(\cos\angle(x,z))`; increasing from 0 to 1."""
    u = np.clip(u, -1.0, 1.0)
    th = np.arccos(u)
    return (2.0 * u * (np.pi - th) + np.sqrt(np.maximum(1.0 - u * u, 0.0))) / (2.0 * np.pi)


def km_lower_margin(alpha: np.ndarray, X_train: np.ndarray, x: np.ndarray, y: np.ndarray,
                    eps: np.ndarray) -> np.ndarray:
    r"""A lower bound of :math:`\min_{\|\delta\|_\infty\le\epsilon}y\,g(x+\delta)` for the KM
    :math:`g(z)=\sum_i\alpha_i\Theta(z,x_i)` with the bias-free ReLU NTK.

    Over the box, :math:`\|x+\delta\|_2\in[\max(0,\|x\|-\epsilon\sqrt d),\|x\|+\epsilon\sqrt d]`
    and :math:`(x+\delta)\cdot x_i\in x\cdot x_i\pm\epsilon\|x_i\|_1`, hence an interval for
    the cosine; :math:`\Theta=\frac{\|x+\delta\|\|x_i\|}d\kappa(\cos)` with :math:`\kappa\ge0`
    increasing gives an interval :math:`[\Theta^-_i,\Theta^+_i]` for each kernel value, and the
    bound is :math:`\sum_i\min(y\alpha_i\Theta^-_i,\,y\alpha_i\Theta^+_i)`.

    Shape:
        - alpha: (n,); X_train: (n, d); x: (N, d); y: (N,); eps: (N,) or scalar
        - Output: (N,)
    """
    X_train, x = np.asarray(X_train, dtype=np.float64), np.asarray(x, dtype=np.float64)
    d = x.shape[-1]
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), x.shape[:1])[:, None]
    nx = np.linalg.norm(x, axis=1)[:, None]
    nz = np.linalg.norm(X_train, axis=1)[None, :]
    n_lo, n_hi = np.maximum(nx - eps * math.sqrt(d), 0.0), nx + eps * math.sqrt(d)
    dot = x @ X_train.T
    rad = eps * np.abs(X_train).sum(1)[None, :]
    d_lo, d_hi = dot - rad, dot + rad
    with np.errstate(divide="ignore", invalid="ignore"):
        u_lo = np.where(d_lo >= 0, d_lo / (n_hi * nz), d_lo / (n_lo * nz))
        u_hi = np.where(d_hi >= 0, d_hi / (n_lo * nz), d_hi / (n_hi * nz))
    u_lo = np.where(np.isfinite(u_lo), u_lo, -1.0)
    u_hi = np.where(np.isfinite(u_hi), u_hi, 1.0)
    k_lo = n_lo * nz / d * _kappa(u_lo)
    k_hi = n_hi * nz / d * _kappa(u_hi)
    c = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(alpha, dtype=np.float64)[None, :]
    return np.minimum(c * k_lo, c * k_hi).sum(1)


def ibp_lower_margin(W: torch.Tensor, a: torch.Tensor, W0: torch.Tensor, a0: torch.Tensor,
                     x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor,
                     chunk: int = 1024) -> torch.Tensor:
    r"""Interval bound propagation of :math:`y\,g(x+\delta)`, :math:`\|\delta\|_\infty\le
    \epsilon`, for one trained network :math:`g=f(\cdot;\theta)-f(\cdot;\theta_0)`: a network
    of width :math:`2m` with hidden weights :math:`(W,W_0)` and output weights
    :math:`v=(a,-a_0)/\sqrt m`. Each pre-activation lies in :math:`p\pm\epsilon\|w_r\|_1/\sqrt
    d`, each ReLU in the image interval :math:`[\ell_r,h_r]`, and the output bound takes the
    worse end of each unit: :math:`\sum_r\min(yv_r\ell_r,\,yv_rh_r)`, i.e.
    :math:`\ell\cdot v^++h\cdot v^-` for :math:`y=1` and :math:`-(h\cdot v^++\ell\cdot v^-)`
    for :math:`y=-1` (units in chunks of ``chunk``).

    Shape:
        - W, W0: (m, d); a, a0: (m,); x: (N, d); y: (N,); eps: (N,) or scalar
        - Output: (N,)
    """
    m, d = W.shape
    Wc = torch.cat([W, W0])
    v = torch.cat([a, -a0]) / math.sqrt(m)
    vp, vn = torch.clamp(v, min=0), torch.clamp(v, max=0)
    row = Wc.abs().sum(1) / math.sqrt(d)
    eps = torch.as_tensor(eps, dtype=W.dtype).expand(x.shape[0])[:, None]
    pos = torch.zeros(x.shape[0], dtype=W.dtype)
    neg = torch.zeros(x.shape[0], dtype=W.dtype)
    for lo_i in range(0, 2 * m, chunk):
        sl = slice(lo_i, lo_i + chunk)
        p = x @ Wc[sl].T / math.sqrt(d)                          # (N, chunk)
        r = eps * row[None, sl]
        lo, hi = torch.relu(p - r), torch.relu(p + r)
        pos += lo @ vp[sl] + hi @ vn[sl]
        neg += hi @ vp[sl] + lo @ vn[sl]
    return torch.where(y > 0, pos, -neg)


def certified_radius(lower_margin: Callable[[np.ndarray], np.ndarray], n_points: int,
                     eps_max: float, iters: int = 30) -> np.ndarray:
    r"""The largest :math:`\epsilon\le` ``eps_max`` (to ``eps_max``/2^iters) at which the
    certificate ``lower_margin(eps)`` ``(N,)`` is still positive, by bisection for every
    point at once (a certificate is monotone in :math:`\epsilon`); 0 where it fails at 0
    (a misclassified point), ``eps_max`` where it holds there."""
    lo = np.zeros(n_points)
    hi = np.full(n_points, float(eps_max))
    ok0 = np.asarray(lower_margin(lo)) > 0
    ok_max = np.asarray(lower_margin(hi)) > 0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        ok = np.asarray(lower_margin(mid)) > 0
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(ok_max, eps_max, np.where(ok0, lo, 0.0))


def attack_radius(margin: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                  direction: np.ndarray, eps_grid: np.ndarray, refine: int = 0) -> np.ndarray:
    r"""An upper bound of the robust :math:`\ell_\infty` radius: the smallest :math:`\epsilon`
    of ``eps_grid`` at which :math:`y\,g(x+\epsilon\,s)\le0` for the sign vector
    ``direction`` :math:`s` ``(N, d)`` (``margin(points)`` returns :math:`y\,g` ``(N,)``),
    then ``refine`` bisection steps between it and the grid point before (each keeps a flipped
    right end, so the result stays a point where the sign has flipped); ``inf`` where the grid
    finds no flip."""
    grid = np.sort(np.asarray(eps_grid, dtype=np.float64))
    first = np.full(x.shape[0], -1)
    for j in range(len(grid) - 1, -1, -1):
        first = np.where(np.asarray(margin(x + grid[j] * direction)) <= 0, j, first)
    found = first >= 0
    hi = np.where(found, grid[np.maximum(first, 0)], np.inf)
    lo = np.where(found & (first > 0), grid[np.maximum(first - 1, 0)], 0.0)
    for _ in range(refine):
        mid = np.where(found, 0.5 * (lo + hi), 0.0)
        flipped = np.asarray(margin(x + mid[:, None] * direction)) <= 0
        hi, lo = np.where(found & flipped, mid, hi), np.where(found & ~flipped, mid, lo)
    return hi

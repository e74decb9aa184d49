r"""Normalised dynamics and implicit margin maximisation (Poggio, Banburski & Liao 2020).

Exponential-loss gradient descent on positively homogeneous models (linear models and bias-free
two-layer ReLU networks), batched over independent runs, in float64:

* :func:`separable_data`: Gaussian points labelled by a random hyperplane, with a gap;
* :func:`hard_margin_svm`: the exact hard-margin SVM without bias (a QP solved by cvxpy);
* :func:`linear_gd`: plain GD and the normalised dynamics of a linear model, recorded on a
  logarithmic time grid;
* :func:`relu_gd`: the same for two-layer ReLU networks without biases (``core.mlp``);
* :func:`margins`: the normalised margin :math:`\gamma=\min_i y_if(x_i)/\prod_k\|V_k\|` and the
  smoothed margin :math:`\tilde\gamma=\log(1/\mathcal L)/\|\theta\|^{L_h}` with the summed loss.

The normalised dynamics (the book's reading of the paper's T2): write
:math:`f(x)=\rho\,f(x;\hat V)` with :math:`\|\hat V_k\|=1`; step :math:`\rho` along
:math:`-\partial\mathcal L/\partial\rho` and each :math:`\hat V_k` along its gradient projected
onto the tangent space of the unit sphere, then renormalise.
"""

from __future__ import annotations

import numpy as np
import torch

from relubook.core import mlp
from relubook.core.random import numpy_rng

__all__ = [
    "circle_data",
    "exp_loss",
    "hard_margin_svm",
    "linear_experiment",
    "linear_gd",
    "log_grid",
    "margins_linear",
    "relu_experiment",
    "relu_gd",
    "running_drop",
    "separable_data",
]


def separable_data(n: int, d: int, gap: float, seed: int, key: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""n points x ~ N(0, I_d) with labels y = sgn(u·x) for a random unit u, keeping only points
    with |u·x| >= gap (rejection), so the data are separable through the origin with margin
    at least ``gap``.

    Returns ``x`` (n, d) and ``y`` (n,) in float64, y in {-1, +1}.
    """
    rng = numpy_rng(seed, key)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    xs = []
    while sum(len(a) for a in xs) < n:
        x = rng.standard_normal((4 * n, d))
        xs.append(x[np.abs(x @ u) >= gap])
    x = np.concatenate(xs)[:n]
    return x, np.sign(x @ u)


def circle_data(n: int, gap: float, seed: int, key: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""n points on the unit circle labelled by y = sgn(x_1 x_2) (an XOR pattern that no linear
    model separates), with angles at least ``gap`` radians away from the axes.

    Returns ``x`` (n, 2) and ``y`` (n,) in float64.
    """
    rng = numpy_rng(seed, key)
    q = rng.integers(0, 4, n)
    t = q * np.pi / 2 + gap + rng.uniform(0, np.pi / 2 - 2 * gap, n)
    x = np.stack([np.cos(t), np.sin(t)], 1)
    return x, np.sign(x[:, 0] * x[:, 1])


def hard_margin_svm(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    r"""The hard-margin SVM through the origin: :math:`\min\|w\|^2` s.t. :math:`y_iw^\top x_i\ge1`.

    Returns the unit direction :math:`\hat w=w/\|w\|` and the margin
    :math:`\gamma_{SVM}=1/\|w\|=\max_{\|v\|=1}\min_iy_iv^\top x_i`.
    """
    import cvxpy as cp
    w = cp.Variable(x.shape[1])
    prob = cp.Problem(cp.Minimize(cp.sum_squares(w)), [cp.multiply(y, x @ w) >= 1])
    prob.solve()
    if prob.status != "optimal":
        raise RuntimeError(f"SVM QP status {prob.status}")
    wv = np.asarray(w.value, dtype=np.float64)
    nrm = float(np.linalg.norm(wv))
    return wv / nrm, 1.0 / nrm


def log_grid(steps: int, n: int = 200) -> np.ndarray:
    """About ``n`` distinct integer times in [1, steps], logarithmically spaced, with ``steps``
    and every power of ten up to it included."""
    tens = 10 ** np.arange(int(np.log10(steps)) + 1)
    grid = np.round(np.logspace(0, np.log10(steps), n)).astype(np.int64)
    return np.unique(np.concatenate([grid, tens, [steps]]))


def exp_loss(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Summed exponential loss of the margins :math:`m_i=y_if(x_i)`, computed stably.

    Returns :math:`\log\mathcal L=\log\sum_ie^{-m_i}` (log-sum-exp) and the weights
    :math:`e^{-m_i}=\mathcal L\,\mathrm{softmax}(-m)_i`, i.e. :math:`-\partial\mathcal L/\partial m_i`.

    Shape: m (..., n) -> (...), (..., n).
    """
    log_l = torch.logsumexp(-m, -1)
    return log_l, torch.exp(log_l).unsqueeze(-1) * torch.softmax(-m, -1)


def margins_linear(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""Normalised margin :math:`\min_iy_iw^\top x_i/\|w\|` and smoothed margin
    :math:`\log(1/\mathcal L)/\|w\|` of linear models. Shape: w (R, d), x (R, n, d), y (R, n)."""
    m = y * torch.einsum("rnd,rd->rn", x, w)
    nrm = w.norm(dim=-1)
    log_l, _ = exp_loss(m)
    return {"gamma": m.min(-1).values / nrm, "smooth": -log_l / nrm, "norm": nrm}


def linear_gd(x: torch.Tensor, y: torch.Tensor, lr: torch.Tensor, normalised: torch.Tensor,
              steps: int, record: np.ndarray, w_svm: torch.Tensor, progress=None) -> dict:
    r"""Exponential-loss gradient descent on linear models :math:`f(x)=w^\top x` from :math:`w=0`.

    With the mean loss :math:`L=\frac1n\sum_ie^{-y_iw^\top x_i}`, plain GD is
    :math:`w\leftarrow w-\eta\nabla L`. The normalised dynamics write :math:`w=\rho v`,
    :math:`\|v\|=1`: :math:`\rho\leftarrow\rho-\eta\,v^\top\nabla L`,
    :math:`v\leftarrow\mathrm{normalise}(v-\eta\rho(I-vv^\top)\nabla L)`, started after one
    plain step from 0 (where the direction is undefined).

    Parameters
    ----------
    x, y
        Data of each run (float64).
    lr, normalised
        Step size and method of each run (``normalised`` boolean).
    record
        Increasing step counts at which to record (1-based, <= steps).
    w_svm
        Unit SVM direction of each run's data.

    Returns
    -------
    dict with ``t`` (record), ``cos``, ``gamma``, ``smooth``, ``norm`` of shape (R, T), and
    the final ``w`` (R, d).

    Shape: x (R, n, d), y (R, n), lr (R,), normalised (R,), w_svm (R, d).
    """
    R, n, d = x.shape
    yx = y.unsqueeze(-1) * x                                   # (R, n, d)
    w = torch.zeros(R, d, dtype=x.dtype)
    eta = lr.unsqueeze(-1)
    nm = normalised.unsqueeze(-1)
    rec = {k: [] for k in ("cos", "gamma", "smooth", "norm")}
    want = {int(t) for t in record}
    it = range(1, steps + 1)
    for t in (progress(it) if progress else it):
        m = torch.einsum("rnd,rd->rn", yx, w)
        _, e = exp_loss(m)
        g = -torch.einsum("rn,rnd->rd", e, yx) / n               # grad of the mean loss
        if t == 1:
            w = w - eta * g
        else:
            rho = w.norm(dim=-1, keepdim=True)
            v = w / rho
            gr = (v * g).sum(-1, keepdim=True)
            v_new = v - eta * rho * (g - gr * v)
            v_new = v_new / v_new.norm(dim=-1, keepdim=True)
            w_norm = (rho - eta * gr) * v_new
            w = torch.where(nm, w_norm, w - eta * g)
        if t in want:
            mg = margins_linear(w, x, y)
            rec["cos"].append((w * w_svm).sum(-1) / mg["norm"])
            for k in ("gamma", "smooth", "norm"):
                rec[k].append(mg[k])
    out = {k: torch.stack(v, 1).numpy() for k, v in rec.items()}
    out["t"] = np.asarray(sorted(want))
    out["w"] = w.numpy()
    return out


def _relu_margins(W1, W2, x, y):
    f = (torch.relu(x @ W1.transpose(-1, -2)) @ W2.transpose(-1, -2)).squeeze(-1)
    m = y * f
    n1, n2 = W1.flatten(1).norm(dim=-1), W2.flatten(1).norm(dim=-1)
    log_l, _ = exp_loss(m)
    return {"gamma": m.min(-1).values / (n1 * n2), "smooth": -log_l / (n1**2 + n2**2),
            "rho": n1 * n2, "theta2": n1**2 + n2**2, "mmin": m.min(-1).values}


def relu_gd(x: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor,
            lr: torch.Tensor, normalised: torch.Tensor, steps: int, record: np.ndarray,
            progress=None) -> dict:
    r"""Exponential-loss GD on bias-free two-layer ReLU networks :math:`f(x)=V_2\sigma(V_1x)`.

    Plain GD on :math:`(V_1,V_2)` with the mean loss, or the normalised dynamics on
    :math:`f=\rho f(x;\hat V_1,\hat V_2)`, :math:`\|\hat V_k\|_F=1`: :math:`\rho` steps along
    :math:`-\partial L/\partial\rho`, each :math:`\hat V_k` along its projected gradient, then is
    renormalised; the network is stored as :math:`(\sqrt\rho\hat V_1,\sqrt\rho\hat V_2)`.
    Gradients from ``core.mlp.forward``/``backward``.

    Returns ``t`` and, of shape (R, T): ``gamma`` (:math:`\min_iy_if_i/(\|V_1\|\|V_2\|)`),
    ``smooth`` (:math:`\log(1/\mathcal L)/\|\theta\|^2`, summed loss), ``rho``
    (:math:`\|V_1\|\|V_2\|`), ``mmin`` (the smallest unnormalised margin); final ``W1``, ``W2``.

    Shape: x (R, n, d), y (R, n), W1 (R, width, d), W2 (R, 1, width), lr, normalised (R,).
    """
    R, n, _ = x.shape
    eta = lr.view(R, 1, 1)
    nm = normalised.view(R, 1, 1)
    rec = {k: [] for k in ("gamma", "smooth", "rho", "mmin")}
    want = {int(t) for t in record}
    it = range(1, steps + 1)
    for t in (progress(it) if progress else it):
        rho1 = W1.flatten(1).norm(dim=-1).view(R, 1, 1)
        rho2 = W2.flatten(1).norm(dim=-1).view(R, 1, 1)
        rho = rho1 * rho2
        V1, V2 = W1 / rho1, W2 / rho2
        # gradients at the current weights (plain) and at the unit directions (normalised)
        net = mlp.StackedMLP([torch.where(nm, V1, W1), torch.where(nm, V2, W2)])
        out, cache = mlp.forward(net, x, keep=True)
        m = y * out.squeeze(-1)
        scale = torch.where(nm, rho, torch.ones_like(rho)).view(R, 1)
        _, e = exp_loss(scale * m)
        delta = (-(e * y) / n).unsqueeze(-1)                   # dL/d(f(x; net)), per unit rho
        (g1, g2), _ = mlp.backward(net, cache, delta)
        # plain GD
        P1, P2 = W1 - eta * g1, W2 - eta * g2
        # normalised: f = rho * f(x; V), dL/drho = sum_i delta_i f(x_i; V); dL/dV = rho * g
        grho = (delta.squeeze(-1) * out.squeeze(-1)).sum(-1).view(R, 1, 1)
        rho_new = rho - eta * grho
        Vn = []
        for V, g in ((V1, g1), (V2, g2)):
            g = rho * g
            g = g - (g * V).sum((-1, -2), keepdim=True) * V
            Vt = V - eta * g
            Vn.append(Vt / Vt.flatten(1).norm(dim=-1).view(R, 1, 1))
        s = torch.sqrt(rho_new.clamp_min(0))
        W1 = torch.where(nm, s * Vn[0], P1)
        W2 = torch.where(nm, s * Vn[1], P2)
        if t in want:
            for k, v in _relu_margins(W1, W2, x, y).items():
                if k in rec:
                    rec[k].append(v)
    out = {k: torch.stack(v, 1).numpy() for k, v in rec.items()}
    out["t"] = np.asarray(sorted(want))
    out["W1"], out["W2"] = W1.numpy(), W2.numpy()
    return out


def running_drop(v: np.ndarray, start: np.ndarray) -> np.ndarray:
    r"""Largest drop :math:`\max_{s\le t}(\max_{s'\le t}v_{s'}-v_t)` of each row of ``v`` after
    column ``start[r]`` (the first recorded time at which run r has separated its data).

    Shape: v (R, T), start (R,) -> (R,). A row that never separates gives nan.
    """
    out = np.full(v.shape[0], np.nan)
    for r in range(v.shape[0]):
        if start[r] < v.shape[1]:
            seg = v[r, start[r]:]
            out[r] = float(np.max(np.maximum.accumulate(seg) - seg))
    return out


def linear_experiment(seeds: int, n: int, d: int, gap: float, cases: list[tuple[str, float]],
                      steps: int, n_record: int, seed: int, progress=None) -> dict:
    r"""Every (data seed, method, step size) of the linear study in one batched program.

    ``cases`` are (method, lr) pairs, method ``"plain"`` or ``"normalised"``. Data seed s uses
    ``separable_data(n, d, gap, seed, s)``; its SVM comes from :func:`hard_margin_svm`.

    Returns the :func:`linear_gd` record plus ``seed_index``, ``method``, ``lr`` (R,),
    ``gamma_svm`` (R,) and ``x``, ``y``, ``w_svm`` per run.
    """
    X, Y, S, G, rows = [], [], [], [], []
    for s in range(seeds):
        x, y = separable_data(n, d, gap, seed, s)
        ws, g = hard_margin_svm(x, y)
        for meth, lr in cases:
            X.append(x), Y.append(y), S.append(ws), G.append(g), rows.append((s, meth, lr))
    t64 = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64)
    out = linear_gd(t64(X), t64(Y), t64([r[2] for r in rows]),
                    torch.tensor([r[1] == "normalised" for r in rows]), steps,
                    log_grid(steps, n_record), t64(S), progress)
    out.update(seed_index=np.array([r[0] for r in rows]), method=np.array([r[1] for r in rows]),
               lr=np.array([r[2] for r in rows]), gamma_svm=np.array(G), x=np.array(X),
               y=np.array(Y), w_svm=np.array(S))
    return out


def relu_experiment(seeds: int, n: int, gap: float, width: int, init_scale: float, lr: float,
                    steps: int, n_record: int, seed: int, progress=None) -> dict:
    r"""Plain GD and the normalised dynamics from the same initialisation, for each data seed.

    Data: :func:`circle_data` (n points, angular gap). Initialisation (the book's choice):
    :math:`V_1\sim N(0,s^2)`, :math:`V_2\sim N(0,s^2/\text{width})` with s = ``init_scale``,
    drawn from ``core.random.torch_generator(seed)``; runs 2s (plain) and 2s+1 (normalised)
    share data and initialisation.
    """
    from relubook.core.random import torch_generator
    X, Y = [], []
    for s in range(seeds):
        x, y = circle_data(n, gap, seed, s)
        X += [x, x]
        Y += [y, y]
    gen = torch_generator(seed)
    W1 = init_scale * torch.randn(seeds, width, 2, generator=gen, dtype=torch.float64)
    W2 = init_scale / np.sqrt(width) * torch.randn(seeds, 1, width, generator=gen,
                                                   dtype=torch.float64)
    nm = torch.tensor([False, True] * seeds)
    t64 = lambda a: torch.tensor(np.asarray(a), dtype=torch.float64)
    out = relu_gd(t64(X), t64(Y), W1.repeat_interleave(2, 0), W2.repeat_interleave(2, 0),
                  torch.full((2 * seeds,), lr, dtype=torch.float64), nm, steps,
                  log_grid(steps, n_record), progress)
    out.update(method=np.array(["plain", "normalised"] * seeds), x=np.array(X), y=np.array(Y))
    return out

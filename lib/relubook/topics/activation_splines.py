r"""Minimum-"norm" univariate networks are splines (Parhi & Nowak, 2020).

A univariate network with a polynomial skip connection,

.. math:: f(x)=\sum_{k=1}^{H} v_k\,\rho(w_kx+b_k)+\sum_{j=0}^{d}c_jx^j,

is trained on data :math:`(x_n,y_n)_{n=1}^N` by full-batch Adam on the objective

.. math:: L(\theta)=\tfrac12\sum_n\big(f(x_n)-y_n\big)^2
          +\tfrac{\lambda}{2}\sum_k\big(v_k^2+|w_k|^{2(m-1)}\big),

with the biases :math:`b_k` and the skip coefficients :math:`c_j` unpenalised and the penalty
added to the loss (coupled). ρ is one of :data:`ACTIVATIONS`: the truncated powers
:math:`\rho_m(z)=z_+^{m-1}` (ReLU, m = 2; ReLU², m = 3) or the leaky ReLU
:math:`\max(z,az)=(1-a)z_++az` (m = 2). The rescaling :math:`(w_k,b_k,v_k)\mapsto
(\alpha w_k,\alpha b_k,v_k/\alpha^{m-1})` leaves :math:`f` unchanged, and
:math:`\min_{\alpha>0}\tfrac12(v^2/\alpha^{2(m-1)}+\alpha^{2(m-1)}|w|^{2(m-1)})=|v||w|^{m-1}`,
so at a minimiser every neuron is *balanced*, :math:`|v_k|=|w_k|^{m-1}`, and the penalty is
:math:`\lambda\sum_k|v_k||w_k|^{m-1}` (the path norm for m = 2).

In spline coordinates (:mod:`relubook.core.shallow`) a ReLU neuron has the delta-slope
:math:`\mu_k=v_k|w_k|`, so the path norm is :math:`\sum_k|\mu_k|=\mathrm{TV}(f')` when no two
neurons cancel at a shared knot; for ReLU² the third derivative jumps by
:math:`2v_kw_k^2` at its knot, i.e. :math:`\mathrm{TV}(f'')=2\sum_k|v_k|w_k^2` at distinct
knots.

Networks of any widths, activations, λ and skip degrees are trained together as one NumPy
float64 program: their neurons are concatenated along one axis (:class:`Pack`), each network's
output is a segment sum, and the gradient is written out by hand. The module also has the
references the trained networks are compared with: the solution of the regularised spline
problem for the six-point data (:func:`regularised_linear_spline`), the representation cost of
a network without the linear skip (:func:`noskip_cost`), and the minimum-TV(f'') quadratic
spline interpolant by linear programming (:func:`min_tv2_interpolant`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..core.init import uniform_fan_in
from ..core.shallow import Shallow

__all__ = [
    "ACTIVATIONS",
    "Clusters",
    "Net",
    "Pack",
    "Quadratic",
    "activation",
    "as_relu",
    "build_pack",
    "eval_pack",
    "gradient",
    "knot_clusters",
    "min_tv2_interpolant",
    "noskip_cost",
    "noskip_min_cost",
    "objective",
    "regularised_linear_spline",
    "second_difference_operator",
    "train",
]

#: Activations: name -> m (the order of the spline the representer theorem predicts).
ACTIVATIONS = {"relu": 2, "leaky": 2, "relu2": 3}


@dataclass(frozen=True)
class Net:
    """One network of a pack: its width, activation, λ, skip degree and targets.

    ``degree`` is the highest power of the skip polynomial :math:`\\sum_{j\\le d}c_jx^j`
    (0: an output bias only, 1: a linear skip, 2: a quadratic skip); ``leak`` is the slope a
    of the leaky ReLU (ignored otherwise); ``y`` are the targets at the pack's inputs.
    """

    width: int
    act: str = "relu"
    lam: float = 1e-4
    degree: int = 1
    leak: float = 0.0
    y: tuple = ()
    label: str = ""

    def __post_init__(self) -> None:
        if self.act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.act!r}; valid: {', '.join(ACTIVATIONS)}")
        if int(self.width) != self.width or self.width < 1:
            raise ValueError(f"width must be a positive int, got {self.width!r}")
        if not self.lam >= 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if self.degree not in (0, 1, 2):
            raise ValueError(f"degree must be 0, 1 or 2, got {self.degree}")
        if self.act == "leaky" and not 0 < self.leak < 1:
            raise ValueError(f"a leaky ReLU needs 0 < leak < 1, got {self.leak}")


@dataclass
class Pack:
    """Networks whose neurons are concatenated along one axis (parameters float64).

    ``w, b, v`` have shape ``(T,)`` with ``T = sum of widths``; network ``i`` owns
    ``offsets[i]:offsets[i+1]``. ``c`` is ``(n_nets, 3)`` (the skip coefficients
    :math:`c_0, c_1, c_2`, zero beyond each network's degree).
    """

    nets: tuple
    x: np.ndarray
    Y: np.ndarray
    w: np.ndarray
    b: np.ndarray
    v: np.ndarray
    c: np.ndarray
    offsets: np.ndarray = field(init=False)
    seg: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        widths = np.array([n.width for n in self.nets], dtype=int)
        self.offsets = np.concatenate([[0], np.cumsum(widths)])
        self.seg = np.repeat(np.arange(len(self.nets)), widths)

    @property
    def n_nets(self) -> int:
        return len(self.nets)

    def neurons(self, i: int) -> slice:
        """The slice of network ``i``'s neurons."""
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def per_neuron(self, values: Sequence[float]) -> np.ndarray:
        """A per-network value repeated for each of its neurons, ``(T,)``."""
        return np.asarray(values, dtype=float)[self.seg]


def build_pack(nets: Sequence[Net], x: np.ndarray,
               rngs: Sequence[np.random.Generator]) -> Pack:
    r"""Networks initialised as ``torch.nn.Linear`` does (in NumPy), skip coefficients zero.

    :math:`w_k,b_k\sim U(-1,1)` (fan-in 1), :math:`v_k\sim U(\pm1/\sqrt H)`, drawn for
    network ``i`` from ``rngs[i]`` (so a network's initialisation depends only on its stream:
    networks given equal streams and widths start from the same weights).
    """
    nets = tuple(nets)
    x = np.asarray(x, dtype=float).ravel()
    if not nets or len(rngs) != len(nets):
        raise ValueError(f"need one generator per network, got {len(rngs)} for {len(nets)}")
    Y = np.array([np.asarray(n.y, dtype=float) for n in nets])
    if Y.shape != (len(nets), x.size):
        raise ValueError(f"every network needs {x.size} targets (one per input), got "
                         f"{[len(n.y) for n in nets]}")
    ws, bs, vs = [], [], []
    for n, rng in zip(nets, rngs):
        ws.append(uniform_fan_in((n.width,), 1, rng))
        bs.append(uniform_fan_in((n.width,), 1, rng))
        vs.append(uniform_fan_in((n.width,), n.width, rng))
    return Pack(nets, x, Y, np.concatenate(ws), np.concatenate(bs), np.concatenate(vs),
                np.zeros((len(nets), 3)))


def activation(z: np.ndarray, act: str, leak: float = 0.0) -> np.ndarray:
    """ρ(z): ReLU :math:`z_+`, leaky ReLU :math:`\\max(z, az)`, or ReLU² :math:`z_+^2`."""
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "leaky":
        return np.maximum(z, leak * z)
    if act == "relu2":
        return np.maximum(z, 0.0) ** 2
    raise ValueError(f"unknown activation {act!r}; valid: {', '.join(ACTIVATIONS)}")


def _powers(x: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, x**2])          # (3, P)


def eval_pack(pack: Pack, t: np.ndarray, i: int | None = None) -> np.ndarray:
    """The networks' outputs at ``t``: ``(n_nets, P)``, or ``(P,)`` for network ``i``."""
    t = np.asarray(t, dtype=float).ravel()
    idx = range(pack.n_nets) if i is None else [i]
    out = np.empty((len(idx), t.size))
    for r, k in enumerate(idx):
        sl, net = pack.neurons(k), pack.nets[k]
        acc = pack.c[k] @ _powers(t)
        for j in range(0, t.size, 4096):
            z = pack.w[sl, None] * t[None, j:j + 4096] + pack.b[sl, None]
            acc[j:j + 4096] += pack.v[sl] @ activation(z, net.act, net.leak)
        out[r] = acc
    return out if i is None else out[0]


def objective(pack: Pack) -> dict[str, np.ndarray]:
    """Per network: the data term ½Σ(f(x_n) − y_n)², the penalty and their sum ``(n_nets,)``."""
    f = eval_pack(pack, pack.x)
    data = 0.5 * np.sum((f - pack.Y) ** 2, axis=1)
    p = np.array([2 * (ACTIVATIONS[n.act] - 1) for n in pack.nets])[pack.seg]
    lam = pack.per_neuron([n.lam for n in pack.nets])
    pen = np.bincount(pack.seg, 0.5 * lam * (pack.v**2 + np.abs(pack.w) ** p),
                      minlength=pack.n_nets)
    return {"data": data, "penalty": pen, "total": data + pen}


class _Workspace:
    """Constants and preallocated buffers of :func:`train` (no allocation inside the loop)."""

    def __init__(self, pack: Pack):
        nets, T, n, N = pack.nets, pack.w.size, pack.n_nets, pack.x.size
        act = np.array([m.act for m in nets])[pack.seg]
        self.x1 = np.stack([np.ones(N), pack.x])                              # (2, N)
        self.x, self.YT, self.seg = pack.x, pack.Y.T.copy(), pack.seg
        self.sq = np.flatnonzero(act == "relu2")
        self.lk = np.flatnonzero(act == "leaky")
        self.leak = pack.per_neuron([m.leak for m in nets])[self.lk]
        self.lam = pack.per_neuron([m.lam for m in nets])
        self.starts = pack.offsets[:-1]
        self.pw = _powers(pack.x)                                             # (3, N)
        self.cmask = (np.arange(3)[None, :] <= np.array([m.degree for m in nets])[:, None]
                      ).astype(float)
        self.z, self.a, self.da, self.R = (np.empty((N, T)) for _ in range(4))
        self.gwb = np.empty((2, T))
        self.f = np.empty((N, n))
        self.g = np.empty(3 * T + 3 * n)
        self.T, self.n = T, n


def _gradient(pack: Pack, ws: _Workspace) -> np.ndarray:
    """The gradient of :func:`objective`'s total into ``ws.g``, flat ``[w, b, v, c]``."""
    T, z, a, da, R = ws.T, ws.z, ws.a, ws.da, ws.R
    w, b, v = pack.w, pack.b, pack.v
    np.multiply.outer(ws.x, w, out=z)
    z += b                                                  # z = w x_n + b   (N, T)
    np.maximum(z, 0.0, out=a)                               # ReLU: z_+ and 1[z > 0]
    np.greater(z, 0.0, out=da)
    if ws.lk.size:                                          # leaky: max(z, a z), 1 or a
        zl = z[:, ws.lk]
        a[:, ws.lk] = np.maximum(zl, ws.leak * zl)
        da[:, ws.lk] = np.where(zl > 0, 1.0, ws.leak)
    if ws.sq.size:                                          # ReLU²: z_+², 2 z_+
        zp = a[:, ws.sq]
        da[:, ws.sq] = 2 * zp
        a[:, ws.sq] = zp * zp
    np.multiply(a, v, out=R)
    f = ws.f
    f[:] = np.add.reduceat(R, ws.starts, axis=1)            # Σ_k v_k ρ(z_k)     (N, n)
    f += ws.pw.T @ pack.c.T
    f -= ws.YT                                              # residuals r
    np.take(f, ws.seg, axis=1, out=R)                       # r per neuron       (N, T)
    g = ws.g
    gw, gb, gv = g[:T], g[T:2 * T], g[2 * T:3 * T]
    np.einsum("nt,nt->t", R, a, out=gv)                     # Σ_n r_n ρ(z_nk)
    gv += ws.lam * v
    R *= da
    np.matmul(ws.x1, R, out=ws.gwb)                         # Σ_n r_n ρ'(z_nk) (1, x_n)
    np.multiply(ws.gwb[1], v, out=gw)
    np.multiply(ws.gwb[0], v, out=gb)
    gw += ws.lam * w
    if ws.sq.size:                                          # penalty w⁴/2 for ReLU²
        gw[ws.sq] += ws.lam[ws.sq] * (2 * w[ws.sq] ** 3 - w[ws.sq])
    g[3 * T:] = ((ws.pw @ f).T * ws.cmask).ravel()
    return g


def gradient(pack: Pack) -> np.ndarray:
    """The gradient of :func:`objective`'s total (summed over networks), flat ``[w, b, v, c]``.

    Shape: ``(3T + 3 n_nets,)``; the entries of skip coefficients beyond a network's degree are 0.
    """
    return _gradient(pack, _Workspace(pack)).copy()


def train(pack: Pack, steps: int, lr: float, *, schedule: Callable[[int], float] | None = None,
          progress: bool = False) -> int:
    """``steps`` full-batch Adam steps on every network of ``pack`` at once, in place.

    The gradient of :func:`objective` (the penalty coupled into the loss) is written out by hand
    in NumPy; the update is ``torch.optim.Adam`` (default betas and eps, the fused CPU kernel)
    on the flat parameter vector ``[w, b, v, c]``, which NumPy and torch share without copies.
    Skip coefficients beyond a network's degree get zero gradient and stay zero.
    ``schedule(t)`` overrides ``lr`` at step ``t`` (e.g.
    :func:`relubook.core.training.exp_decay`).

    Returns
    -------
    The number of steps made.
    """
    import torch

    if steps < 0 or not lr > 0:
        raise ValueError(f"need steps >= 0 and lr > 0, got {steps}, {lr}")
    T, n = pack.w.size, pack.n_nets
    ws = _Workspace(pack)
    theta = np.concatenate([pack.w, pack.b, pack.v, pack.c.ravel()])
    pack.w, pack.b, pack.v = theta[:T], theta[T:2 * T], theta[2 * T:3 * T]
    pack.c = theta[3 * T:].reshape(n, 3)
    param = torch.nn.Parameter(torch.from_numpy(theta))       # shares theta's memory
    param.grad = torch.from_numpy(ws.g)                        # shares the gradient buffer
    opt = torch.optim.Adam([param], lr=lr, fused=True)
    it = range(steps)
    if progress:
        from tqdm import tqdm  # text bar (tqdm.auto warns without ipywidgets)

        it = tqdm(it, desc="Adam", mininterval=2.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)         # a small memory-bound step: intra-op threads only cost
    try:
        for t in it:
            if schedule is not None:
                opt.param_groups[0]["lr"] = schedule(t)
            _gradient(pack, ws)
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return steps


def as_relu(pack: Pack, i: int) -> tuple[Shallow, np.ndarray]:
    r"""Network ``i`` (ReLU or leaky ReLU) as a ReLU network plus a skip polynomial.

    The leaky ReLU is :math:`\max(z,az)=(1-a)z_+ + az`, so
    :math:`\sum_kv_k\max(w_kx+b_k, a(w_kx+b_k))` is the ReLU network with output weights
    :math:`(1-a)v_k` plus the linear function :math:`a\sum_kv_k(w_kx+b_k)`, which joins the skip.
    A neuron whose :math:`w_k` is exactly 0 (weight decay can drive it to underflow) is the
    constant :math:`v_k\rho(b_k)`: it joins :math:`c_0` and is left out of the network.

    Returns
    -------
    net, c
        A :class:`relubook.core.shallow.Shallow` of one network (``c`` = 0; ``H`` = the neurons
        with :math:`w_k\ne0`) and the skip coefficients ``(3,)`` (:math:`c_0, c_1, c_2`) of the
        equivalent ReLU network.
    """
    net = pack.nets[i]
    if net.act == "relu2":
        raise ValueError("as_relu takes ReLU or leaky ReLU networks, not ReLU²")
    sl = pack.neurons(i)
    w, b, v = pack.w[sl], pack.b[sl], pack.v[sl]
    c = pack.c[i].copy()
    a = net.leak if net.act == "leaky" else 0.0
    zero = w == 0
    c[0] += float(np.sum(v[zero] * activation(b[zero], net.act, a)))
    w, b, v = w[~zero], b[~zero], v[~zero]
    if a:
        c[0] += a * np.sum(v * b)
        c[1] += a * np.sum(v * w)
    return Shallow(w[None], b[None], ((1 - a) * v)[None], np.zeros(1)), c


class Clusters(NamedTuple):
    """Knots grouped into clusters: centres, summed |mass| and size of each cluster."""

    centres: np.ndarray
    mass: np.ndarray
    counts: np.ndarray


def knot_clusters(beta: np.ndarray, mass: np.ndarray, gap: float) -> Clusters:
    """Group sorted knots ``beta`` into clusters split where consecutive knots are > ``gap`` apart.

    Each cluster's centre is the |mass|-weighted mean of its knots.
    """
    beta, mass = np.asarray(beta, float).ravel(), np.abs(np.asarray(mass, float).ravel())
    if beta.size == 0:
        return Clusters(np.zeros(0), np.zeros(0), np.zeros(0, int))
    o = np.argsort(beta)
    beta, mass = beta[o], mass[o]
    cut = np.flatnonzero(np.diff(beta) > gap) + 1
    groups = np.split(np.arange(beta.size), cut)
    m = np.array([mass[g].sum() for g in groups])
    centres = np.array([np.sum(beta[g] * mass[g]) / max(mass[g].sum(), 1e-300) for g in groups])
    return Clusters(centres, m, np.array([g.size for g in groups]))


def second_difference_operator(x: np.ndarray) -> np.ndarray:
    """The ``(N−2, N)`` matrix D with ``D y`` = the slope changes of the linear interpolant."""
    x = np.asarray(x, float).ravel()
    h = np.diff(x)
    N = x.size
    D = np.zeros((N - 2, N))
    for j in range(N - 2):
        D[j, j] = 1 / h[j]
        D[j, j + 1] = -1 / h[j] - 1 / h[j + 1]
        D[j, j + 2] = 1 / h[j + 1]
    return D


def regularised_linear_spline(x: np.ndarray, y: np.ndarray, lam: float) -> dict:
    r"""The solution of :math:`\min_f\tfrac12\sum_n(f(x_n)-y_n)^2+\lambda\,\mathrm{TV}(f')`.

    For fitted values ŷ the smallest TV(f') of an interpolant is :math:`\|D\hat y\|_1` (the
    linear interpolant's), so the problem is the generalised lasso
    :math:`\min_{\hat y}\tfrac12\|\hat y-y\|^2+\lambda\|D\hat y\|_1`. While the signs
    :math:`s=\operatorname{sgn}(Dy)` do not change, its solution is :math:`\hat y=y-\lambda D^\top s`
    and :math:`\mathrm{TV}=\|Dy\|_1-\lambda\|D^\top s\|^2`.

    Raises
    ------
    ValueError
        If λ is so large that a slope change of ŷ changes sign or vanishes (the closed form
        then no longer holds).
    """
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    D = second_difference_operator(x)
    s = np.sign(D @ y)
    yhat = y - lam * D.T @ s
    if np.any(np.sign(D @ yhat) != s) or np.any(s == 0):
        raise ValueError(f"lam = {lam} is too large for the closed form (a slope change of the "
                         "fit changes sign)")
    return {"yhat": yhat, "tv": float(np.abs(D @ yhat).sum()),
            "tv_drop": float(lam * np.sum((D.T @ s) ** 2)), "signs": s}


def noskip_cost(slopes_end: tuple[float, float], tv: float) -> float:
    r"""Representation cost of a CPWL function by a ReLU network with an output bias but no
    linear skip: :math:`\max\big(\mathrm{TV}(f'),\,|f'(-\infty)+f'(+\infty)|\big)`.

    (Savarese et al. 2019, for unpenalised biases.) Each neuron's delta-slope μ counts towards
    :math:`f'(+\infty)` when it faces right and towards :math:`-f'(-\infty)` when it faces left,
    so :math:`\sum|\mu|\ge|f'(+\infty)|+|f'(-\infty)|`, and also :math:`\ge\mathrm{TV}(f')`. When
    the end slopes have opposite signs the first bound is :math:`|f'(+\infty)-f'(-\infty)|\le
    \mathrm{TV}(f')`, otherwise it is :math:`|f'(-\infty)+f'(+\infty)|`: the larger bound is the
    maximum above, and splitting each knot's mass between the two orientations attains it.
    """
    left, right = (float(s) for s in slopes_end)
    return max(float(tv), abs(left + right))


def noskip_min_cost(slopes_end: tuple[float, float], tv: float) -> float:
    r"""The least path norm of an interpolant without the linear skip (output bias kept).

    For data whose linear interpolant has :math:`\mathrm{TV}=T` and end slopes adding to
    :math:`S`: an interpolant that spends :math:`\delta\ge0` of slope variation outside the
    data changes :math:`|f'(-\infty)+f'(+\infty)|` by at most δ, so by :func:`noskip_cost` its
    path norm is at least :math:`\max(T+\delta,|S|-\delta)\ge\max\big(T,\tfrac12(T+|S|)\big)`,
    which the interpolant bent outside the data by :math:`\delta=\tfrac12(|S|-T)` attains.
    """
    left, right = (float(s) for s in slopes_end)
    return max(float(tv), 0.5 * (float(tv) + abs(left + right)))


class Quadratic(NamedTuple):
    """A quadratic spline :math:`p(x)+\\sum_j a_j(x-t_j)_+^2` (``coef``: :math:`p`'s
    coefficients of :math:`1, x, x^2`); ``tv2`` = TV(f'') = 2Σ|a_j|."""

    knots: np.ndarray
    a: np.ndarray
    coef: np.ndarray
    tv2: float

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, float)
        return (self.coef @ _powers(t.ravel())).reshape(t.shape) + (
            self.a @ np.maximum(t.ravel()[None, :] - self.knots[:, None], 0.0) ** 2
        ).reshape(t.shape)


def min_tv2_interpolant(x: np.ndarray, y: np.ndarray, n_grid: int = 2001) -> Quadratic:
    r"""The quadratic spline interpolant of minimal TV(f'') with knots on a fine grid.

    Linear programme (HiGHS): minimise :math:`2\sum_j|a_j|` over the knots
    :math:`t_j` of ``n_grid`` points of :math:`[x_1, x_N]` and a free quadratic :math:`p`,
    subject to :math:`f(x_n)=y_n`. A vertex of the LP has at most N − 3 non-zero :math:`a_j`
    (N equations, 3 free coefficients): the representer theorem's "at most N − m knots".
    """
    from scipy.optimize import linprog

    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    t = np.linspace(x[0], x[-1], n_grid)
    Phi = np.maximum(x[:, None] - t[None, :], 0.0) ** 2          # (N, G)
    P = _powers(x).T                                              # (N, 3)
    G = t.size
    A_eq = np.hstack([Phi, -Phi, P, -P])
    cost = np.concatenate([2 * np.ones(2 * G), np.zeros(6)])
    res = linprog(cost, A_eq=A_eq, b_eq=y, bounds=(0, None), method="highs")
    if not res.success:
        raise RuntimeError(f"the LP failed: {res.message}")
    a = res.x[:G] - res.x[G:2 * G]
    coef = res.x[2 * G:2 * G + 3] - res.x[2 * G + 3:]
    keep = np.abs(a) > 1e-12 * max(np.abs(a).max(), 1e-300)
    return Quadratic(t[keep], a[keep], coef, float(2 * np.abs(a).sum()))

r"""How ReLU MLPs extrapolate (Xu et al., ICLR 2021): rays, the two-layer ReLU NTK, Lemma 1.

A two-layer ReLU MLP :math:`f(x)=\sum_r a_r\,\sigma(w_r\cdot x+b_r)+c` restricted to a ray
:math:`x=tv` is a one-dimensional linear spline in :math:`t`, with breakpoints
:math:`t_r=-b_r/(w_r\cdot v)`. Beyond the last positive breakpoint the activation pattern is
:math:`\mathbf 1[w_r\cdot v>0]` and :math:`f` is exactly affine, with slope

.. math:: \beta_v=\sum_r a_r\,\sigma(w_r\cdot v)\qquad\text{(:func:`ray_slope_limit`)}.

The paper's Theorem 1 says the same of the network trained in the NTK regime: the deviation
:math:`f(x_0+hv)-f(x_0)-\beta_vh` vanishes as :math:`t\to\infty` (:func:`ray_deviation`).

The two-layer ReLU NTK (both layers trained, :math:`N(0,1)` initialisation, NTK
parameterisation :math:`f(x)=m^{-1/2}\sum_ra_r\sigma(w_r\cdot x/\sqrt d+b_r)+c`) is, with the
augmented inputs :math:`\tilde x=(x/\sqrt d,1)` (with biases) or :math:`\tilde x=x/\sqrt d`
(without) and :math:`\theta` the angle between :math:`\tilde x` and :math:`\tilde z`,

.. math:: \Theta(x,z)=\tilde x\cdot\tilde z\,\frac{\pi-\theta}{2\pi}
          +\|\tilde x\|\|\tilde z\|\,\frac{\sin\theta+(\pi-\theta)\cos\theta}{2\pi}
          \;[+1\ \text{for the output bias}]

(:func:`relubook.core.ntk.relu_ntk`, with :func:`~relubook.core.ntk.arccos_ntk`,
:func:`~relubook.core.ntk.augment` and :func:`~relubook.core.ntk.ntk_predict`, shared with
chapter 14). Without biases :math:`\Theta(x,z)-\Theta(x,-z)=x\cdot z/d` identically, so a
linear target lies in the span of the kernel sections of any training set that contains an
orthogonal basis and its negatives, and the minimum-norm (NTK-regime) interpolant is the target
itself (Lemma 1; :func:`lemma1_points`).

NumPy float64 throughout except :func:`init_two_layer` and :func:`effective`, which build the
torch networks of :mod:`relubook.core.mlp`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..core.init import uniform_fan_in
from ..core.mlp import StackedMLP
from ..core.ntk import arccos_ntk, augment, relu_ntk

__all__ = [
    "PARAMS",
    "TARGETS",
    "effective",
    "init_two_layer",
    "lemma1_points",
    "ntk_fit",
    "ntk_ray_slope",
    "ray_breakpoints",
    "ray_deviation",
    "ray_r2",
    "ray_slope_limit",
    "ray_unexplained",
    "sample_ball",
    "sample_cube",
    "target",
    "two_layer_numpy",
    "unit_directions",
]

#: The target functions of the chapter (``linear`` needs a coefficient vector ``beta``).
TARGETS = ("quadratic", "cos", "sqrt", "linear")
#: Parameterisations of :func:`init_two_layer`.
PARAMS = ("ntk0", "ntk", "standard")


# ----------------------------------------------------------------------------- targets, data

def target(name: str, x, beta=None):
    r"""The target :math:`g(x)`: ``quadratic`` :math:`\|x\|^2`, ``cos`` :math:`\cos(\pi\|x\|)`,
    ``sqrt`` :math:`\sqrt{\|x\|}`, ``linear`` :math:`\beta\cdot x`.

    ``x`` is a NumPy array or a torch tensor ``(..., d)``; returns ``(...)`` of the same kind.
    """
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; valid: {', '.join(TARGETS)}")
    lib = torch if isinstance(x, torch.Tensor) else np
    if name == "linear":
        if beta is None:
            raise ValueError("the linear target needs its coefficients beta (d,)")
        if isinstance(x, torch.Tensor):
            beta = torch.as_tensor(beta, dtype=x.dtype, device=x.device)
        return (x * beta).sum(-1)
    sq = (x * x).sum(-1)
    if name == "quadratic":
        return sq
    r = lib.sqrt(sq)
    return lib.cos(math.pi * r) if name == "cos" else lib.sqrt(r)


def unit_directions(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` directions uniform on the unit sphere of :math:`\\mathbb R^d`, ``(n, d)``."""
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sample_ball(n: int, d: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform in the ball of the given radius, ``(n, d)``."""
    u = unit_directions(n, d, rng)
    return u * (radius * rng.random((n, 1)) ** (1.0 / d))


def sample_cube(n: int, d: int, restricted: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform in :math:`[-1,1]^d` with the first ``restricted`` coordinates
    in :math:`[0,1]` instead (``restricted = 0``: the whole cube), ``(n, d)``."""
    if not 0 <= restricted <= d:
        raise ValueError(f"restricted must be in [0, {d}], got {restricted}")
    x = rng.uniform(-1.0, 1.0, (n, d))
    x[:, :restricted] = np.abs(x[:, :restricted])
    return x


# ----------------------------------------------------------------------------- rays

def ray_unexplained(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    r""":math:`1-R^2` of the least-squares line :math:`y\approx p\,t+q` along each ray,
    :math:`\sum(y-\hat y)^2/\sum(y-\bar y)^2`, computed without cancellation.

    Shape: ``y`` ``(..., n_t)``, ``t`` ``(n_t,)``; returns ``(...)`` (0 for a constant ``y``).
    """
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    tc = t - t.mean()
    yc = y - y.mean(-1, keepdims=True)
    slope = (yc * tc).sum(-1) / (tc * tc).sum()
    res = yc - slope[..., None] * tc
    ss_res, ss_tot = (res * res).sum(-1), (yc * yc).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ss_res / ss_tot
    return np.where(ss_tot > 0, out, 0.0)


def ray_r2(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """:math:`R^2` of a linear fit in ``t`` along each ray (``1 - ray_unexplained``)."""
    return 1.0 - ray_unexplained(y, t)


def two_layer_numpy(net: StackedMLP) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The effective weights of two-layer networks as float64 arrays: :math:`W` ``(n, m, d)``,
    :math:`b` ``(n, m)``, :math:`a` ``(n, m)``, :math:`c` ``(n,)`` (multipliers folded in),
    for :math:`f(x)=a\cdot\sigma(Wx+b)+c`."""
    if net.depth != 2 or not net.biases or net.weights[1].shape[-2] != 1:
        raise ValueError("need two-layer networks with biases and one output")
    W = net.weights[0].detach().double().cpu().numpy() * net.scale(0)
    a = net.weights[1].detach().double().cpu().numpy()[..., 0, :] * net.scale(1)
    b = net.biases[0].detach().double().cpu().numpy()
    c = net.biases[1].detach().double().cpu().numpy()[..., 0]
    return W, b, a, c


def ray_breakpoints(W: np.ndarray, b: np.ndarray, V: np.ndarray) -> np.ndarray:
    r"""Breakpoints :math:`t_r=-b_r/(w_r\cdot v)` of every unit along every ray :math:`tv`,
    ``inf`` where a unit has none at :math:`t>0`.

    Shape: ``W`` ``(n, m, d)``, ``b`` ``(n, m)``, ``V`` ``(k, d)``; returns ``(n, k, m)``.
    """
    wv = np.einsum("nmd,kd->nkm", W, V)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -b[:, None, :] / wv
    return np.where(np.isfinite(t) & (t > 0), t, np.inf)


def ray_slope_limit(W: np.ndarray, a: np.ndarray, V: np.ndarray) -> np.ndarray:
    r""":math:`\beta_v=\sum_ra_r\sigma(w_r\cdot v)`: the slope of :math:`t\mapsto f(tv)` beyond
    the last breakpoint. Shape: returns ``(n, k)`` for ``W`` ``(n, m, d)``, ``V`` ``(k, d)``."""
    return np.einsum("nm,nkm->nk", a, np.maximum(np.einsum("nmd,kd->nkm", W, V), 0.0))


def ray_deviation(f_t: np.ndarray, f_th: np.ndarray, beta: np.ndarray, h: float) -> np.ndarray:
    r""":math:`\lvert f(x_0+hv)-f(x_0)-\beta_vh\rvert` with :math:`x_0=tv` (Theorem 1's
    deviation), from the values at :math:`t` and :math:`t+h`; ``beta`` broadcasts on the
    leading axes."""
    return np.abs(np.asarray(f_th) - np.asarray(f_t) - np.asarray(beta) * h)


# ----------------------------------------------------------------------------- the NTK

def ntk_fit(X: np.ndarray, y: np.ndarray, bias: bool = True, ridge: float = 0.0) -> np.ndarray:
    r"""Coefficients :math:`\alpha=(\Theta(X,X)+\lambda I)^{-1}y` of NTK kernel regression: the
    network trained to convergence by gradient flow in the NTK regime, from a zero function
    (:math:`\lambda=0`: the minimum-RKHS-norm interpolant). Returns ``(N,)`` (or ``(N, k)``)."""
    K = relu_ntk(X, X, bias)
    if ridge:
        K = K + ridge * np.eye(K.shape[0])
    return np.linalg.solve(K, np.asarray(y, dtype=np.float64))


def ntk_ray_slope(alpha: np.ndarray, X: np.ndarray, V: np.ndarray, bias: bool = True
                  ) -> np.ndarray:
    r""":math:`\beta_v=\lim_{t\to\infty}f(tv)/t=\sum_i\alpha_i\,k((v/\sqrt d,0),\tilde x_i)` of
    the NTK predictor (``k`` = :func:`~relubook.core.ntk.arccos_ntk`, homogeneous of degree
    one; the output bias has no slope). Shape: ``V`` ``(k, d)``; returns ``(k,)``."""
    Vt = augment(V, bias)
    if bias:
        Vt[:, -1] = 0.0
    return arccos_ntk(Vt, augment(X, bias)) @ alpha


def lemma1_points(d: int, radius: float, rng: np.random.Generator,
                  rotate: bool = True) -> np.ndarray:
    r"""The :math:`2d` points :math:`\pm r\,q_i` of an orthonormal basis :math:`(q_i)` (a random
    one when ``rotate``, else the standard basis): Lemma 1's training set, ``(2d, d)``."""
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0] if rotate else np.eye(d)
    return radius * np.concatenate([Q.T, -Q.T])


# ----------------------------------------------------------------------------- networks

def init_two_layer(params: Sequence[str], d: int, width: int,
                   rngs: Sequence[np.random.Generator],
                   dtype: torch.dtype = torch.float32,
                   device: str | torch.device = "cpu") -> tuple[StackedMLP, torch.Tensor]:
    r"""Two-layer ReLU networks :math:`d\to m\to1`, one per entry of ``params`` (and ``rngs``),
    and their per-network multipliers.

    * ``"ntk"``: the NTK parameterisation :math:`f(x)=m^{-1/2}\sum_ra_r\sigma(w_r\cdot
      x/\sqrt d+b_r)+c` with :math:`w,b,a\sim N(0,1)`, :math:`c=0`: multipliers
      :math:`(1/\sqrt d,1/\sqrt m)` on the weights, 1 on the biases. Its NTK is
      :func:`~relubook.core.ntk.relu_ntk` with ``bias=True``.
    * ``"ntk0"``: the same without biases (bias multipliers 0):
      :func:`~relubook.core.ntk.relu_ntk` with ``bias=False``, the kernel of Lemma 1.
    * ``"standard"``: ``torch.nn.Linear``'s default :math:`U(\pm1/\sqrt{\text{fan\_in}})` for
      weights and biases, every multiplier 1.

    Both NTK variants start from the doubled ("antisymmetric") initialisation: units
    :math:`r` and :math:`r+m/2` share :math:`(w_r,b_r)` and have output weights :math:`\pm a_r`,
    so :math:`f_0\equiv0`, as kernel regression from a zero function assumes, and the NTK at
    initialisation has the law of a width-:math:`m` draw. ``width`` must then be even.

    Returns the raw parameters (a :class:`StackedMLP` without scales) and the multipliers
    ``(n, 4)``: weights of layers 1 and 2, then biases of layers 1 and 2 (:func:`effective`).
    """
    if len(params) != len(rngs) or not params:
        raise ValueError(f"need one rng per network, got {len(params)} params, {len(rngs)} rngs")
    W1, b1, W2, b2, mult = [], [], [], [], []
    for p, rng in zip(params, rngs):
        if p in ("ntk", "ntk0"):
            if width % 2:
                raise ValueError(f"the doubled NTK initialisation needs an even width, got {width}")
            h = width // 2
            w, b, a = rng.standard_normal((h, d)), rng.standard_normal(h), rng.standard_normal(h)
            if p == "ntk0":
                b = np.zeros(h)
            W1.append(np.concatenate([w, w]))
            b1.append(np.concatenate([b, b]))
            W2.append(np.concatenate([a, -a])[None, :])
            b2.append(np.zeros(1))
            beta = 1.0 if p == "ntk" else 0.0
            mult.append((1 / math.sqrt(d), 1 / math.sqrt(width), beta, beta))
        elif p == "standard":
            u = uniform_fan_in((width, d + 1), d, rng)
            v = uniform_fan_in((1, width + 1), width, rng)
            W1.append(u[:, :d])
            b1.append(u[:, d])
            W2.append(v[:, :width])
            b2.append(v[:, width])
            mult.append((1.0, 1.0, 1.0, 1.0))
        else:
            raise ValueError(f"unknown parameterisation {p!r}; valid: {', '.join(PARAMS)}")

    def t(a):
        return torch.as_tensor(np.stack(a), dtype=dtype, device=device).contiguous()

    net = StackedMLP([t(W1), t(W2)], [t(b1), t(b2)])
    return net, torch.as_tensor(np.array(mult), dtype=dtype, device=device)


def effective(net: StackedMLP, mult: torch.Tensor) -> StackedMLP:
    r"""The networks with their multipliers folded in, :math:`a_lW_l` and :math:`\beta_lb_l` per
    network (differentiable: autograd reaches the raw parameters; a bias multiplier 0 freezes
    that bias at 0). ``mult`` ``(n, 2L)`` as :func:`init_two_layer` returns."""
    L = net.depth
    if mult.shape[-1] != 2 * L:
        raise ValueError(f"need 2L = {2 * L} multipliers per network, got {mult.shape[-1]}")
    ws = [w * mult[:, l].reshape((-1,) + (1,) * (w.ndim - 1)).to(w.dtype)
          for l, w in enumerate(net.weights)]
    bs = [b * mult[:, L + l].reshape((-1,) + (1,) * (b.ndim - 1)).to(b.dtype)
          for l, b in enumerate(net.biases)]
    return StackedMLP(ws, bs)

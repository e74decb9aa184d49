"""Univariate shallow ReLU networks and their spline coordinates.

A network :math:`f(x)=\\sum_{i=1}^H v_i(w_ix+b_i)_+ + c` is a continuous piecewise-linear
function; in spline coordinates (breakpoints :math:`\\beta_i=-b_i/w_i`, delta-slopes
:math:`\\mu_i=v_i|w_i|`, orientations :math:`s_i=\\operatorname{sgn} w_i`) it reads
:math:`f(x)=\\sum_i\\mu_i\\,(s_i(x-\\beta_i))_+ + c`, its slope jumps by :math:`\\mu_i` at
:math:`\\beta_i`, and the total variation of its slope is :math:`\\mathrm{TV}(f')=\\sum_i|\\mu_i|`
(distinct breakpoints).

:func:`interpolant` gives the same coordinates for the linear-spline interpolant of 1-D data,
the minimum-TV(f') interpolant that chapters 10–12 compare trained networks with.
Every array of networks has shape ``(n_nets, H)`` (``c`` has shape ``(n_nets,)``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Interpolant",
    "Shallow",
    "Spline",
    "as_batch",
    "eval_network",
    "eval_spline",
    "from_spline",
    "interpolant",
    "network_slope",
    "rescale",
    "roughness",
    "slope_jumps",
    "to_spline",
]


class Shallow(NamedTuple):
    """Parameters of ``n`` networks 1→H→1: ``w, b, v`` of shape ``(n, H)``, ``c`` of ``(n,)``."""

    w: np.ndarray
    b: np.ndarray
    v: np.ndarray
    c: np.ndarray


class Spline(NamedTuple):
    """Spline coordinates: breakpoints β, delta-slopes μ, orientations s (``(n, H)``), offset c."""

    beta: np.ndarray
    mu: np.ndarray
    s: np.ndarray
    c: np.ndarray


def as_batch(net: Shallow) -> Shallow:
    """``net`` as float arrays ``w, b, v`` ``(n, H)`` and ``c`` ``(n,)`` (one network: n = 1)."""
    w, b, v = (np.atleast_2d(np.asarray(a, dtype=float)) for a in net[:3])
    c = np.atleast_1d(np.asarray(net.c, dtype=float))
    if not (w.shape == b.shape == v.shape) or c.shape != w.shape[:1]:
        raise ValueError(f"shapes must be w,b,v (n,H) and c (n,); got {w.shape}, {b.shape}, "
                         f"{v.shape}, {c.shape}")
    return Shallow(w, b, v, c)


def to_spline(net: Shallow) -> Spline:
    """Spline coordinates β=−b/w, μ=v|w|, s=sgn w of a batch of networks.

    Raises
    ------
    ValueError
        If some ``w_i`` is zero (β undefined; probability zero under continuous inits).
    """
    w, b, v, c = as_batch(net)
    if np.any(w == 0):
        raise ValueError(f"{int(np.sum(w == 0))} first-layer weights are exactly 0: "
                         "their breakpoints β=-b/w are undefined")
    return Spline(-b / w, v * np.abs(w), np.sign(w), c)


def from_spline(sp: Spline, w_abs: np.ndarray | float = 1.0) -> Shallow:
    """A network with the given spline coordinates and first-layer magnitudes ``|w|``."""
    w = np.asarray(sp.s, dtype=float) * w_abs
    if np.any(w == 0):
        raise ValueError("|w| and s must be nonzero")
    return Shallow(w, -np.asarray(sp.beta) * w, np.asarray(sp.mu) / np.abs(w), np.asarray(sp.c))


def rescale(net: Shallow, alpha: np.ndarray | float) -> Shallow:
    """The rescaling symmetry (w, b, v) ↦ (αw, αb, v/α) with α>0 (scalar or per neuron)."""
    alpha = np.asarray(alpha, dtype=float)
    if np.any(alpha <= 0):
        raise ValueError("the rescaling factor α must be positive")
    return Shallow(net.w * alpha, net.b * alpha, net.v / alpha, net.c)


def _chunks(n_rows: int, width: int, n_x: int, budget: int = 2**22):
    step = max(1, budget // max(1, n_rows * width))
    for j in range(0, n_x, step):
        yield slice(j, min(n_x, j + step))


def eval_network(net: Shallow, x: np.ndarray) -> np.ndarray:
    """f(x) = Σ v_i (w_i x + b_i)_+ + c for each network; returns ``(n, len(x))``."""
    w, b, v, c = as_batch(net)
    x = np.asarray(x, dtype=float).ravel()
    out = np.empty((w.shape[0], x.size))
    for sl in _chunks(*w.shape, x.size):
        act = np.maximum(w[:, :, None] * x[sl] + b[:, :, None], 0.0)
        out[:, sl] = np.matmul(v[:, None, :], act)[:, 0, :] + c[:, None]
    return out


def eval_spline(sp: Spline, x: np.ndarray) -> np.ndarray:
    """f(x) = Σ μ_i (s_i (x − β_i))_+ + c for each spline; returns ``(n, len(x))``."""
    beta, mu, s = (np.atleast_2d(np.asarray(a, dtype=float)) for a in sp[:3])
    c = np.atleast_1d(np.asarray(sp.c, dtype=float))
    x = np.asarray(x, dtype=float).ravel()
    out = np.empty((beta.shape[0], x.size))
    for sl in _chunks(*beta.shape, x.size):
        hinge = np.maximum(s[:, :, None] * (x[sl] - beta[:, :, None]), 0.0)
        out[:, sl] = np.matmul(mu[:, None, :], hinge)[:, 0, :] + c[:, None]
    return out


def network_slope(net: Shallow, x: np.ndarray) -> np.ndarray:
    """f'(x) = Σ v_i w_i 1[w_i x + b_i > 0] from the network form; ``(n, len(x))``."""
    w, b, v, _ = as_batch(net)
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = np.broadcast_to(x, (w.shape[0], x.size))
    if x.shape[0] != w.shape[0]:
        raise ValueError(f"x must have shape (P,) or (n, P) with n = {w.shape[0]}")
    out = np.empty(x.shape)
    for sl in _chunks(1, w.shape[1], x.shape[1]):
        for k in range(w.shape[0]):
            active = (w[k, :, None] * x[k, sl] + b[k, :, None]) > 0
            out[k, sl] = (v[k] * w[k]) @ active
    return out


def slope_jumps(net: Shallow) -> tuple[np.ndarray, np.ndarray]:
    """Slope jumps f'(β⁺)−f'(β⁻) of the *network* form at its sorted breakpoints.

    The slope is evaluated at the midpoints between consecutive breakpoints (and one unit
    beyond the extreme ones), so each difference is the jump at one breakpoint.

    Returns
    -------
    jumps, mu_sorted
        Both ``(n, H)``: the measured jumps and the delta-slopes μ in breakpoint order.
    """
    sp = to_spline(net)
    order = np.argsort(sp.beta, axis=1)
    bs = np.take_along_axis(sp.beta, order, axis=1)
    probes = np.concatenate([bs[:, :1] - 1.0, 0.5 * (bs[:, 1:] + bs[:, :-1]), bs[:, -1:] + 1.0],
                            axis=1)
    slopes = network_slope(net, probes)
    return np.diff(slopes, axis=1), np.take_along_axis(sp.mu, order, axis=1)


def roughness(sp: Spline, X: float | None = None) -> dict[str, np.ndarray]:
    """Roughness of each spline: ρ = Σ μ_i² and TV(f') = Σ |μ_i| (per network).

    With ``X`` the sums run over breakpoints in [−X, X] only (the data interval).
    """
    mu = np.atleast_2d(sp.mu)
    if X is not None:
        if X <= 0:
            raise ValueError("X must be positive")
        mu = np.where(np.abs(np.atleast_2d(sp.beta)) <= X, mu, 0.0)
    return {"rho": np.sum(mu**2, axis=1), "tv": np.sum(np.abs(mu), axis=1)}


class Interpolant(NamedTuple):
    """The linear-spline interpolant of sorted data ``(x_n, y_n)``, n = 1..N.

    ``knots`` are the N − 2 interior data points, ``slopes`` the N − 1 segment slopes,
    ``delta_slopes`` their N − 2 changes at the knots, ``tv`` = TV(f') = Σ|delta_slopes|.
    Outside [x_1, x_N] the interpolant continues the end segments linearly.
    """

    x: np.ndarray
    y: np.ndarray
    knots: np.ndarray
    slopes: np.ndarray
    delta_slopes: np.ndarray
    tv: float

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The interpolant at ``t`` (linear continuation outside the data)."""
        t = np.asarray(t, dtype=float)
        seg = np.clip(np.searchsorted(self.x, t, side="right") - 1, 0, self.x.size - 2)
        return self.y[seg] + self.slopes[seg] * (t - self.x[seg])


def interpolant(x: np.ndarray, y: np.ndarray) -> Interpolant:
    """The linear-spline interpolant of 1-D data (sorted by ``x``, distinct ``x``).

    Raises:
        ValueError: fewer than two points, shapes that differ, or ``x`` not strictly increasing.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2; got {x.shape}, {y.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    slopes = np.diff(y) / np.diff(x)
    delta = np.diff(slopes)
    return Interpolant(x, y, x[1:-1].copy(), slopes, delta, float(np.sum(np.abs(delta))))

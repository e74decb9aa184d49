"""Shallow univariate ReLU networks as splines (Sahs et al., 2022).

A network :math:`f(x)=\\sum_{i=1}^H v_i(w_ix+b_i)_+ + c` is rewritten in spline ("BDSO")
coordinates: breakpoints :math:`\\beta_i=-b_i/w_i`, delta-slopes :math:`\\mu_i=v_i|w_i|` and
orientations :math:`s_i=\\operatorname{sgn} w_i`, so that
:math:`f(x)=\\sum_i\\mu_i\\,(s_i(x-\\beta_i))_+ + c`.

Both forms, the rescaling symmetry and ρ, TV(f') live in the common core
(:mod:`relubook.core.shallow`, shared with chapters 10–12) and are re-exported here. This
module adds the slope energy, batched initialisation of many networks at once, and the
closed forms of the breakpoint law and the roughness density κ under Gaussian and PyTorch-default inits.
Every array of networks has shape ``(n_nets, H)`` (``c`` has shape ``(n_nets,)``).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.init import uniform_fan_in
from ..core.shallow import (
    Shallow,
    Spline,
    as_batch,
    eval_network,
    eval_spline,
    from_spline,
    network_slope,
    rescale,
    roughness,
    slope_jumps,
    to_spline,
)

__all__ = [
    "INITS",
    "Shallow",
    "Spline",
    "as_batch",
    "breakpoint_pdf_gaussian",
    "breakpoint_pdf_pytorch",
    "eval_network",
    "eval_spline",
    "expected_count_gaussian",
    "expected_rho",
    "expected_tv_gaussian",
    "from_spline",
    "init_shallow",
    "kappa_bin_average",
    "kappa_cumulative_gaussian",
    "kappa_cumulative_pytorch",
    "kappa_gaussian",
    "kappa_histogram",
    "kappa_pytorch",
    "mass_near",
    "network_slope",
    "rescale",
    "roughness",
    "roughness_sample",
    "scheme_variances",
    "slope_energy",
    "slope_jumps",
    "slope_variance",
    "to_spline",
]

#: Initialisation schemes known to :func:`init_shallow`.
INITS = ("he", "lecun", "glorot", "pytorch", "ntk", "meanfield", "gaussian")


# --------------------------------------------------------------------------- roughness
def slope_energy(sp: Spline, X: float) -> np.ndarray:
    """Slope energy (1/2X) ∫_{−X}^{X} f'(x)² dx of each spline, exactly (piecewise constant f')."""
    if X <= 0:
        raise ValueError("X must be positive")
    beta, mu, s = (np.atleast_2d(a) for a in sp[:3])
    # slope at −X: hinges active there are those with s(−X − β) > 0
    s0 = np.sum(np.where(s * (-X - beta) > 0, mu * s, 0.0), axis=1)
    inside = np.abs(beta) < X
    order = np.argsort(np.where(inside, beta, np.inf), axis=1)
    b_sorted = np.take_along_axis(np.where(inside, beta, X), order, axis=1)
    m_sorted = np.take_along_axis(np.where(inside, mu, 0.0), order, axis=1)
    knots = np.concatenate([np.full((beta.shape[0], 1), -X), b_sorted,
                            np.full((beta.shape[0], 1), X)], axis=1)
    slopes = s0[:, None] + np.concatenate([np.zeros((beta.shape[0], 1)),
                                           np.cumsum(m_sorted, axis=1)], axis=1)
    return np.sum(np.diff(knots, axis=1) * slopes**2, axis=1) / (2 * X)


def mass_near(sp: Spline, points: np.ndarray, radius: float) -> np.ndarray:
    r"""Share of the delta-slope mass Σ|μ_i| whose breakpoints lie within ``radius`` of a point.

    .. math:: \frac{\sum_i |\mu_i|\,1[\min_n|\beta_i-x_n|<r]}{\sum_i|\mu_i|}

    Parameters
    ----------
    sp : Spline
        Spline coordinates of ``n`` networks.
    points : numpy.ndarray
        The points x_n (e.g. the data), shape ``(P,)``.
    radius : float
        The radius r > 0.

    Returns
    -------
    numpy.ndarray
        One share in [0, 1] per network, shape ``(n,)``.
    """
    if radius <= 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    points = np.asarray(points, dtype=float).ravel()
    if points.size == 0:
        raise ValueError("need at least one point")
    beta, mu = np.atleast_2d(sp.beta), np.abs(np.atleast_2d(sp.mu))
    near = np.min(np.abs(beta[:, :, None] - points), axis=2) < radius
    return np.sum(mu * near, axis=1) / np.sum(mu, axis=1)


# ------------------------------------------------------------------- initialisation
def scheme_variances(scheme: str, width: int, sigma_w: float = 1.0, sigma_v: float | None = None
                     ) -> tuple[float, float]:
    """(σ_w², σ_v²): variances of first- and second-layer weights of a scheme at width H.

    He (2, 2/H), LeCun (1, 1/H), Glorot (2/(H+1), 2/(H+1)), PyTorch default (1/3, 1/(3H)),
    NTK (1, 1/H), mean-field (1, 1/H²), Gaussian (σ_w², σ_v²; σ_v defaults to 1/√H).
    """
    _check_scheme(scheme, width)
    table = {"he": (2.0, 2.0 / width), "lecun": (1.0, 1.0 / width),
             "glorot": (2.0 / (width + 1), 2.0 / (width + 1)), "pytorch": (1 / 3, 1 / (3 * width)),
             "ntk": (1.0, 1.0 / width), "meanfield": (1.0, 1.0 / width**2)}
    if scheme == "gaussian":
        sv = 1.0 / math.sqrt(width) if sigma_v is None else sigma_v
        return sigma_w**2, sv**2
    return table[scheme]


def _check_scheme(scheme: str, width: int) -> None:
    if scheme not in INITS:
        raise ValueError(f"unknown scheme {scheme!r}; valid schemes: {', '.join(INITS)}")
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"the width H must be a positive int, got {width!r}")


def init_shallow(scheme: str, width: int, n: int, rng: np.random.Generator, *,
                 sigma_w: float = 1.0, sigma_b: float = 1.0, sigma_v: float | None = None,
                 bias: str = "uniform") -> Shallow:
    """``n`` random networks 1→H→1 drawn at once.

    Parameters
    ----------
    scheme
        ``he``, ``lecun``, ``glorot`` (normal weights with the scheme's variance);
        ``pytorch`` (``nn.Linear`` default: w, b ~ U(±1), v, c ~ U(±1/√H));
        ``ntk`` (w, b ~ N(0,1), v = a/√H), ``meanfield`` (w, b ~ N(0,1), v = a/H), a ~ N(0,1),
        c = 0; ``gaussian`` (w ~ N(0,σ_w²), b ~ N(0,σ_b²), v ~ N(0,σ_v²), c = 0).
    bias
        For he/lecun/glorot: ``"uniform"`` (PyTorch's bias default, b ~ U(±1), c ~ U(±1/√H))
        or ``"zero"`` (Keras default: every breakpoint at 0).
    """
    _check_scheme(scheme, width)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"number of networks n must be a positive int, got {n!r}")
    if bias not in ("uniform", "zero"):
        raise ValueError(f"bias must be 'uniform' or 'zero', got {bias!r}")
    if min(sigma_w, sigma_b) <= 0 or (sigma_v is not None and sigma_v <= 0):
        raise ValueError("standard deviations must be positive")
    shape = (n, width)
    vw, vv = scheme_variances(scheme, width, sigma_w, sigma_v)
    if scheme == "pytorch":               # nn.Linear's default: fan-in 1, then fan-in H
        w = uniform_fan_in(shape, 1, rng)
        b = uniform_fan_in(shape, 1, rng)
        return Shallow(w, b, uniform_fan_in(shape, width, rng), uniform_fan_in((n,), width, rng))
    if scheme in ("ntk", "meanfield", "gaussian"):
        sb = sigma_b if scheme == "gaussian" else 1.0
        w = rng.normal(0, math.sqrt(vw), shape)
        b = rng.normal(0, sb, shape)
        return Shallow(w, b, rng.normal(0, math.sqrt(vv), shape), np.zeros(n))
    w = rng.normal(0, math.sqrt(vw), shape)
    v = rng.normal(0, math.sqrt(vv), shape)
    if bias == "zero":
        return Shallow(w, np.zeros(shape), v, np.zeros(n))
    bound = 1 / math.sqrt(width)
    return Shallow(w, rng.uniform(-1, 1, shape), v, rng.uniform(-bound, bound, n))


def roughness_sample(scheme: str, width: int, n: int, rng: np.random.Generator, X: float = 1.0,
                     chunk: int = 2**21, **kw) -> dict[str, np.ndarray]:
    """Roughness measures of ``n`` fresh networks, drawn in chunks of ≤ ``chunk`` neurons.

    Returns per-network arrays: ``rho``, ``tv`` (on ℝ), ``rho_X``, ``tv_X`` (breakpoints in
    [−X, X]), ``energy_X`` (slope energy on [−X, X]) and ``fprime0`` (f'(0)).
    """
    out: dict[str, list] = {k: [] for k in ("rho", "tv", "rho_X", "tv_X", "energy_X", "fprime0")}
    per = max(1, chunk // width)
    for j in range(0, n, per):
        net = init_shallow(scheme, width, min(per, n - j), rng, **kw)
        sp = to_spline(net)
        r, rx = roughness(sp), roughness(sp, X)
        out["rho"].append(r["rho"])
        out["tv"].append(r["tv"])
        out["rho_X"].append(rx["rho"])
        out["tv_X"].append(rx["tv"])
        out["energy_X"].append(slope_energy(sp, X))
        out["fprime0"].append(np.sum(net.v * net.w * (net.b > 0), axis=1))
    return {k: np.concatenate(v) for k, v in out.items()}


# --------------------------------------------------------------------- closed forms
def breakpoint_pdf_gaussian(x: np.ndarray, sigma_w: float, sigma_b: float) -> np.ndarray:
    """p(β) = σ_wσ_b / (π(σ_b² + σ_w²β²)): β is Cauchy(0, σ_b/σ_w)."""
    x = np.asarray(x, dtype=float)
    return sigma_w * sigma_b / (np.pi * (sigma_b**2 + sigma_w**2 * x**2))


def expected_count_gaussian(X: float, width: int, sigma_w: float, sigma_b: float) -> float:
    """E #{|β_i| ≤ X} = (2H/π) arctan(σ_w X/σ_b)."""
    return 2 * width / math.pi * math.atan(sigma_w * X / sigma_b)


def kappa_gaussian(x: np.ndarray, width: int, sigma_w: float, sigma_b: float, sigma_v: float
                   ) -> np.ndarray:
    """Roughness density κ(x) = E Σ μ_i² δ(x−β_i) = 2Hσ_v²σ_w³σ_b³ / (π(σ_b²+σ_w²x²)²)."""
    x = np.asarray(x, dtype=float)
    return (2 * width * sigma_v**2 * sigma_w**3 * sigma_b**3
            / (np.pi * (sigma_b**2 + sigma_w**2 * x**2) ** 2))


def kappa_cumulative_gaussian(x: np.ndarray, width: int, sigma_w: float, sigma_b: float,
                              sigma_v: float) -> np.ndarray:
    """∫_0^x κ = (Hσ_v²σ_w²/π)(arctan U + U/(1+U²)), U = σ_w x/σ_b (odd in x)."""
    u = sigma_w * np.asarray(x, dtype=float) / sigma_b
    return width * sigma_v**2 * sigma_w**2 / np.pi * (np.arctan(u) + u / (1 + u**2))


def breakpoint_pdf_pytorch(x: np.ndarray) -> np.ndarray:
    """PyTorch default (w, b ~ U(±1)): p(β) = 1/4 on |β| ≤ 1 and 1/(4β²) outside."""
    ax = np.abs(np.asarray(x, dtype=float))
    return np.where(ax <= 1, 0.25, 0.25 / np.maximum(ax, 1) ** 2)


def kappa_pytorch(x: np.ndarray) -> np.ndarray:
    """PyTorch default: κ = 1/24 on [−1, 1] and 1/(24x⁴) outside (for every H)."""
    ax = np.abs(np.asarray(x, dtype=float))
    return np.where(ax <= 1, 1 / 24, 1 / (24 * np.maximum(ax, 1) ** 4))


def kappa_cumulative_pytorch(x: np.ndarray) -> np.ndarray:
    """∫_0^x κ for the PyTorch default: x/24 on [0,1], 1/24 + (1 − x⁻³)/72 beyond (odd)."""
    x = np.asarray(x, dtype=float)
    ax = np.abs(x)
    inner = ax / 24
    outer = 1 / 24 + (1 - 1 / np.maximum(ax, 1) ** 3) / 72
    return np.sign(x) * np.where(ax <= 1, inner, outer)


def kappa_bin_average(edges: np.ndarray, cumulative) -> np.ndarray:
    """Exact average of κ over each bin [e_k, e_{k+1}] from its cumulative ∫_0^x κ."""
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be an increasing 1-D array of at least 2 values")
    k = cumulative(edges)
    return np.diff(k) / np.diff(edges)


def kappa_histogram(sp: Spline, edges: np.ndarray) -> np.ndarray:
    """Monte-Carlo κ: Σ μ² of breakpoints in each bin, per network and per unit length."""
    beta, mu = np.ravel(sp.beta), np.ravel(sp.mu)
    hist, _ = np.histogram(beta, bins=edges, weights=mu**2)
    return hist / (np.atleast_2d(sp.beta).shape[0] * np.diff(edges))


def expected_rho(scheme: str, width: int, **kw) -> float:
    """E ρ = H σ_v² σ_w² (independent of the bias law)."""
    vw, vv = scheme_variances(scheme, width, **kw)
    return width * vv * vw


def slope_variance(scheme: str, width: int, **kw) -> float:
    """Var f'(x) = H σ_v² σ_w² / 2 at every x (symmetric (w, b) law)."""
    return expected_rho(scheme, width, **kw) / 2


def expected_tv_gaussian(width: int, sigma_w: float, sigma_v: float, X: float | None = None,
                         sigma_b: float = 1.0) -> float:
    """E Σ|μ_i| = (2/π) H σ_v σ_w; over |β_i| ≤ X multiply by U/√(1+U²), U = σ_w X/σ_b."""
    tv = 2 / math.pi * width * sigma_v * sigma_w
    if X is None:
        return tv
    u = sigma_w * X / sigma_b
    return tv * u / math.sqrt(1 + u * u)

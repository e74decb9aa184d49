r"""Chapter 11's driver: the convex program, its certificate and the cutting-plane method.

:func:`certificate` runs everything on the six-point 1-D data set
(:func:`relubook.core.data.six_points`, inputs with a bias coordinate): the convex program at
the chapter's penalties, one batched gradient-descent program (the spline network, the
certificate's restarts and the narrow networks where descent stalls), the solver-free lower
bound and the per-restart dual violations. :func:`cutting_plane_2d` runs the cutting-plane
method on a small synthetic 2-D set and the full convex program beside it.
:func:`spline_metrics` measures how close a network is to the linear-spline interpolant, and
:func:`best_of_k` how likely the best of k restarts is to be certified. The ``plot_*``
functions draw the chapter's figures from these results.

The mathematics is in :mod:`relubook.topics.convex_duality`; functions that draw take
``rng: numpy.random.Generator`` and consume it in a fixed order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..core import plotting
from ..core.data import six_points
from ..core.shallow import Shallow, eval_network, interpolant
from ..topics import convex_duality as T

__all__ = ["best_of_k", "certificate", "cutting_plane_2d", "dual_profile", "plot_certificate",
           "plot_cutting_plane", "plot_spline", "plot_stalls", "spline_metrics",
           "two_d_data"]


def spline_metrics(x: np.ndarray, y: np.ndarray, U: np.ndarray, alpha: np.ndarray, *,
                   grid: int = 2001, rel: float = 1e-3) -> dict[str, Any]:
    r"""How close the network Σ_j (w_j x + b_j)_+ α_j (u_j = (w_j, b_j)) is to the interpolant.

    Returns
    -------
    dict
        ``sup``: max |f − interpolant| on ``grid`` points of [x_1, x_N]; ``path_norm``
        Σ|α_j w_j| and ``tv`` (the interpolant's TV(f')), ``path_ratio_error``
        |path_norm/tv − 1|; ``knots`` −b_j/w_j of the neurons whose weight |α_j w_j| exceeds
        ``rel`` times the largest, their ``knot_weights``, and ``max_knot_distance``, the
        largest distance of such a knot to an interior data point.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    U, alpha = np.atleast_2d(U), np.asarray(alpha, dtype=float)
    itp = interpolant(x, y)
    t = np.linspace(x[0], x[-1], grid)
    net = Shallow(U[None, :, 0], U[None, :, 1], alpha[None, :], np.zeros(1))
    f = eval_network(net, t)[0]
    weight = np.abs(alpha * U[:, 0])
    big = weight > rel * weight.max(initial=0.0)
    knots = -U[big, 1] / U[big, 0]
    dist = np.abs(knots[:, None] - itp.knots[None, :]).min(axis=1) if knots.size else knots
    path = float(weight.sum())
    return {"sup": float(np.abs(f - itp(t)).max()), "path_norm": path, "tv": itp.tv,
            "path_ratio_error": abs(path / itp.tv - 1), "knots": knots,
            "knot_weights": weight[big], "max_knot_distance": float(dist.max(initial=0.0)),
            "grid": t, "f": f}


def best_of_k(excess: np.ndarray, tol: float, ks: Sequence[int]) -> np.ndarray:
    r"""P(the best of k restarts drawn without replacement is within ``tol``), for each k.

    With s of the R restarts within ``tol``: 1 − C(R − s, k)/C(R, k) (exact, no resampling).
    """
    excess = np.asarray(excess, dtype=float)
    R, s = excess.size, int(np.sum(excess <= tol))
    out = []
    for k in ks:
        if not 1 <= k <= R:
            raise ValueError(f"k must be in [1, {R}], got {k}")
        out.append(1 - math.comb(R - s, k) / math.comb(R, k))
    return np.asarray(out)


def _dead(Z: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Neurons (rows of U) that are zero on every data point."""
    return np.all(Z @ U.T <= 0, axis=0)


def certificate(cfg: Mapping[str, Any], rng: np.random.Generator, *,
                progress: bool = False) -> dict[str, Any]:
    r"""The six-point experiments: convex optima, batched restarts, bounds and violations.

    ``cfg`` keys: ``solver``; ``beta`` (the certificate's penalty), ``width`` and ``restarts``;
    ``stall_widths`` and ``stall_restarts`` (narrow networks at ``beta``); ``spline_beta``
    and ``spline_width`` (one network for the spline claim); ``beta_sweep`` (convex optima
    only); ``steps``, ``lr``, ``lr_decay`` (Adam).

    Returns
    -------
    dict
        ``p_cvx`` and ``cvx`` (the solution at ``beta``), its neurons ``U_cvx``, ``alpha_cvx``,
        their ``activity`` and the dual ``feasibility`` M/β − 1 of v = y − ŷ; ``p_half`` (the
        optimum with β/2 on the norms: the factor-of-two trap); ``groups`` (per group of
        networks: ``name``, ``width``, ``beta``, ``objective``, ``excess`` relative to its
        convex optimum, ``violation`` M/β − 1 of its residual, ``dead_init``, ``dead_end``);
        ``p_gd`` (best certificate restart), ``gap``, ``lower`` (solver-free bound from its
        residual); ``spline`` and ``spline_cvx`` (:func:`spline_metrics` of the network and
        of the convex optimum at ``spline_beta``), ``p_spline_cvx``; ``sweep`` (β, sup
        deviation of the convex optimum from the interpolant); ``gd`` (the raw training).
    """
    x, y = six_points()
    Z = T.with_bias(x)
    pats = T.arrangement_patterns(Z)
    solver = cfg["solver"]
    beta, sbeta = float(cfg["beta"]), float(cfg["spline_beta"])

    def solve(b: float) -> dict[str, Any]:
        return T.solve_convex_program(Z, y, b, patterns=pats, solver=solver)

    cvx, cvx_s, cvx_half = solve(beta), solve(sbeta), solve(beta / 2)
    Uc, ac = T.recover_neurons(cvx["V"], cvx["W"])
    v = y - cvx["yhat"]
    Us, as_ = T.recover_neurons(cvx_s["V"], cvx_s["W"])
    sweep = []
    for b in cfg["beta_sweep"]:
        s = solve(float(b))
        sweep.append(spline_metrics(x, y, *T.recover_neurons(s["V"], s["W"]))["sup"])

    groups = [("spline", int(cfg["spline_width"]), sbeta, 1),
              ("certificate", int(cfg["width"]), beta, int(cfg["restarts"]))]
    groups += [(f"width {m}", int(m), beta, int(cfg["stall_restarts"]))
               for m in cfg["stall_widths"]]
    widths = [w for _, w, _, r in groups for _ in range(r)]
    betas = [b for _, _, b, r in groups for _ in range(r)]
    gd = T.train_restarts(Z, y, betas, widths, int(cfg["steps"]), float(cfg["lr"]), rng,
                          decay=float(cfg["lr_decay"]), progress=progress)
    out_groups, k = [], 0
    for name, w, b, r in groups:
        obj = gd["objective"][k:k + r]
        p_ref = cvx_s["value"] if name == "spline" else cvx["value"]
        viol, dead0, dead1 = [], [], []
        for j in range(k, k + r):
            sel = gd["net"] == j
            res = y - T.network_outputs(Z, gd["U"][sel], gd["alpha"][sel])
            viol.append(T.dual_constraint(Z, res)[0] / b - 1)
            dead0.append(int(_dead(Z, gd["U0"][sel]).sum()))
            dead1.append(int(_dead(Z, gd["U"][sel]).sum()))
        out_groups.append({"name": name, "width": w, "beta": b, "objective": obj,
                           "excess": (obj - p_ref) / p_ref, "violation": np.asarray(viol),
                           "dead_init": np.asarray(dead0), "dead_end": np.asarray(dead1),
                           "first": k})
        k += r
    cert = out_groups[1]
    best = cert["first"] + int(np.argmin(cert["objective"]))
    sel = gd["net"] == best
    res_best = y - T.network_outputs(Z, gd["U"][sel], gd["alpha"][sel])
    p_gd = float(gd["objective"][best])
    sp = gd["net"] == 0
    return {
        "x": x, "y": y, "Z": Z, "patterns": pats, "beta": beta, "spline_beta": sbeta,
        "cvx": cvx, "p_cvx": cvx["value"], "U_cvx": Uc, "alpha_cvx": ac, "v": v,
        "activity": T.neuron_activity(Z, v, Uc, ac, beta),
        "feasibility": T.dual_constraint(Z, v)[0] / beta - 1,
        "n_distinct": len(np.unique(np.round(Uc / np.linalg.norm(Uc, axis=1, keepdims=True),
                                             6), axis=0)),
        "p_half": cvx_half["value"], "groups": out_groups, "p_gd": p_gd,
        "gap": (p_gd - cvx["value"]) / cvx["value"],
        "lower": T.scaled_dual_bound(Z, y, res_best, beta)["bound"],
        "U_gd": gd["U"][sel], "alpha_gd": gd["alpha"][sel],
        "spline": spline_metrics(x, y, gd["U"][sp], gd["alpha"][sp]),
        "spline_cvx": spline_metrics(x, y, Us, as_), "p_spline_cvx": cvx_s["value"],
        "U_spline_cvx": Us, "alpha_spline_cvx": as_, "U_spline_gd": gd["U"][sp],
        "alpha_spline_gd": gd["alpha"][sp],
        "p_spline_gd": float(gd["objective"][0]),
        "sweep": (np.asarray(cfg["beta_sweep"], dtype=float), np.asarray(sweep)),
        "gd": gd,
    }


def two_d_data(n: int, rng: np.random.Generator, margin: float = 0.1
               ) -> tuple[np.ndarray, np.ndarray]:
    r"""An XOR in 2-D: ``n`` points, point k in quadrant k mod 4, with labels y = sgn(x_1 x_2).

    Each coordinate's magnitude is uniform on [``margin``, 1], so every quadrant holds
    ⌈n/4⌉ or ⌊n/4⌋ points and none lies on an axis.

    Shape:
        - Output: x (n, 2), y (n,) in {−1, +1}
    """
    n = int(n)
    if n < 4 or not 0 <= margin < 1:
        raise ValueError(f"need n >= 4 and margin in [0, 1), got {n}, {margin}")
    signs = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])[np.arange(n) % 4]
    x = signs * rng.uniform(margin, 1.0, (n, 2))
    return x, np.sign(x[:, 0] * x[:, 1])


def cutting_plane_2d(cfg: Mapping[str, Any], rng: np.random.Generator, *,
                     progress: bool = False, grid: int = 121) -> dict[str, Any]:
    r"""The cutting-plane method on :func:`two_d_data`, with the full convex program beside it.

    ``cfg`` keys: ``solver``, ``cp_points``, ``cp_beta``, ``cp_tol``, ``cp_max_rounds``,
    ``cp_init`` (random initial directions).

    Returns
    -------
    dict
        ``cut`` (:func:`relubook.topics.convex_duality.cutting_plane`), ``p_full`` (the convex
        program over all patterns) and ``n_patterns``, ``outside`` (how far p_full lies
        outside the certified bracket [lower, primal], relative), ``activity`` of the recovered
        neurons under the final dual point, ``accuracy`` (sign agreement on the data), the
        data ``x``, ``y`` and the decision function ``f`` on a ``grid``² square ``g1``.
    """
    x, y = two_d_data(cfg["cp_points"], rng)
    Z = T.with_bias(x)
    beta = float(cfg["cp_beta"])
    U0 = rng.normal(size=(int(cfg["cp_init"]), 3))
    cut = T.cutting_plane(Z, y, beta, U0, tol=float(cfg["cp_tol"]),
                          max_rounds=int(cfg["cp_max_rounds"]), solver=cfg["solver"],
                          progress=progress)
    full = T.solve_convex_program(Z, y, beta, solver=cfg["solver"])
    p = full["value"]
    outside = max(cut["lower_bound"] - p, p - cut["primal"], 0.0) / p
    g1 = np.linspace(-1.2, 1.2, grid)
    G = T.with_bias(np.stack(np.meshgrid(g1, g1), axis=-1).reshape(-1, 2))
    f = T.network_outputs(G, cut["U"], cut["alpha"]).reshape(grid, grid)
    fx = T.network_outputs(Z, cut["U"], cut["alpha"])
    return {"x": x, "y": y, "beta": beta, "cut": cut, "p_full": p,
            "n_patterns": len(full["patterns"]), "full_seconds": full["seconds"],
            "outside": outside, "activity": T.neuron_activity(Z, cut["v"], cut["U"],
                                                              cut["alpha"], beta),
            "accuracy": float(np.mean(np.sign(fx) == y)), "g1": g1, "f": f}


def dual_profile(Z: np.ndarray, v: np.ndarray, beta: float, count: int = 3601
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""θ ∈ [0, 2π) and v^T(Z u(θ))_+/β for u(θ) = (cos θ, sin θ) (inputs of dimension 1)."""
    th = np.linspace(0.0, 2 * np.pi, count)
    U = np.stack([np.cos(th), np.sin(th)], axis=1)
    return th, np.maximum(U @ np.asarray(Z).T, 0.0) @ np.asarray(v) / beta


# --------------------------------------------------------------------------- figures
def plot_spline(axes, res: Mapping[str, Any]) -> None:
    """Left: data, interpolant, the trained network and the convex optimum at spline_beta;
    right: sup-distance of the convex optimum to the interpolant against β."""
    ax = axes[0]
    x, y = res["x"], res["y"]
    t = np.linspace(-1.3, 1.3, 521)
    G = T.with_bias(t)
    ax.plot(t, interpolant(x, y)(t), color="0.6", lw=4, label="linear-spline interpolant")
    ax.plot(t, T.network_outputs(G, res["U_spline_gd"], res["alpha_spline_gd"]), "-",
            color=plotting.PALETTE[0], label="gradient descent")
    ax.plot(t, T.network_outputs(G, res["U_spline_cvx"], res["alpha_spline_cvx"]), "--",
            color=plotting.PALETTE[3], label="convex optimum")
    ax.plot(x, y, "ko", ms=5, label="data")
    kn = res["spline"]["knots"]
    ax.plot(kn, np.full(kn.size, -1.45), "|", color=plotting.PALETTE[0], ms=10,
            label="knots of the trained network")
    ax.set(xlabel="input $x$", ylabel="output $f(x)$", ylim=(-1.6, 1.6))
    ax = axes[1]
    b, s = res["sweep"]
    ax.loglog(b, s, "o-", color=plotting.PALETTE[3])
    ax.set(xlabel=r"penalty $\beta$", ylabel=r"$\max|f_\beta-$ interpolant$|$ on $[x_1,x_N]$")


def plot_certificate(axes, res: Mapping[str, Any]) -> None:
    """Left: the certified optimum and the best restart at β; right: the dual constraint
    v^T(Zu(θ))_+/β on the unit circle, touching ±1 at the optimum's neurons."""
    ax = axes[0]
    x, y, Z = res["x"], res["y"], res["Z"]
    t = np.linspace(-1.3, 1.3, 521)
    G = T.with_bias(t)
    ax.plot(t, T.network_outputs(G, res["U_cvx"], res["alpha_cvx"]), color="0.6", lw=4,
            label="convex optimum (Clarabel)")
    ax.plot(t, T.network_outputs(G, res["U_gd"], res["alpha_gd"]), "--",
            color=plotting.PALETTE[0], label="best restart")
    ax.plot(x, y, "ko", ms=5, label="data")
    ax.set(xlabel="input $x$", ylabel="output $f(x)$")
    ax = axes[1]
    th, F = dual_profile(Z, res["v"], res["beta"])
    ax.plot(th, F, color=plotting.PALETTE[2], label=r"$v^\top(\tilde X u(\theta))_+/\beta$")
    ax.axhline(1, color="k", lw=0.8, ls=":")
    ax.axhline(-1, color="k", lw=0.8, ls=":")
    U = res["U_cvx"]
    ang = np.mod(np.arctan2(U[:, 1], U[:, 0]), 2 * np.pi)
    ax.plot(ang, np.sign(res["alpha_cvx"]), "o", color=plotting.PALETTE[3], ms=5,
            label="neurons of the optimum")
    ax.set(xlabel=r"direction $\theta$ of $u=(\cos\theta,\sin\theta)$ (rad)",
           ylabel="dual constraint / $\\beta$", xlim=(0, 2 * np.pi))


def plot_stalls(axes, res: Mapping[str, Any], tol: float) -> None:
    """Left: relative excess over the certified optimum of every restart, by width; right:
    dual violation against excess."""
    groups = res["groups"][1:]
    names = [g["name"] for g in groups]
    col = plotting.case_colors(names)
    floor = 1e-7
    for i, g in enumerate(groups):
        e = np.maximum(g["excess"], floor)
        jitter = (np.arange(e.size) % 7 - 3) * 0.05
        label = f"width {g['width']}" + (" (certificate)" if i == 0 else "")
        axes[0].semilogy(np.full(e.size, i) + jitter, e, plotting.MARKERS[i],
                         color=col[g["name"]], ms=4, alpha=0.8, label=label)
        axes[1].loglog(e, np.maximum(g["violation"], floor), plotting.MARKERS[i],
                       color=col[g["name"]], ms=4, alpha=0.8)
    axes[0].axhline(tol, color="k", ls=":", lw=0.8)
    axes[0].set_xticks(range(len(groups)), [str(g["width"]) for g in groups])
    axes[0].set(xlabel="hidden width $m$", ylabel=r"$(p_{\rm GD}-p_{\rm cvx})/p_{\rm cvx}$")
    axes[1].axvline(tol, color="k", ls=":", lw=0.8)
    axes[1].set(xlabel=r"$(p_{\rm GD}-p_{\rm cvx})/p_{\rm cvx}$",
                ylabel=r"dual violation $M/\beta-1$")


def plot_cutting_plane(axes, res: Mapping[str, Any]) -> None:
    """Left: violation and gap against rounds; right: the decision function and the data."""
    cut = res["cut"]
    r = np.arange(1, cut["rounds"] + 1)
    ax = axes[0]
    ax.semilogy(r, np.maximum(cut["violation"], 1e-12), "-", color=plotting.PALETTE[0],
                label=r"violation $M/\beta-1$")
    ax.semilogy(r, np.maximum(cut["gap"], 1e-12), "--", color=plotting.PALETTE[3],
                label="relative gap: restricted optimum vs lower bound")
    ax.set(xlabel="round", ylabel="relative value")
    ax = axes[1]
    g1, f = res["g1"], res["f"]
    m = float(np.abs(f).max())
    im = ax.contourf(g1, g1, f, levels=np.linspace(-m, m, 21), cmap="RdBu_r")
    ax.contour(g1, g1, f, levels=[0.0], colors="k", linewidths=1.2)
    x, y = res["x"], res["y"]
    for lab, mk in ((1.0, "o"), (-1.0, "s")):
        s = y == lab
        ax.plot(x[s, 0], x[s, 1], mk, mfc="white" if lab > 0 else "k", mec="k", ms=5,
                ls="none", label=f"label {lab:+.0f}")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    ax.figure.colorbar(im, ax=ax, label="network output $f(x)$", shrink=0.8,
                       ticks=MaxNLocator(5))

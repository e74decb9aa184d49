r"""Chapter 1's driver: the experiments K1–K7 on shallow univariate ReLU networks as splines.

Each function runs one experiment of the chapter on many networks at once (NumPy float64,
networks batched along the leading axis, :mod:`relubook.topics.splines` and
:mod:`relubook.topics.spline_dynamics` do the mathematics) and returns the measured values,
their worst cases over the experiment's settings (what the chapter's named checks compare with
thresholds) and the arrays its figures need.

Functions that draw take ``rng: numpy.random.Generator`` and consume it in a fixed order;
:func:`regime_sweep` takes ``rng_for(k, i)``, the generator of the network with seed index k
and scale index i, so that a network does not depend on the size of the sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from ..core.fits import loglog_slope
from ..topics import spline_dynamics as D
from ..topics import splines as S

__all__ = ["FAN_IN", "SCALING", "exactness", "breakpoint_law", "roughness_density",
           "width_scaling", "gradient_flow", "regime_sweep", "hessian_at_minima",
           "plot_regime"]

#: Schemes whose total roughness E ρ is constant in the width H (fan-in scalings).
FAN_IN = ("he", "lecun", "ntk", "pytorch")
#: Schemes whose E ρ falls as 1/H.
SCALING = ("glorot", "meanfield")


def exactness(widths: Sequence[int], n_nets: int, grid: int, rng: np.random.Generator,
              span: float = 5.0) -> dict[str, float]:
    r"""K1: the network form equals the spline form, which is rescaling-invariant.

    For each width H, ``n_nets`` PyTorch-default networks are compared on ``grid`` points of
    [−span, span]; their spline coordinates are recomputed after a random per-neuron rescaling
    α ∈ [0.1, 10]; and the slope jumps of the network form at its breakpoints are compared
    with μ (:func:`relubook.topics.splines.slope_jumps`).

    Parameters
    ----------
    widths : sequence of int
        The widths H.
    n_nets : int
        Networks per width.
    grid : int
        Number of evaluation points.
    rng : numpy.random.Generator
        Draws the networks, then the rescalings, width after width.
    span : float
        Half-width of the evaluation interval.

    Returns
    -------
    dict
        ``eval``: max |f_NN − f_spline|; ``rescale``: max relative change of (β, μ, s, c),
        |a − b| / max(1, |a|); ``jump``: max |slope jump − μ_i|; each over all widths.
    """
    xg = np.linspace(-span, span, grid)
    out = {"eval": 0.0, "rescale": 0.0, "jump": 0.0}
    for H in widths:
        net = S.init_shallow("pytorch", int(H), n_nets, rng)
        sp = S.to_spline(net)
        err = np.abs(S.eval_network(net, xg) - S.eval_spline(sp, xg)).max()
        sp2 = S.to_spline(S.rescale(net, rng.uniform(0.1, 10, net.w.shape)))
        rel = max(np.max(np.abs(a - b) / np.maximum(1, np.abs(a))) for a, b in zip(sp, sp2))
        jumps, mu_sorted = S.slope_jumps(net)
        out["eval"] = max(out["eval"], float(err))
        out["rescale"] = max(out["rescale"], float(rel))
        out["jump"] = max(out["jump"], float(np.abs(jumps - mu_sorted).max()))
    return out


def breakpoint_law(pairs: Sequence[Sequence[float]], n_samples: int, rng: np.random.Generator,
                   width: int = 100, X: float = 1.0) -> dict:
    r"""K2: breakpoints β = −b/w are Cauchy(0, σ_b/σ_w) under Gaussian (w, b).

    For each (σ_w, σ_b): a Kolmogorov–Smirnov test of ``n_samples`` breakpoints (networks of
    width H) against Cauchy(0, σ_b/σ_w), and the z-score of the mean count of breakpoints in
    [−X, X] against (2H/π) arctan(σ_w X/σ_b). Then P(|β| ≤ 1) under the PyTorch default
    (closed form 1/2).

    Returns
    -------
    dict
        ``pairs``: one dict per pair (``sigma_w``, ``sigma_b``, ``p``, ``count``,
        ``expected``, ``z``); ``beta``: the samples by key ((σ_w, σ_b) or ``"pytorch"``);
        ``p_inside``; the worst cases ``min_p``, ``max_abs_z`` and
        ``p_inside_error`` = |P(|β| ≤ 1) − 1/2|.
    """
    n = max(1, n_samples // width)
    rows, beta = [], {}
    for sw, sb in pairs:
        sw, sb = float(sw), float(sb)
        sp = S.to_spline(S.init_shallow("gaussian", width, n, rng, sigma_w=sw, sigma_b=sb))
        beta[(sw, sb)] = sp.beta.ravel()
        p = stats.kstest(sp.beta.ravel(), stats.cauchy(scale=sb / sw).cdf).pvalue
        counts = np.sum(np.abs(sp.beta) <= X, axis=1)
        expected = S.expected_count_gaussian(X, width, sw, sb)
        z = (counts.mean() - expected) / (counts.std(ddof=1) / np.sqrt(counts.size))
        rows.append({"sigma_w": sw, "sigma_b": sb, "p": float(p), "count": float(counts.mean()),
                     "expected": expected, "z": float(z)})
    beta["pytorch"] = S.to_spline(S.init_shallow("pytorch", width, n, rng)).beta.ravel()
    p_in = float(np.mean(np.abs(beta["pytorch"]) <= 1))
    return {"pairs": rows, "beta": beta, "p_inside": p_in,
            "min_p": min(r["p"] for r in rows), "max_abs_z": max(abs(r["z"]) for r in rows),
            "p_inside_error": abs(p_in - 0.5)}


def roughness_density(pairs: Sequence[Sequence[float]], width: int, n_nets: int,
                      rng: np.random.Generator, edges: np.ndarray | None = None) -> dict:
    r"""K3: mean ρ = Σμ_i² and the roughness density κ(x) = E Σ μ_i² δ(x − β_i) at init.

    Gaussian networks (σ_v = 1/√H) for each (σ_w, σ_b): the relative error of mean ρ against
    Hσ_v²σ_w², and the μ²-weighted breakpoint histogram against the exact bin averages of κ.
    Then the PyTorch default: κ = 1/24 on [−1, 1] (bins of a quarter) and the share of ρ from
    breakpoints in [−1, 1] (closed form 3/4).

    Returns
    -------
    dict
        ``pairs``: one dict per pair (``sigma_w``, ``sigma_b``, ``rho_error``, ``worst_bin``);
        ``hist``: (Monte Carlo, exact) bin values by key, on ``edges``; ``edges``;
        ``pytorch_worst_bin``; ``pytorch_share_inside``; worst cases ``max_rho_error``
        (|relative error|) and ``max_worst_bin``.
    """
    edges = np.linspace(-2, 2, 17) if edges is None else np.asarray(edges, dtype=float)
    sv = 1 / np.sqrt(width)
    rows, hist = [], {}
    for sw, sb in pairs:
        sw, sb = float(sw), float(sb)
        sp = S.to_spline(S.init_shallow("gaussian", width, n_nets, rng, sigma_w=sw, sigma_b=sb))
        rho_err = S.roughness(sp)["rho"].mean() / (width * sv**2 * sw**2) - 1
        exact = S.kappa_bin_average(
            edges, lambda t, sw=sw, sb=sb: S.kappa_cumulative_gaussian(t, width, sw, sb, sv))
        hist[(sw, sb)] = (S.kappa_histogram(sp, edges), exact)
        worst = np.max(np.abs(hist[(sw, sb)][0] / exact - 1))
        rows.append({"sigma_w": sw, "sigma_b": sb, "rho_error": float(rho_err),
                     "worst_bin": float(worst)})
    sp = S.to_spline(S.init_shallow("pytorch", width, n_nets, rng))
    worst_u = np.max(np.abs(S.kappa_histogram(sp, np.linspace(-1, 1, 9)) * 24 - 1))
    hist["pytorch"] = (S.kappa_histogram(sp, edges),
                       S.kappa_bin_average(edges, S.kappa_cumulative_pytorch))
    share = S.roughness(sp, X=1.0)["rho"].mean() / S.roughness(sp)["rho"].mean()
    return {"pairs": rows, "hist": hist, "edges": edges, "pytorch_worst_bin": float(worst_u),
            "pytorch_share_inside": float(share),
            "max_rho_error": max(abs(r["rho_error"]) for r in rows),
            "max_worst_bin": max(r["worst_bin"] for r in rows)}


def width_scaling(schemes: Sequence[str], widths: Sequence[int], n_nets: int,
                  rng: np.random.Generator, target_energy: float, X: float = 1.0,
                  flat_ratio: float = 0.05, glorot_min_width: int = 64,
                  progress: Callable | None = None) -> dict:
    r"""K4: total roughness, slope variation and flatness against width, scheme by scheme.

    For each scheme and width H, ``n_nets`` fresh networks give: mean ρ and its z-score against
    E ρ = Hσ_v²σ_w²; mean TV(f') = Σ|μ_i|; the mean slope energy on [−X, X] divided by
    ``target_energy`` (the *ratio*; "very flat" when below ``flat_ratio``); and the z-score
    and relative error of the sample mean of f'(0)² against Var f'(0) = Hσ_v²σ_w²/2.
    Log-log slopes against H are fitted over all widths (over H ≥ ``glorot_min_width`` for
    Glorot, whose E ρ = 4H/(H+1)² bends at small H).

    Returns
    -------
    dict
        ``widths``; per scheme arrays ``rho``, ``rho_se``, ``tv``, ``ratio``, ``z_rho``,
        ``z_var``, ``var_error``, ``var_rel_se`` (each ``(len(widths),)``) under
        ``per_scheme``; ``slope_rho``, ``slope_tv``, ``predicted_flat``, ``measured_flat``
        (flat labels at every width, by scheme); ``flat_at_widest`` (by scheme); worst cases
        ``max_abs_z_rho``, ``max_abs_z_var``, ``max_var_error``, ``max_var_rel_se``,
        ``fan_in_rho_slope`` (max |slope|), ``scaling_rho_slope`` (max |slope + 1|),
        ``fan_in_tv_slope`` (max |slope − 1/2|), ``label_mismatches``, ``max_ratio_widest``.
    """
    for s in schemes:
        if s not in S.INITS or s == "gaussian":
            raise ValueError(f"unknown scheme {s!r}; valid: {', '.join(FAN_IN + SCALING)}")
    widths = np.asarray(widths, dtype=int)
    keys = ("rho", "rho_se", "tv", "ratio", "z_rho", "z_var", "var_error", "var_rel_se")
    per = {s: {k: [] for k in keys} for s in schemes}
    it = progress(schemes, desc="schemes") if progress is not None else schemes
    for scheme in it:
        for H in widths:
            out = S.roughness_sample(scheme, int(H), n_nets, rng, X=X)
            n = out["rho"].size
            se = out["rho"].std(ddof=1) / np.sqrt(n)
            var_pred = S.slope_variance(scheme, int(H))
            f0sq = out["fprime0"] ** 2
            var_se = np.sqrt((np.mean(f0sq**2) - np.mean(f0sq) ** 2) / n)
            row = {"rho": out["rho"].mean(), "rho_se": se, "tv": out["tv"].mean(),
                   "ratio": out["energy_X"].mean() / target_energy,
                   "z_rho": (out["rho"].mean() - S.expected_rho(scheme, int(H))) / se,
                   "z_var": (np.mean(f0sq) - var_pred) / var_se,
                   "var_error": np.mean(f0sq) / var_pred - 1, "var_rel_se": var_se / var_pred}
            for k in keys:
                per[scheme][k].append(float(row[k]))
    per = {s: {k: np.array(v) for k, v in d.items()} for s, d in per.items()}
    big = widths >= glorot_min_width
    slope_rho = {s: loglog_slope(widths[big], per[s]["rho"][big]) if s == "glorot"
                 else loglog_slope(widths, per[s]["rho"]) for s in schemes}
    slope_tv = {s: loglog_slope(widths, per[s]["tv"]) for s in schemes}
    predicted = {s: np.array([S.slope_variance(s, int(H)) / target_energy < flat_ratio
                              for H in widths]) for s in schemes}
    measured = {s: per[s]["ratio"] < flat_ratio for s in schemes}
    fan_in = [s for s in schemes if s in FAN_IN]
    scaling = [s for s in schemes if s in SCALING]
    return {
        "widths": widths, "per_scheme": per, "slope_rho": slope_rho, "slope_tv": slope_tv,
        "predicted_flat": predicted, "measured_flat": measured,
        "flat_at_widest": {s: bool(measured[s][-1]) for s in schemes},
        "max_abs_z_rho": max(float(np.abs(per[s]["z_rho"]).max()) for s in schemes),
        "max_abs_z_var": max(float(np.abs(per[s]["z_var"]).max()) for s in schemes),
        "max_var_error": max(float(np.abs(per[s]["var_error"]).max()) for s in schemes),
        "max_var_rel_se": max(float(per[s]["var_rel_se"].max()) for s in schemes),
        "fan_in_rho_slope": max((abs(slope_rho[s]) for s in fan_in), default=float("nan")),
        "scaling_rho_slope": max((abs(slope_rho[s] + 1) for s in scaling), default=float("nan")),
        "fan_in_tv_slope": max((abs(slope_tv[s] - 0.5) for s in fan_in), default=float("nan")),
        "label_mismatches": int(sum(np.sum(measured[s] != predicted[s]) for s in schemes)),
        "max_ratio_widest": max(float(per[s]["ratio"][-1]) for s in schemes),
    }


def gradient_flow(n_nets: int, width: int, n_points: int, rng: np.random.Generator,
                  lr: float = 1e-6, alphas: Sequence[float] | None = None) -> dict:
    r"""K5: the spline-coordinate gradient flow against one GD step, and β̇ ∝ α⁻².

    Random data (``n_points`` uniform points of [−1, 1], y = sin πx + 0.1 noise) and Gaussian
    networks (σ_w = σ_b = 1, σ_v = 1/√H). The closed forms of (β̇, μ̇)
    (:func:`relubook.topics.spline_dynamics.spline_velocity`) are compared with the change of
    (β, μ) in one GD step of rate ``lr``, divided by ``lr``: the error of a network is
    max|a − b| / max|b| over its neurons. The median |Δβ|/lr over neurons is measured after
    rescaling every network by α, and its log-log slope against α is fitted.

    Returns
    -------
    dict
        ``error`` (the largest relative error over networks and over β and μ), ``alphas``,
        ``speed`` (median |Δβ|/lr at each α), ``slope``.
    """
    x = np.sort(rng.uniform(-1, 1, n_points))
    y = np.sin(np.pi * x) + 0.1 * rng.standard_normal(n_points)
    net = S.init_shallow("gaussian", width, n_nets, rng, sigma_w=1.0, sigma_b=1.0)

    def rel(a, b):
        return np.max(np.abs(a - b), axis=1) / np.max(np.abs(b), axis=1)

    beta_dot, mu_dot, _ = D.spline_velocity(net, x, y)
    sp0, sp1 = S.to_spline(net), S.to_spline(D.gd_step(net, x, y, lr))
    err = max(rel((sp1.beta - sp0.beta) / lr, beta_dot).max(),
              rel((sp1.mu - sp0.mu) / lr, mu_dot).max())
    alphas = np.geomspace(0.1, 10, 9) if alphas is None else np.asarray(alphas, dtype=float)
    speed = np.array([np.median(np.abs(S.to_spline(D.gd_step(S.rescale(net, a), x, y, lr)).beta
                                       - sp0.beta) / lr) for a in alphas])
    return {"error": float(err), "alphas": alphas, "speed": speed,
            "slope": loglog_slope(alphas, speed)}


def regime_sweep(alphas: Sequence[float], n_seeds: int, steps: int,
                 rng_for: Callable[[int, int], np.random.Generator], width: int = 200,
                 n_points: int = 8, amplitude: float = 0.8, n_snapshots: int = 101,
                 near_radius: float = 0.03, progress: Callable | None = None) -> dict:
    r"""K6: kernel against rich regime as the initial scale α varies, all networks in one batch.

    Network (k, i) (seed index k, scale α_i, the α in increasing order) has w, b ~ N(0, α²),
    v ~ N(0, 1/(Hα²)), c = 0, drawn from ``rng_for(k, i)``: the same function law at every α,
    at another point of the rescaling orbit. Data: ``n_points`` equispaced points of [−1, 1],
    y = amplitude · sin πx. Full-batch GD for ``steps`` steps with η = 1/λ_max of each
    network's initial empirical NTK JJᵀ/N.

    Measured per network: *movement*, the |μ|-weighted mean |Δβ|
    (:func:`relubook.topics.spline_dynamics.breakpoint_movement`); *lazy distance*,
    sup_{[−1,1]} |f_T − f_T^lin| with f_T^lin the random-feature model (w, b frozen) after the
    same GD steps; *interpolant distance*, the same to the minimum-norm random-feature
    interpolant (the T → ∞ limit of f_T^lin); the final training loss; the share of |μ| within
    ``near_radius`` of a data point.

    Returns
    -------
    dict
        ``alphas``, ``x``, ``y``, ``xs`` (401 points of [−1, 1]), ``net0``, ``net_T`` (the
        batch, network k·len(alphas) + i), ``lr``, ``hist`` (snapshots), ``f_T`` (f_T on
        ``xs``); arrays ``(n_seeds, len(alphas))``: ``movement``, ``dist_lazy``,
        ``dist_interp``, ``loss``, ``near``; and the seed medians ``med_movement``,
        ``med_lazy``, ``med_interp``, ``med_loss``, ``med_near`` ``(len(alphas),)``.
    """
    alphas = np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or alphas.size < 2 or np.any(alphas <= 0) or np.any(np.diff(alphas) <= 0):
        raise ValueError(f"alphas must be at least two positive scales in increasing order, "
                         f"got {alphas!r}")
    if n_seeds < 1 or steps < 0:
        raise ValueError("need n_seeds >= 1 and steps >= 0")
    x = np.linspace(-1, 1, n_points)
    y = amplitude * np.sin(np.pi * x)
    parts = [S.init_shallow("gaussian", width, 1, rng_for(k, i), sigma_w=a,
                            sigma_b=a, sigma_v=1 / (np.sqrt(width) * a))
             for k in range(n_seeds) for i, a in enumerate(alphas)]
    net0 = S.Shallow(*(np.concatenate([p[j] for p in parts]) for j in range(4)))
    lr = 1 / D.ntk_lambda_max(net0, x)
    net_T, hist = D.train_gd(net0, x, y, lr, steps, n_snapshots=n_snapshots, progress=progress)
    xs = np.linspace(-1, 1, 401)
    f_T = S.eval_network(net_T, xs)
    shape = (n_seeds, alphas.size)
    sp0, sp_T = S.to_spline(net0), S.to_spline(net_T)
    lazy = D.kernel_predictor(net0, x, y, xs, steps=steps, lr=lr)
    out = {"movement": D.breakpoint_movement(sp0, sp_T),
           "dist_lazy": np.abs(f_T - lazy).max(1),
           "dist_interp": np.abs(f_T - D.kernel_predictor(net0, x, y, xs)).max(1),
           "loss": D.loss_and_grad(net_T, x, y)[0], "near": S.mass_near(sp_T, x, near_radius)}
    out = {k: v.reshape(shape) for k, v in out.items()}
    meds = {f"med_{k}": np.median(out[k], axis=0) for k in ("movement", "loss", "near")}
    meds["med_lazy"] = np.median(out["dist_lazy"], axis=0)
    meds["med_interp"] = np.median(out["dist_interp"], axis=0)
    return {"alphas": alphas, "x": x, "y": y, "xs": xs, "net0": net0, "net_T": net_T, "lr": lr,
            "hist": hist, "f_T": f_T, "lazy": lazy, "steps": steps, **out, **meds}


def hessian_at_minima(cases: Sequence[Sequence[int]], rng: np.random.Generator,
                      gd_steps: int = 5000, rank_tol: float = 1e-8,
                      amplitude: float = 0.8) -> dict:
    r"""K7: the exact Hessian of L at an interpolating minimum, against N and H.

    For each (N, H): one Gaussian network (σ_w = σ_b = 1, σ_v = 1/√H) is trained by GD
    (``gd_steps`` steps, η = 1/λ_max) on N equispaced points of [−1, 1] with
    y = amplitude · sin πx, then polished by minimum-norm Gauss–Newton steps
    (:func:`relubook.topics.spline_dynamics.gauss_newton_polish`). The exact Hessian ∇²L
    (:func:`relubook.topics.spline_dynamics.full_hessian`) is taken there and at init; a rank
    counts eigenvalues of magnitude above ``rank_tol`` · the largest magnitude.

    Returns
    -------
    dict
        ``cases``: one dict per (N, H) with ``N``, ``H``, ``loss`` (polished), ``rank`` (exact
        Hessian at the minimum), ``gn_rank`` (Gauss–Newton JᵀJ/N there), ``curvature`` (largest
        |dᵀ∇²L d| over unit symmetry directions d), ``rank_init``, ``negative_init`` (negative
        eigenvalues at init), ``eig_init``, ``eig_min``; and worst cases ``max_loss``,
        ``max_rank_excess`` (largest rank − N), ``max_gn_rank_excess``, ``max_curvature``.
    """
    rows = []
    for N, H in cases:
        N, H = int(N), int(H)
        x = np.linspace(-1, 1, N)
        y = amplitude * np.sin(np.pi * x)
        net = S.init_shallow("gaussian", H, 1, rng, sigma_w=1.0, sigma_b=1.0)
        trained, _ = D.train_gd(net, x, y, 1 / D.ntk_lambda_max(net, x), gd_steps)
        polished, loss = D.gauss_newton_polish(trained, x, y)
        h_min, h_init = D.full_hessian(polished, x, y), D.full_hessian(net, x, y)
        ev_min, ev_init = np.linalg.eigvalsh(h_min), np.linalg.eigvalsh(h_init)
        gn = np.linalg.eigvalsh(D.gauss_newton_hessian(polished, x)[0])
        d = D.symmetry_directions(polished)
        rows.append({
            "N": N, "H": H, "loss": float(loss),
            "rank": _rank(ev_min, rank_tol), "gn_rank": _rank(gn, rank_tol),
            "curvature": float(np.abs(np.einsum("ip,pq,iq->i", d, h_min, d)).max()),
            "rank_init": _rank(ev_init, rank_tol),
            "negative_init": int(np.sum(ev_init < -rank_tol * np.abs(ev_init).max())),
            "eig_init": ev_init, "eig_min": ev_min})
    return {"cases": rows, "max_loss": max(r["loss"] for r in rows),
            "max_rank_excess": max(r["rank"] - r["N"] for r in rows),
            "max_gn_rank_excess": max(r["gn_rank"] - r["N"] for r in rows),
            "max_curvature": max(r["curvature"] for r in rows)}


def _rank(eigenvalues: np.ndarray, tol: float) -> int:
    mag = np.abs(eigenvalues)
    return int(np.sum(mag > tol * mag.max()))


def plot_regime(ax_traj, ax_fun, sweep: dict, i: int, window: float = 2.0) -> None:
    """Breakpoint trajectories (colour |μ_i|) and the learned function of network ``i`` of a
    :func:`regime_sweep`, with the lazy (random-feature) prediction and the data."""
    import matplotlib.pyplot as plt

    hist, alpha = sweep["hist"], sweep["alphas"][i % sweep["alphas"].size]
    b, m = hist["beta"][:, i, :], np.abs(hist["mu"][:, i, :])
    keep = np.abs(b[0]) < window
    tt = np.repeat(hist["step"][:, None], keep.sum(), axis=1)
    sc = ax_traj.scatter(tt.ravel(), b[:, keep].ravel(), c=m[:, keep].ravel(), s=2,
                         cmap="viridis", vmin=0, vmax=np.quantile(m[-1], 0.98))
    for xd in sweep["x"]:
        ax_traj.axhline(xd, color="r", lw=0.5, ls=":")
    ax_traj.set(ylim=(-window, window), xlabel="GD step",
                ylabel="breakpoint $\\beta_i$ (input units)",
                title=f"$\\alpha$ = {alpha:g}: breakpoints during training")
    plt.colorbar(sc, ax=ax_traj, label="$|\\mu_i|$ (slope units)")
    net_i = S.Shallow(*(p[i:i + 1] for p in sweep["net0"]))
    ax_fun.plot(sweep["xs"], S.eval_network(net_i, sweep["xs"])[0], color="0.6", label="at init")
    ax_fun.plot(sweep["xs"], sweep["f_T"][i], "C0", lw=2, label="trained network")
    ax_fun.plot(sweep["xs"], sweep["lazy"][i], "C1--", label="lazy (random-feature) prediction")
    ax_fun.plot(sweep["x"], sweep["y"], "ko", label="data")
    ax_fun.set(xlabel="input $x$", ylabel="output $f(x)$",
               title=f"$\\alpha$ = {alpha:g}: learned function")
    ax_fun.legend(fontsize=7)

r"""Chapter 12's driver: the toy model's chains, the 1-D ReLU runs, their summaries and figures.

:func:`toy_experiment` runs every chain of the toy model :math:`h=abx` in one NumPy program:
from the start ``toy_start`` at each noise level of ``toy_sigmas`` (C1), and from each start
``(a_0, 1/a_0)`` of ``c2_starts`` with and without noise (C2), ``toy_seeds`` chains each.
:func:`toy_summary` reduces them to the chapter's measurements (end point, OU variance, drift
rate, stability). :func:`relu_experiment` trains ``relu_seeds`` networks of width ``width``
on the six points, each once by gradient descent and once with label noise from the same
initialisation, as one batch (:func:`relubook.topics.label_noise.train_relu`), and measures
them at every record (:func:`relu_summary`). The ``plot_*`` functions draw the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core import plotting
from ..core.data import six_points
from ..core.random import numpy_rng
from ..core.shallow import Shallow, eval_network, interpolant
from ..topics import label_noise as T

__all__ = [
    "TAIL",
    "init_relu",
    "plot_ou",
    "plot_relu_curves",
    "plot_relu_functions",
    "plot_stability",
    "plot_toy",
    "relu_experiment",
    "relu_summary",
    "toy_experiment",
    "toy_summary",
]

#: Share of the records at the end of a run over which end points are time-averaged
#: (fluctuations are pooled over the second half of a run).
TAIL = 0.1


def _groups(cfg: Mapping[str, Any]) -> list[tuple[str, float, float, float]]:
    """(group, a_0, b_0, σ) per block of ``toy_seeds`` chains."""
    a0, b0 = (float(v) for v in cfg["toy_start"])
    out = [("c1", a0, b0, float(s)) for s in cfg["toy_sigmas"]]
    for a in cfg["c2_starts"]:
        a = float(a)
        out += [("c2", a, 1.0 / a, float(cfg["c2_sigma"])), ("c2", a, 1.0 / a, 0.0)]
    return out


def toy_experiment(cfg: Mapping[str, Any], seed: int, *, progress: bool = False
                   ) -> dict[str, Any]:
    r"""Every toy chain of the chapter in one program (see the module docstring).

    ``cfg`` keys: ``toy_start`` [a_0, b_0], ``toy_sigmas``, ``c2_starts``, ``c2_sigma``,
    ``toy_seeds``, ``toy_lr``, ``toy_steps``, ``toy_records``.

    Returns
    -------
    dict
        The arrays of :func:`relubook.topics.label_noise.toy_run` (chains on the last axis),
        ``groups`` (one ``(group, a_0, b_0, σ)`` per block) and ``block`` (the block of each
        chain), ``sigma``, ``lr``.
    """
    groups = _groups(cfg)
    k = int(cfg["toy_seeds"])
    a0 = np.repeat([g[1] for g in groups], k)
    b0 = np.repeat([g[2] for g in groups], k)
    sig = np.repeat([g[3] for g in groups], k)
    res = T.toy_run(a0, b0, sig, float(cfg["toy_lr"]), int(cfg["toy_steps"]),
                    numpy_rng(seed, 12, 1), records=int(cfg["toy_records"]), progress=progress)
    res.update(groups=groups, block=np.repeat(np.arange(len(groups)), k), sigma=sig,
               lr=float(cfg["toy_lr"]))
    return res


def _tail(n_records: int) -> int:
    return max(1, round(TAIL * n_records))


def toy_summary(res: Mapping[str, Any]) -> dict[str, Any]:
    r"""The toy measurements, one row per block of chains.

    Per block: ``a_end``, ``b_end`` (per chain: the mean of the last ``TAIL`` share of the
    recorded snapshots), ``gap`` = max over chains |ā − b̄|, ``resid`` = max |āb̄ − 1|,
    ``reg_end`` (mean over chains and over the last ``TAIL`` share of the run of reg),
    ``disp0`` = max over chains and records of max(|a − a_0|, |b − b_0|) (σ = 0: does it move),
    ``ou_ratio`` (Σ of measured mean squared normal displacement over the second half /
    Σ of the OU prediction ησ²/(2 − η·reg), all chains pooled), ``rate_ratio`` (mean over
    chains of log|q_T/q_0| / the predicted −Σ η²σ²·2/(2 − η·reg) per step, q = a² − b²),
    ``dist_rms`` (RMS over chains of ‖θ_T − θ_0‖), ``ou_std`` (√ of the predicted normal
    variance at the start), ``tangent`` (∇reg along the manifold at the start) and ``dq0``
    (mean change of q over the first record interval).
    """
    lr = res["lr"]
    t = res["t"]
    every = t[1] - t[0]
    n_rec = res["u2"].shape[0]
    tail = _tail(n_rec)
    half = n_rec // 2
    rows = []
    for j, (group, a0, b0, s) in enumerate(res["groups"]):
        sel = res["block"] == j
        A, B = res["a"][:, sel], res["b"][:, sel]
        a_end, b_end = A[-tail:].mean(0), B[-tail:].mean(0)
        reg_i = res["reg"][:, sel]
        row = {"group": group, "a0": a0, "b0": b0, "sigma": s, "a_end": a_end, "b_end": b_end,
               "gap": float(np.max(np.abs(a_end - b_end))),
               "resid": float(np.max(np.abs(a_end * b_end - 1))),
               "reg_end": float(reg_i[-tail:].mean()),
               "disp0": float(np.max(np.maximum(np.abs(A - a0), np.abs(B - b0)))),
               "dist_rms": float(np.sqrt(np.mean((A[-1] - a0) ** 2 + (B[-1] - b0) ** 2))),
               "tangent": float(T.toy_tangent_grad(a0, b0)),
               "dq0": float(np.mean((A[1] ** 2 - B[1] ** 2) - (a0**2 - b0**2)))}
        if s > 0:
            row["ou_std"] = float(np.sqrt(T.ou_normal_variance(T.toy_reg(a0, b0), lr, s)))
            pred = T.ou_normal_variance(reg_i[half:], lr, s)
            row["ou_ratio"] = float(res["d2"][half:, sel].sum() / pred.sum())
            row["ou_ratio_cont"] = float(res["d2"][half:, sel].sum() / T.ou_normal_variance(
                reg_i[half:], lr, s, discrete=False).sum())
            q = res["logq"][:, sel]
            if np.all(np.isfinite(q)):
                pred_log = -every * np.sum(T.toy_drift_rate(lr, s, reg_i), axis=0)
                row["rate_ratio"] = float(np.mean((q[-1] - q[0]) / pred_log))
                row["rate_ratio_lead"] = float(np.mean((q[-1] - q[0]) / (-t[-1] * lr**2 * s**2)))
        rows.append(row)
    return {"rows": rows, "tail_steps": int(tail * every), "half_steps": int(t[half])}


# --------------------------------------------------------------------------- ReLU networks
def init_relu(seeds: int, width: int, scale: float, rng: np.random.Generator) -> Shallow:
    r"""``seeds`` networks 1→width→1: w, b ~ N(0, scale²), v ~ N(0, 1/width), c = 0."""
    w = scale * rng.standard_normal((seeds, width))
    b = scale * rng.standard_normal((seeds, width))
    v = rng.standard_normal((seeds, width)) / np.sqrt(width)
    return Shallow(w, b, v, np.zeros(seeds))


def relu_experiment(cfg: Mapping[str, Any], seed: int, *, progress: bool = False
                    ) -> dict[str, Any]:
    r"""GD and label-noise runs of ``relu_seeds`` networks from the same initialisations.

    ``cfg`` keys: ``width``, ``init_scale``, ``relu_seeds``, ``relu_sigma``, ``relu_lr``,
    ``relu_steps``, ``relu_records``. Chains ``0..k−1`` are gradient descent (σ = 0), chains
    ``k..2k−1`` label noise at ``relu_sigma``; chain ``i`` and ``k + i`` share their start.

    Returns
    -------
    dict
        :func:`relubook.topics.label_noise.train_relu`'s result, ``x``, ``y``, ``k`` and
        ``lr``.
    """
    x, y = six_points()
    k = int(cfg["relu_seeds"])
    net = init_relu(k, int(cfg["width"]), float(cfg["init_scale"]), numpy_rng(seed, 12, 2))
    both = Shallow(*(np.concatenate([p, p]) for p in net))
    sig = np.repeat([0.0, float(cfg["relu_sigma"])], k)
    res = T.train_relu(both, x, y, sig, float(cfg["relu_lr"]), int(cfg["relu_steps"]),
                       numpy_rng(seed, 12, 3), records=int(cfg["relu_records"]),
                       progress=progress)
    res.update(x=x, y=y, k=k, lr=float(cfg["relu_lr"]))
    return res


def relu_summary(res: Mapping[str, Any]) -> dict[str, Any]:
    r"""Metrics at every record, for every chain, and the OU check of the noise chains.

    Returns
    -------
    dict
        ``metrics``: each of ``reg``, ``reg_bal`` (the balanced regulariser), ``tv``,
        ``tv_all``, ``sup``, ``mse`` as an array (records + 1, 2k); ``gd``/``noise`` the chain
        slices; ``ratio_end`` reg_noise(T)/reg_GD(T) per seed; ``mono`` the largest relative
        increase of reg_noise between the samples at T/5, 2T/5, …, T (per seed);
        ``gd_drift`` max over GD chains of |reg(T) − reg(T/5)|/reg(T); ``tv_diff``
        TV_noise(T) − TV_GD(T) and ``bal_ratio`` (balanced regulariser, noise/GD) per seed;
        ``r2`` the measured mean ‖f(X) − y‖² per interval (records, k) of the noise chains,
        ``r2_pred`` the OU prediction Σ_k ησ²λ_k/(2 − ηλ_k) (λ_k of K/n, averaged over each
        interval's two ends; NaN where ηλ ≥ 2), ``r2_pred_cont`` the continuous-time
        ησ²Σλ_k/2; ``ou_ratio`` (``ou_ratio_cont``) per seed: Σ measured / Σ predicted over
        the second half; ``lam_max`` the largest ηλ over that half (``lam_max_init`` at the
        start, ``lam_max_gd`` of the GD chains at the end).
    """
    x, y, k, lr = res["x"], res["y"], res["k"], res["lr"]
    nets = res["nets"]
    n_rec = len(nets) - 1
    keys = ("reg", "reg_bal", "tv", "tv_all", "sup", "mse")
    M = {key: np.empty((n_rec + 1, 2 * k)) for key in keys}
    for j, net in enumerate(nets):
        m = T.relu_metrics(net, x, y)
        m["reg_bal"] = T.relu_balanced_reg(net, x)
        for key in keys:
            M[key][j] = m[key]
    gd, noise = slice(0, k), slice(k, 2 * k)
    fifths = [round(n_rec * q / 5) for q in range(1, 6)]
    r = M["reg"][fifths][:, noise]
    half = n_rec // 2
    sig = res["sigma"][noise]
    lam = np.stack([np.linalg.eigvalsh(T.relu_gram(net, x)[noise] / x.size)
                    for net in nets])                                   # (records + 1, k, n)
    stable = np.all(lr * lam < 2, axis=-1)
    pw = np.full(stable.shape, np.nan)
    pw[stable] = T.ou_residual_power(lam[stable], lr, np.broadcast_to(sig, stable.shape)[stable])
    cont = lr * sig**2 * lam.sum(-1) / 2
    pred = 0.5 * (pw[1:] + pw[:-1])                                     # per interval
    pred_c = 0.5 * (cont[1:] + cont[:-1])
    meas = res["r2"][:, noise]
    if not np.all(stable[half:]):
        raise RuntimeError("ηλ >= 2 in the second half of a label-noise run: no OU law")
    return {
        "metrics": M, "gd": gd, "noise": noise, "t": res["t"],
        "ratio_end": M["reg"][-1, noise] / M["reg"][-1, gd],
        "mono": np.max((r[1:] - r[:-1]) / r[:-1], axis=0),
        "gd_drift": float(np.max(np.abs(M["reg"][-1, gd] - M["reg"][fifths[0], gd])
                                 / M["reg"][-1, gd])),
        "tv_diff": M["tv"][-1, noise] - M["tv"][-1, gd],
        "bal_ratio": M["reg_bal"][-1, noise] / M["reg_bal"][-1, gd],
        "r2": meas, "r2_pred": pred, "r2_pred_cont": pred_c,
        "ou_ratio": meas[half:].sum(0) / pred[half:].sum(0),
        "ou_ratio_cont": meas[half:].sum(0) / pred_c[half:].sum(0),
        "lam_max": float(lr * lam[half:].max()), "lam_max_init": float(lr * lam[0].max()),
        "lam_max_gd": float(lr * np.linalg.eigvalsh(T.relu_gram(nets[-1], x)[gd]
                                                    / x.size).max()),
        "half_steps": int(res["t"][half]), "tv_spline": interpolant(x, y).tv,
    }


# --------------------------------------------------------------------------- figures
def plot_toy(axes, res: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
    """Left: C1 trajectories (seed 0 of each σ) in the (a, b) plane over reg's contours and
    the manifold ab = 1; right: log|a² − b²| against steps, measured and predicted."""
    ax = axes[0]
    g = np.linspace(0.02, 4.4, 400)
    A, B = np.meshgrid(g, np.linspace(0.0, 1.6, 200))
    cs = ax.contour(A, B, T.toy_reg(A, B), levels=[2, 4, 8, 12, 16], colors="0.7",
                    linewidths=0.8)
    ax.clabel(cs, fmt="reg=%g", fontsize=9)
    ax.plot(g, 1 / g, color="k", lw=1.2, label="zero-loss manifold $ab=1$")
    c1 = [(j, gr) for j, gr in enumerate(res["groups"]) if gr[0] == "c1"]
    col = plotting.case_colors([f"σ = {gr[3]:g}" for _, gr in c1])
    for j, gr in c1:
        i = int(np.flatnonzero(res["block"] == j)[0])
        lab = f"σ = {gr[3]:g}"
        ax.plot(res["a"][:, i], res["b"][:, i], "-", color=col[lab], lw=1.0,
                label=f"{lab} (seed 0)")
        ax.plot(res["a"][-1, i], res["b"][-1, i], "o", color=col[lab], ms=5)
    ax.plot([1], [1], "*", color="k", ms=10, label="minimum of reg on the manifold")
    ax.set(xlabel="$a$", ylabel="$b$", xlim=(0, 4.4), ylim=(0, 1.6))
    ax = axes[1]
    t = res["t"]
    every = t[1] - t[0]
    for j, gr in c1:
        if gr[3] == 0:
            continue
        sel = res["block"] == j
        lab = f"σ = {gr[3]:g}"
        q = res["logq"][:, sel]
        ax.plot(t, q.mean(1), color=col[lab], lw=3.5, alpha=0.7)
        reg = res["reg"][:, sel].mean(1)
        pred = q[0].mean() - every * np.concatenate(
            [[0.0], np.cumsum(T.toy_drift_rate(res["lr"], gr[3], reg))])
        ax.plot(t, pred, "--", color="k", lw=1.0,
                label="prediction $-\\sum_t 2\\eta^2\\sigma^2/(2-\\eta\\,\\mathrm{reg})$")
    ax.set(xlabel="step $t$", ylabel=r"$\log|a^2-b^2|$ (mean over seeds)")


def plot_stability(axes, res: Mapping[str, Any], summary: Mapping[str, Any]) -> None:
    """Left: ∇reg along the manifold against a, with the C2 starts; right: RMS distance from
    the start over time for each start with noise, and the OU scale."""
    ax = axes[0]
    for a in (np.linspace(-3.5, -0.2, 331), np.linspace(0.2, 3.5, 331)):
        ax.plot(a, T.toy_tangent_grad(a, 1 / a), color="0.4", lw=1.2)
    ax.axhline(0, color="k", lw=0.6)
    rows = [r for r in summary["rows"] if r["group"] == "c2" and r["sigma"] > 0]
    col = plotting.ordered_colors(len(rows), cmap="plasma")
    for c, r in zip(col, rows):
        stable = " (stable)" if abs(r["tangent"]) < 1e-12 else ""
        ax.plot(r["a0"], r["tangent"], "o", color=c, ms=6, label=f"$a_0={r['a0']:g}${stable}")
    ax.set(xlabel="$a$ on the manifold $(a, 1/a)$", ylabel=r"$\nabla\mathrm{reg}\cdot t$",
           ylim=(-12, 12))
    ax = axes[1]
    t = res["t"]
    for c, r in zip(col, rows):
        j = next(i for i, g in enumerate(res["groups"]) if g[0] == "c2" and g[1] == r["a0"]
                 and g[3] == r["sigma"])
        sel = res["block"] == j
        d = np.sqrt(np.mean((res["a"][:, sel] - r["a0"]) ** 2
                            + (res["b"][:, sel] - r["b0"]) ** 2, axis=1))
        ax.semilogy(t[1:], d[1:], color=c, lw=1.4)
    ou = rows[0]["ou_std"]
    ax.axhline(3 * ou, color="k", ls=":", lw=1.0, label="3 × OU standard deviation")
    ax.set(xlabel="step $t$", ylabel=r"RMS $\|\theta_t-\theta_0\|$ over seeds")


def plot_ou(axes, res: Mapping[str, Any], rs: Mapping[str, Any]) -> None:
    """Left: the toy's mean squared normal displacement per interval against the discrete OU
    prediction; right: the ReLU noise chains' residual power against both OU predictions."""
    ax = axes[0]
    t = res["t"]
    tm = 0.5 * (t[1:] + t[:-1])
    c1 = [(j, g) for j, g in enumerate(res["groups"]) if g[0] == "c1" and g[3] > 0]
    col = plotting.case_colors([f"σ = {g[3]:g}" for j, g in enumerate(res["groups"])
                                if g[0] == "c1"])
    for j, g in c1:
        sel = res["block"] == j
        lab = f"σ = {g[3]:g}"
        ax.plot(tm, res["d2"][:, sel].mean(1), color=col[lab], lw=1.0, label=f"toy, {lab}")
        pred = T.ou_normal_variance(res["reg"][:, sel], res["lr"], g[3]).mean(1)
        ax.plot(tm, pred, "--", color="k", lw=1.0)
    ax.set(xlabel="step $t$", ylabel="mean squared normal displacement",
           ylim=(0, None))
    ax = axes[1]
    t = rs["t"]
    tm = 0.5 * (t[1:] + t[:-1])
    cr = plotting.PALETTE[3]
    ax.semilogy(tm[1:], np.median(rs["r2"], axis=1)[1:], color=cr, lw=1.4,
                label="ReLU, measured (median over seeds)")
    ax.semilogy(tm[1:], np.nanmedian(rs["r2_pred"], axis=1)[1:], "--", color="k", lw=1.0,
                label=r"discrete OU $\sum\eta\sigma^2\lambda/(2-\eta\lambda)$")
    ax.semilogy(tm[1:], np.median(rs["r2_pred_cont"], axis=1)[1:], ":", color="k", lw=1.4,
                label=r"continuous OU $\sum\eta\sigma^2\lambda/2$")
    ax.set(xlabel="step $t$", ylabel=r"$\|f(X)-y\|^2$ per interval")


def plot_relu_curves(axes, rs: Mapping[str, Any]) -> None:
    """reg, the balanced regulariser, TV(f′) on [x_1, x_N] and sup |f − interpolant| over
    time, for gradient descent and label noise (thin: seeds; thick: median)."""
    M, t = rs["metrics"], rs["t"]
    col = plotting.case_colors(["gradient descent", "label noise"])
    panels = (("reg", r"$\mathrm{reg}(\theta)$"),
              ("reg_bal", r"balanced reg $1+2\sum|\mu_k|\varphi_k$"),
              ("tv", r"$\mathrm{TV}(f')$ on $[x_1,x_N]$"),
              ("sup", r"$\max|f-$interpolant$|$ on $[x_1,x_N]$"))
    for ax, (key, lab) in zip(axes.ravel(), panels):
        for name, sl, ls in (("gradient descent", rs["gd"], "--"),
                             ("label noise", rs["noise"], "-")):
            ax.plot(t[1:], M[key][1:, sl], ls, color=col[name], lw=0.6, alpha=0.5)
            ax.plot(t[1:], np.median(M[key][1:, sl], axis=1), ls, color=col[name], lw=2.0,
                    label=f"{name} (median; thin: seeds)")
        ax.set(xlabel="step $t$", ylabel=lab)
    axes.ravel()[2].axhline(rs["tv_spline"], color="k", ls=":", lw=1.0,
                            label="linear-spline interpolant")


def plot_relu_functions(axes, res: Mapping[str, Any], chain: int,
                        checkpoints: list[int]) -> None:
    """Left: the label-noise network of seed ``chain`` at record indices ``checkpoints``, its
    GD twin at the end, the linear interpolant and the data. Right: the knot weight 2φ(β, s)
    of the balanced regulariser for both orientations, and the data inputs."""
    x, y, k = res["x"], res["y"], res["k"]
    ip = interpolant(x, y)
    tt = np.linspace(-1.5, 1.5, 601)
    cols = plotting.ordered_colors(len(checkpoints))
    ax = axes[0]
    ax.plot(tt, ip(tt), color="0.6", lw=4, label="linear-spline interpolant")
    gd = res["nets"][-1]
    ax.plot(tt, eval_network(Shallow(*(p[chain:chain + 1] for p in gd)), tt)[0], "--",
            color="k", lw=1.2, label="gradient descent, end")
    for c, j in zip(cols, checkpoints):
        net = res["nets"][j]
        f = eval_network(Shallow(*(p[k + chain:k + chain + 1] for p in net)), tt)[0]
        ax.plot(tt, f, color=c, lw=1.2, label=f"label noise, step {res['t'][j]:,}")
    ax.plot(x, y, "ko", ms=5, label="data")
    ax.set(xlabel="input $x$", ylabel="output $f(x)$", ylim=(-1.5, 2.0))
    ax = axes[1]
    beta = np.linspace(-1.5, 1.5, 601)
    for s, ls, lab in ((1.0, "-", "knot weight, $s=+1$"), (-1.0, "--", "knot weight, $s=-1$")):
        ax.plot(beta, 2 * T.knot_weight(beta, s, x), ls, color="k", lw=1.2, label=lab)
    for xi in x:
        ax.axvline(xi, color="0.8", lw=0.8, zorder=0)
    ax.set(xlabel=r"knot position $\beta$", ylabel=r"knot weight $2\varphi(\beta,s)$")

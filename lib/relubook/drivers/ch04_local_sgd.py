r"""Chapter 4's experiment plumbing: the sweeps over width and H, and the measures read off them.

The training itself is :mod:`relubook.topics.local_sgd` (the stacked simulation, one
:class:`~relubook.topics.local_sgd.History` per sweep). This module turns the histories into
the numbers the chapter's checks compare:

* convergence: the final/initial loss of the averaged model (:func:`loss_ratios`);
* the rate: the steps to reach a fixed fraction of the initial loss (:func:`steps_to_target`)
  and their log-log slope against the width (:func:`width_exponents`); the local log-log slope
  of the loss against the step count early and late in the run (:func:`decay_acceleration`);
* communication: the loss after a fixed number of rounds (:func:`order_ratios`) and the price
  of locality at a fixed step budget (:func:`price_of_locality`);
* closeness of the local models to their average against the width (:func:`closeness`);
* the figures of the chapter (``plot_*``).

Notation: H local steps per round, R rounds, T = R·H local steps, m the width
(``width``), :math:`F(\bar W^{(r)})` the loss of the averaged model after r rounds.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from ..core.fits import loglog_slope
from ..topics import local_sgd as ls

__all__ = ["METRICS", "h1_vs_centralised", "width_sweep", "times", "loss_ratios",
           "steps_to_target", "width_exponents", "window_slope", "decay_acceleration",
           "order_ratios", "price_of_locality", "closeness", "endpoint_ratio",
           "plot_convergence", "plot_rate", "plot_closeness", "plot_shards"]

#: The closeness measures of the key lemma, as History methods, with their axis labels.
METRICS = {"max_disagreement": "max ReLU-pattern disagreement", "max_drift": "max relative drift"}


def h1_vs_centralised(X: torch.Tensor, Y: torch.Tensor, *, width: int, K: int, lr: float,
                      steps: int, seed: int) -> float:
    r"""max over workers and weights of :math:`|\theta_{\text{local}}-\theta_{\text{central}}|`
    after ``steps`` steps of Local GD with H = 1 on K equal i.i.d. shards and of full-batch GD
    on all of (X, Y), from the same initialisation (run in X's dtype).

    Parameters
    ----------
    X, Y : torch.Tensor
        The data set, shapes ``(n, d)`` and ``(n, c)``; K must divide n.
    width, K, lr, steps, seed
        Hidden width m, workers, step size, steps (= rounds, H = 1) and the seed of the
        initialisation and of the shard assignment.
    """
    sizes = ls.layer_sizes(X.shape[1], width, Y.shape[1])
    a = ls.scales(sizes, "ntk")
    Xs, Ys = ls.shard(X, Y, K, "iid", seed)
    W = ls.init_groups(sizes, [seed], K, dtype=X.dtype)
    ls.simulate(W, a, Xs[None], Ys[None], lr=lr, H=1, T=steps, track=False)
    Wc = ls.centralised_gd(ls.init_params(sizes, (), "ntk", seed, X.dtype), a, X, Y, lr, steps)
    return max(float((w[0] - c).abs().max()) for w, c in zip(W, Wc))


def width_sweep(X: torch.Tensor, Y: torch.Tensor, widths: Sequence[int],
                **kwargs) -> dict[int, ls.History]:
    """:func:`relubook.topics.local_sgd.sweep` at every width: ``{width: History}``."""
    return {int(m): ls.sweep(X, Y, width=int(m), **kwargs) for m in widths}


def times(h: ls.History, g: int) -> np.ndarray:
    """Local steps t = r·H at which group g's loss was recorded (r = 0, 1, ..., R)."""
    return np.arange(len(h.loss[g])) * h.H[g]


def loss_ratios(h: ls.History) -> np.ndarray:
    r""":math:`F(\bar W^{(R)})/F(\bar W^{(0)})`, final over initial loss, one per group."""
    return np.array([lg[-1] / lg[0] for lg in h.loss])


def steps_to_target(h: ls.History, frac: float = 0.1) -> np.ndarray:
    r"""Local steps until the averaged model first reaches :math:`F\le\text{frac}\cdot F(\bar W^{(0)})`,
    one per group.

    The loss is recorded once per round (every H steps); between the two rounds that bracket
    the first crossing, :math:`\log F` is interpolated linearly in t. A group that never
    reaches the target gets ``inf``.
    """
    if not 0 < frac < 1:
        raise ValueError(f"frac must be in (0, 1), got {frac!r}")
    out = []
    for g, lg in enumerate(h.loss):
        f = np.log(np.asarray(lg, dtype=np.float64))
        target = f[0] + np.log(frac)
        hit = np.nonzero(f <= target)[0]
        if hit.size == 0:
            out.append(np.inf)
            continue
        r = int(hit[0])                                    # r >= 1 since frac < 1
        step = (f[r - 1] - target) / (f[r - 1] - f[r])     # in (0, 1]
        out.append(h.H[g] * (r - 1 + step))
    return np.array(out)


def _slope(x: Sequence[float], y: Sequence[float]) -> float:
    """:func:`loglog_slope`, or ``inf`` where some y is infinite (a target not reached)."""
    y = np.asarray(y, dtype=np.float64)
    if np.any(np.isinf(y)):
        return float("inf")
    return loglog_slope(x, y)


def width_exponents(hists: Mapping[int, ls.History], Hs: Sequence[int],
                    frac: float = 0.1) -> tuple[np.ndarray, dict[int, float]]:
    """Steps to reach ``frac`` of the initial loss, mean over seeds, per (H, width), and the
    log-log slope of each H's row against the width.

    Returns ``(steps, slopes)``: ``steps[i, j]`` for ``Hs[i]`` and the j-th width of ``hists``
    (in its order), ``slopes[H]`` the fitted exponent p of steps ∝ m^p (``inf`` where a width
    never reached the target).
    """
    widths = np.array(list(hists), dtype=np.float64)
    steps = np.array([[steps_to_target(h, frac)[h.pick(H)].mean() for h in hists.values()]
                      for H in Hs])
    return steps, {int(H): _slope(widths, row) for H, row in zip(Hs, steps)}


def window_slope(t: np.ndarray, F: np.ndarray, lo: float, hi: float) -> float:
    r"""Least-squares slope of :math:`\log F` against :math:`\log t` over ``lo ≤ t ≤ hi``."""
    t, F = np.asarray(t, dtype=np.float64), np.asarray(F, dtype=np.float64)
    sel = (t >= lo) & (t <= hi) & (t > 0)
    if sel.sum() < 2:
        raise ValueError(f"need at least 2 recorded steps in [{lo}, {hi}], got {int(sel.sum())}")
    return loglog_slope(t[sel], F[sel])


def decay_acceleration(h: ls.History, H: int, T: int) -> tuple[float, float, float]:
    r"""How the decay of the loss changes along the run, for the groups that ran with ``H``.

    On the seed-mean loss curve :math:`F(t)`, fits the log-log slope :math:`s` over
    :math:`t\in[T/4,T/2]` (early) and :math:`t\in[3T/4,T]` (late). A power law
    :math:`F\propto t^{-p}` gives the same slope in both windows (ratio 1); linear
    (geometric) convergence :math:`F\propto e^{-ct}` has a local slope :math:`-ct` that steepens,
    ratio above 1; a loss that levels off gives a ratio below 1.

    Returns ``(early, late, late / early)``; the ratio is NaN unless the early slope is
    negative (a loss that does not fall).
    """
    idx = h.pick(H)
    F = np.mean([h.loss[g] for g in idx], axis=0)
    t = times(h, idx[0])
    early = window_slope(t, F, T / 4, T / 2)
    late = window_slope(t, F, 3 * T / 4, T)
    return early, late, (late / early) if early < 0 else float("nan")


def order_ratios(h: ls.History, R: int, Hs: Sequence[int]) -> list[float]:
    """For each pair of consecutive H values in ``Hs`` (increasing), the largest over seeds of
    loss(larger H)/loss(smaller H) after ``R`` rounds: all below 1 means the loss after R
    rounds falls strictly with H for every seed."""
    Hs = sorted(Hs)
    loss = {H: h.loss_after_rounds(R)[h.pick(H)] for H in Hs}
    return [float((loss[b] / loss[a]).max()) for a, b in zip(Hs, Hs[1:])]


def price_of_locality(h: ls.History, H_lo: int, H_hi: int) -> np.ndarray:
    """loss(H_hi)/loss(H_lo) at the end of the run (the same step budget), one per seed."""
    f = h.final_loss()
    return f[h.pick(H_hi)] / f[h.pick(H_lo)]


def closeness(gd: Mapping[int, ls.History], std: Mapping[int, ls.History],
              Hs: Sequence[int], std_H: int) -> tuple[dict, dict]:
    """Seed-mean max-over-rounds closeness measures (:data:`METRICS`) per width, for the NTK
    sweep ``gd`` at each H in ``Hs`` and the standard-parameterisation sweep ``std`` at
    ``std_H``, and their log-log slopes against the width.

    Returns ``(curves, slopes)`` keyed by ``(metric, param, H)`` with ``param`` in
    ``{"ntk", "standard"}``; ``curves[key]`` has one value per width of the sweep.
    """
    curves = {}
    for metric in METRICS:
        for H in Hs:
            curves[(metric, "ntk", int(H))] = np.array(
                [getattr(h, metric)()[h.pick(H)].mean() for h in gd.values()])
        curves[(metric, "standard", int(std_H))] = np.array(
            [getattr(h, metric)()[h.pick(std_H)].mean() for h in std.values()])
    widths = {"ntk": np.array(list(gd), float), "standard": np.array(list(std), float)}
    slopes = {k: loglog_slope(widths[k[1]], y) for k, y in curves.items()}
    return curves, slopes


def endpoint_ratio(widths: Sequence[int], y: Sequence[float], lo: int, hi: int) -> float | None:
    """``y`` at width ``hi`` over ``y`` at width ``lo``, or None when either was not run."""
    widths = list(widths)
    if lo not in widths or hi not in widths:
        return None
    return float(y[widths.index(hi)] / y[widths.index(lo)])


# ----------------------------------------------------------------------------- figures

def _mean_curve(h: ls.History, H: int) -> tuple[np.ndarray, np.ndarray]:
    idx = h.pick(H)
    return times(h, idx[0]), np.mean([h.loss[g] for g in idx], axis=0)


def plot_convergence(gd: Mapping[int, ls.History], sgd: Mapping[int, ls.History],
                     comm: ls.History, *, width: int, comm_width: int, Hs: Sequence[int],
                     comm_Hs: Sequence[int], R: int, T: int):
    """Three panels: (a) loss against local steps at ``width``, (b) loss against rounds for
    ``comm_Hs`` with R marked, (c) final loss against width, Local GD and Local SGD."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for H in Hs:
        t, F = _mean_curve(gd[width], H)
        ax[0].plot(t, F, marker="o" if H > 1 else None, ms=3, label=f"H = {H} ({T // H} rounds)")
    ax[0].set(yscale="log", xlabel="total local steps $t = rH$", ylabel=r"train loss $F(\bar W)$",
              title=f"(a) fixed step budget, m = {width}")
    for H in comm_Hs:
        t, F = _mean_curve(comm, H)
        ax[1].plot(np.arange(1, len(F)), F[1:], label=f"H = {H}")
    ax[1].axvline(R, color="gray", ls=":", label=f"R = {R} rounds")
    ax[1].set(xscale="log", yscale="log", xlabel="communication rounds r",
              ylabel=r"train loss $F(\bar W)$", title=f"(b) loss per round, m = {comm_width}")
    for name, hs, mk, style in (("Local GD", gd, "o", "-"), ("Local SGD", sgd, "x", "--")):
        for H in Hs:
            ax[2].plot(list(hs), [h.final_loss()[h.pick(H)].mean() for h in hs.values()],
                       marker=mk, ls=style, label=f"{name}, H = {H}")
    ax[2].set(xscale="log", yscale="log", xlabel="width m (hidden units)",
              ylabel=rf"loss after T = {T} steps", title="(c) final loss against width")
    ax[2].set_xscale("log", base=2)
    for x in ax[:2]:
        x.legend(fontsize=8)
    ax[2].legend(fontsize=7, ncol=2, loc="lower center")
    fig.tight_layout()
    return fig


def plot_rate(steps: np.ndarray, slopes: Mapping[int, float], widths: Sequence[int],
              Hs: Sequence[int], curves: Mapping[str, ls.History], *, width: int, T: int,
              frac: float = 0.1):
    """Two panels: (a) steps to reach ``frac`` of the initial loss against the width, with the
    fitted power laws; (b) seed-mean loss against local steps on log-log axes at ``width``,
    with the early and late windows of :func:`decay_acceleration` shaded."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(12, 4.2))
    w = np.array(widths, float)
    for H, row in zip(Hs, steps):
        line, = ax[0].plot(w, row, "o", label=f"H = {H}: slope {slopes[int(H)]:+.2f}")
        if np.all(np.isfinite(row)):
            fit = np.exp(np.polyval(np.polyfit(np.log(w), np.log(row), 1), np.log(w)))
            ax[0].plot(w, fit, color=line.get_color(), lw=1)
    ax[0].set_xscale("log", base=2)
    ax[0].set(yscale="log", xlabel="width m (hidden units)",
              ylabel=f"local steps to reach {frac:g} of the initial loss",
              title="(a) steps to a fixed loss fraction against width")
    ax[0].legend(fontsize=8)
    for (name, h), style in zip(curves.items(), ("-", "--")):
        for H in Hs:
            t, F = _mean_curve(h, H)
            ax[1].plot(t[1:], F[1:], ls=style, label=f"{name}, H = {H}")
    for lo, hi in ((T / 4, T / 2), (3 * T / 4, T)):
        ax[1].axvspan(lo, hi, color="gray", alpha=0.15)
    ax[1].set(xscale="log", yscale="log", xlabel="total local steps $t = rH$",
              ylabel=r"train loss $F(\bar W)$",
              title=f"(b) decay on log-log axes, m = {width} (shaded: fit windows)")
    ax[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_closeness(curves: Mapping, slopes: Mapping, widths: Mapping[str, Sequence[int]],
                   ref_H: int):
    """Closeness measures against the width on log-log axes, one panel per metric, with the
    fitted power laws and an :math:`m^{-1/2}` reference through the NTK ``ref_H`` curve."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for j, (metric, label) in enumerate(METRICS.items()):
        for (met, param, H), y in curves.items():
            if met != metric:
                continue
            w = np.array(widths[param], float)
            fit = np.exp(np.polyval(np.polyfit(np.log(w), np.log(y), 1), np.log(w)))
            name = "NTK" if param == "ntk" else "standard"
            line, = ax[j].plot(w, y, marker="o" if param == "ntk" else "s", ls="none",
                               label=f"{name}, H = {H}: slope {slopes[(met, param, H)]:+.2f}")
            ax[j].plot(w, fit, color=line.get_color(), ls="-" if param == "ntk" else "--", lw=1)
        w = np.array(widths["ntk"], float)
        ax[j].plot(w, curves[(metric, "ntk", ref_H)][0] * (w / w[0]) ** -0.5, color="gray",
                   ls=":", label=r"reference $m^{-1/2}$")
        ax[j].set_xscale("log", base=2)
        ax[j].set(yscale="log", xlabel="width m (hidden units)", ylabel=label + " (fraction)",
                  title=label + " vs width")
        ax[j].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_shards(runs: Mapping[str, ls.History], Hs: Sequence[int], width: int):
    """Seed-mean loss against local steps for each sharding in ``runs`` and each H."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (name, h), style in zip(runs.items(), ("-", "--")):
        for H in Hs:
            t, F = _mean_curve(h, H)
            ax.plot(t, F, ls=style, marker="o" if H > 1 else None, ms=3,
                    label=f"{name} shards, H = {H}")
    ax.set(yscale="log", xlabel="total local steps $t = rH$", ylabel=r"train loss $F(\bar W)$",
           title=f"i.i.d. vs label-sorted shards, m = {width}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

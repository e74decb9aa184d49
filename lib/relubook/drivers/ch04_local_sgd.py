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
           "H_CASES", "h_styles", "plotting_line", "plot_convergence", "plot_rate",
           "plot_closeness", "plot_shards"]

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

#: The values of H the chapter runs: each keeps one colour and one marker in every figure.
H_CASES = (1, 4, 8, 16, 32)


def h_styles(Hs: Sequence[int] = ()) -> dict[int, dict]:
    """One colour and one marker per H, the same in every panel and figure of the chapter
    (:data:`H_CASES` first, then any other H in ``Hs``, in increasing order)."""
    from ..core import plotting

    cases = list(H_CASES) + sorted({int(H) for H in Hs} - set(H_CASES))
    colors = plotting.case_colors(cases)
    return {H: {"color": colors[H], "marker": plotting.MARKERS[i % len(plotting.MARKERS)]}
            for i, H in enumerate(cases)}


def _mean_curve(h: ls.History, H: int) -> tuple[np.ndarray, np.ndarray]:
    idx = h.pick(H)
    return times(h, idx[0]), np.mean([h.loss[g] for g in idx], axis=0)


def _every(n: int, marks: int = 8, shift: float = 0.0) -> tuple[int, int]:
    """``markevery`` for about ``marks`` markers on ``n`` points, shifted by a fraction of the
    spacing so that the markers of curves that lie on top of each other do not coincide."""
    step = max(1, n // marks)
    return int(shift * step) % step, step


def _layered(i: int, n: int) -> dict:
    """Line width and z-order of the ``i``-th of ``n`` curves that may coincide: the first is
    drawn widest and lowest, so each shows as a coloured edge around the ones above it."""
    return {"lw": 1.2 + 2.6 * (n - 1 - i) / max(1, n - 1), "zorder": 2 + i}


def _plain_log_ticks(ax, axis: str = "y") -> None:
    """Plain numbers (0.03, 80) instead of 3×10⁻² on a log axis that spans less than a decade;
    over more than 0.4 decades only the minor ticks of mantissa 2, 3 and 5 are labelled, so
    that the labels do not run together."""
    from matplotlib.ticker import FuncFormatter

    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if not (lo > 0 and hi / lo < 10):
        return
    few = np.log10(hi / lo) > 0.4

    def minor(x, _pos):
        mantissa = round(x / 10 ** np.floor(np.log10(x)), 6)
        return f"{x:g}" if not few or mantissa in (2, 3, 5) else ""

    a.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    a.set_minor_formatter(FuncFormatter(minor))


def _style_handles(styles: Mapping[str, dict]):
    from matplotlib.lines import Line2D

    return [Line2D([], [], label=name, **{"color": "0.2", **kw}) for name, kw in styles.items()]


def plot_convergence(gd: Mapping[int, ls.History], sgd: Mapping[int, ls.History],
                     comm: ls.History, *, width: int, comm_width: int, Hs: Sequence[int],
                     comm_Hs: Sequence[int], R: int, T: int):
    """Three panels: (a) loss against local steps at ``width``, (b) loss against rounds for
    ``comm_Hs`` with R marked, (c) the final loss against the width relative to Local GD with
    H = 1 at the same width, for Local GD (solid) and Local SGD (dashed). One legend, in the
    fourth slot of the 2 × 2 grid; one colour and marker per H (:func:`h_styles`)."""
    from ..core import plotting

    sty = h_styles(list(Hs) + list(comm_Hs))
    fig, ax = plotting.figure(2, 2, height=5.4)
    for i, H in enumerate(Hs):
        t, F = _mean_curve(gd[width], H)
        ax[0, 0].plot(t, F, markevery=_every(len(t), shift=i / len(Hs)), **_layered(i, len(Hs)),
                      **sty[H])
    ax[0, 0].set(yscale="log", xlabel="total local steps $t = rH$",
                 ylabel=r"train loss $F(\bar W)$", title=f"(a) fixed step budget, m = {width}")
    for H in comm_Hs:
        _, F = _mean_curve(comm, H)
        r = np.arange(1, len(F))
        ax[0, 1].plot(r, F[1:], markevery=0.1, **sty[H])
    ax[0, 1].axvline(R, color="0.4", ls=":")
    ax[0, 1].set(xscale="log", yscale="log", xlabel="communication rounds r",
                 ylabel=r"train loss $F(\bar W)$", title=f"(b) per round, m = {comm_width}")
    base = {m: h.final_loss()[h.pick(min(Hs))].mean() for m, h in gd.items()}
    for hs, ls_, mfc in ((gd, "-", None), (sgd, "--", "white")):
        ms = [m for m in hs if m in base]
        for H in Hs:
            y = [hs[m].final_loss()[hs[m].pick(H)].mean() / base[m] for m in ms]
            ax[1, 0].plot(ms, y, ls=ls_, mfc=mfc, ms=6 if mfc else 4.5, **sty[H])
    ax[1, 0].set_xscale("log", base=2)
    ax[1, 0].set(xlabel="width m (hidden units)",
                 ylabel=f"loss after T = {T} steps\n/ Local GD's at H = {min(Hs)}",
                 title="(c) relative final loss")
    shown = sorted(set(Hs) | set(comm_Hs))
    handles = [plotting_line(sty[H], f"H = {H}" + (f" ({T // H} rounds in (a))" if H in Hs
                                                     else "")) for H in shown]
    handles += _style_handles({"Local GD (c)": {"ls": "-"},
                               "Local SGD (c)": {"ls": "--", "marker": "o", "mfc": "white"},
                               f"R = {R} rounds (b)": {"ls": ":", "color": "0.4"}})
    ax[1, 1].axis("off")
    ax[1, 1].legend(handles=handles, loc="center", title="H: local steps per round")
    return fig


def plotting_line(style: Mapping, label: str):
    """A legend handle with the colour and marker of ``style`` (a solid line)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], label=label, **style)


def plot_rate(steps: np.ndarray, slopes: Mapping[int, float], widths: Sequence[int],
              Hs: Sequence[int], curves: Mapping[str, ls.History], *, width: int, T: int,
              frac: float = 0.1):
    """Two panels: (a) steps to reach ``frac`` of the initial loss against the width, with the
    fitted power laws; (b) seed-mean loss against local steps on log-log axes at ``width``,
    with the early and late windows of :func:`decay_acceleration` shaded."""
    from ..core import plotting

    sty = h_styles(Hs)
    fig, ax = plotting.figure(2, 1, height=3.3)
    w = np.array(widths, float)
    for H, row in zip(Hs, steps):
        ax[0, 0].plot(w, row, ls="none", **sty[int(H)])
        if np.all(np.isfinite(row)):
            fit = np.exp(np.polyval(np.polyfit(np.log(w), np.log(row), 1), np.log(w)))
            ax[0, 0].plot(w, fit, color=sty[int(H)]["color"], lw=1)
            ax[0, 0].annotate(f"{slopes[int(H)]:+.2f}", (w[-1], fit[-1]), xytext=(4, 0),
                              textcoords="offset points", va="center",
                              color=sty[int(H)]["color"], fontsize=plotting.MIN_FONT_PT)
    ax[0, 0].set_xscale("log", base=2)
    ax[0, 0].set(yscale="log", xlabel="width m (hidden units)",
                 ylabel=f"local steps to reach {frac:g}\nof the initial loss",
                 title="(a) steps to a fixed loss\n(labels: fitted slope)")
    ax[0, 0].set_xlim(right=w[-1] * 2.2)
    _plain_log_ticks(ax[0, 0])
    n = len(curves) * len(Hs)
    for k, ((name, h), style) in enumerate(zip(curves.items(), ("-", "--"))):
        for i, H in enumerate(Hs):
            t, F = _mean_curve(h, H)
            j = k * len(Hs) + i
            width_kw = _layered(i, len(Hs)) if k == 0 else {"lw": 1.0, "zorder": 10 + i}
            ax[0, 1].plot(t[1:], F[1:], ls=style, markevery=_every(len(t) - 1, shift=j / n),
                          mfc="white" if style == "--" else None, **width_kw, **sty[int(H)])
    for lo, hi in ((T / 4, T / 2), (3 * T / 4, T)):
        ax[0, 1].axvspan(lo, hi, color="0.5", alpha=0.15, lw=0)
    ax[0, 1].set(xscale="log", yscale="log", xlabel="total local steps $t = rH$",
                 ylabel=r"train loss $F(\bar W)$",
                 title=f"(b) decay, m = {width}\n(shaded: fit windows)")
    handles = [plotting_line(sty[int(H)], f"H = {H}") for H in Hs]
    handles += _style_handles({f"{name} (b)": {"ls": s, "marker": "o",
                                               "mfc": "white" if s == "--" else None}
                               for name, s in zip(curves, ("-", "--"))})
    plotting.legend_outside(fig, handles, [h.get_label() for h in handles], ncols=5)
    return fig


def plot_closeness(curves: Mapping, slopes: Mapping, widths: Mapping[str, Sequence[int]],
                   ref_H: int):
    """Closeness measures against the width on log-log axes, one panel per metric, with the
    fitted power laws and an :math:`m^{-1/2}` reference through the NTK ``ref_H`` curve.
    Colour and marker: H (:func:`h_styles`); solid, filled: NTK; dashed, hollow: standard.
    Each panel's legend, below it, gives the fitted slopes."""
    from ..core import plotting

    sty = h_styles([H for (_, _, H) in curves])
    fig, ax = plotting.figure(2, 1, height=4.3)
    for j, (metric, label) in enumerate(METRICS.items()):
        a = ax[0, j]
        panel = "(a) pattern disagreement" if j == 0 else "(b) relative drift"
        for (met, param, H), y in curves.items():
            if met != metric:
                continue
            w = np.array(widths[param], float)
            fit = np.exp(np.polyval(np.polyfit(np.log(w), np.log(y), 1), np.log(w)))
            ntk = param == "ntk"
            name = "NTK" if ntk else "standard"
            a.plot(w, y, ls="none", mfc=None if ntk else "white",
                   label=f"{name}, H = {H}: slope {slopes[(met, param, H)]:+.2f}", **sty[H])
            a.plot(w, fit, color=sty[H]["color"], ls="-" if ntk else "--", lw=1)
        w = np.array(widths["ntk"], float)
        a.plot(w, curves[(metric, "ntk", ref_H)][0] * (w / w[0]) ** -0.5, color="0.3",
               ls=":", label=r"reference $m^{-1/2}$")
        a.set_xscale("log", base=2)
        a.set(yscale="log", xlabel="width m (hidden units)", ylabel=label + " (fraction)",
              title=panel)
        _plain_log_ticks(a)
        a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=1)
    return fig


def plot_shards(runs: Mapping[str, ls.History], Hs: Sequence[int], width: int):
    """Seed-mean loss against local steps for each sharding in ``runs`` (solid, filled markers:
    the first; dashed, hollow: the second) and each H (colour and marker, :func:`h_styles`)."""
    from ..core import plotting

    sty = h_styles(Hs)
    fig, ax = plotting.figure(1, 1, height=3.6)
    a = ax[0, 0]
    n = len(runs) * len(Hs)
    for k, ((name, h), style) in enumerate(zip(runs.items(), ("-", "--"))):
        for i, H in enumerate(Hs):
            t, F = _mean_curve(h, H)
            j = i * len(runs) + k                        # the shardings of one H are adjacent
            a.plot(t, F, ls=style, markevery=_every(len(t), shift=k / len(runs)),
                   mfc="white" if style == "--" else None, ms=6 if style == "--" else 4.5,
                   label=f"{name} shards, H = {H}", **_layered(j, n), **sty[int(H)])
    a.set(yscale="log", xlabel="total local steps $t = rH$", ylabel=r"train loss $F(\bar W)$",
          title=f"m = {width}")
    plotting.legend_outside(fig, ncols=2)
    return fig

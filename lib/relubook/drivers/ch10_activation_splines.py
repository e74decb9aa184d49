r"""Chapter 10's driver: every network of the chapter trained in one program, then measured.

:func:`experiment` builds one :class:`relubook.topics.activation_splines.Pack` with

* the sweep: ReLU networks with a linear skip, for every width, λ and seed (C1 and the
  sweep; the chapter's C1 network is the one of width ``main_width`` and λ ``main_lam``);
* at ``main_width`` and ``main_lam``, for every seed: a leaky ReLU network (C2), a ReLU²
  network with a quadratic skip (C2), and networks without the linear skip on the six points
  and on tilted data ``y + tilt·x``, with a skip network on the tilted data for comparison
  (C3);

trains them together (:func:`relubook.topics.activation_splines.train`) and returns the pack
with its initial weights. A network's initialisation depends only on ``(seed, seed index,
width)``: the networks of one seed index and width start from the same weights, whatever their
λ, activation or skip. :func:`relu_report` and :func:`relu2_report` measure one network
(the chapter's checks K1–K5 and the ReLU² checks); :func:`sweep_table` collects the sweep.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..core.data import six_points
from ..core.random import numpy_rng
from ..core.shallow import interpolant, to_spline
from ..core.training import exp_decay
from ..topics import activation_splines as A

__all__ = [
    "HULL_POINTS",
    "OUTSIDE",
    "RADIUS",
    "SIG",
    "experiment",
    "relu2_report",
    "relu_report",
    "sweep_table",
    "third_difference_share",
]

#: K3's significance: a neuron counts when its |μ_k| exceeds SIG · max_k |μ_k|.
SIG = 1e-3
#: K3's radius: a significant knot must lie within RADIUS of an interior data point.
RADIUS = 0.03
#: Points of the uniform grid of [x_1, x_N] on which K1 takes the sup.
HULL_POINTS = 4001
#: The two intervals outside the data on which K4 takes second differences (and their points).
OUTSIDE = ((-3.0, -1.2), (1.2, 3.0), 901)


def _nets(cfg: Mapping, y: np.ndarray, x: np.ndarray) -> tuple[list, list]:
    keys, nets = [], []
    lam0, H0 = cfg["main_lam"], cfg["main_width"]
    tilt = tuple(y + cfg["tilt"] * x)
    for s in range(cfg["seeds"]):
        for H in cfg["widths"]:
            for lam in cfg["lams"]:
                keys.append(("relu", H, lam, s))
                nets.append(A.Net(H, "relu", lam, 1, 0.0, tuple(y)))
        extra = {
            "leaky": A.Net(H0, "leaky", lam0, 1, cfg["leak"], tuple(y)),
            "relu2": A.Net(H0, "relu2", cfg["relu2_lam"], 2, 0.0, tuple(y)),
            "noskip": A.Net(H0, "relu", lam0, 0, 0.0, tuple(y)),
            "noskip_tilt": A.Net(H0, "relu", lam0, 0, 0.0, tilt),
            "skip_tilt": A.Net(H0, "relu", lam0, 1, 0.0, tilt),
        }
        for kind, net in extra.items():
            keys.append((kind, H0, net.lam, s))
            nets.append(net)
    return keys, nets


def experiment(cfg: Mapping, seed: int, progress: bool = False) -> dict:
    """Build and train every network of the chapter (one program); see the module docstring.

    ``cfg`` needs ``widths, lams, seeds, main_width, main_lam, relu2_lam, leak, tilt, steps,
    lr, lr_decay`` (Adam's rate decays as ``exp_decay(lr, steps, lr_decay)``).

    Returns
    -------
    dict
        ``pack`` (trained), ``init`` (a copy of the pack before training), ``keys`` (one
        ``(kind, width, lam, seed index)`` per network), ``index`` (key -> network index),
        ``x, y``.
    """
    if cfg["main_width"] not in cfg["widths"] or cfg["main_lam"] not in cfg["lams"]:
        raise ValueError("main_width and main_lam must be among widths and lams")
    x, y = six_points()
    keys, nets = _nets(cfg, y, x)
    rngs = [numpy_rng(seed, k[3], k[1]) for k in keys]
    pack = A.build_pack(nets, x, rngs)
    init = A.Pack(pack.nets, pack.x, pack.Y, pack.w.copy(), pack.b.copy(), pack.v.copy(),
                  pack.c.copy())
    A.train(pack, cfg["steps"], cfg["lr"], schedule=exp_decay(cfg["lr"], cfg["steps"],
                                                              cfg["lr_decay"]),
            progress=progress)
    return {"pack": pack, "init": init, "keys": keys,
            "index": {k: i for i, k in enumerate(keys)}, "x": x, "y": y}


def _outside_grid() -> np.ndarray:
    (a0, a1), (b0, b1), n = OUTSIDE
    return np.linspace(a0, a1, n), np.linspace(b0, b1, n)


def relu_report(pack: A.Pack, i: int, *, lam_eff: float | None = None) -> dict:
    r"""The chapter's measurements of ReLU or leaky-ReLU network ``i`` (K1–K4, balance).

    The network is written as a ReLU network plus a skip polynomial
    (:func:`relubook.topics.activation_splines.as_relu`), whose spline coordinates come from
    :func:`relubook.core.shallow.to_spline`. The references are the linear interpolant of the
    network's targets (λ → 0) and the solution of the regularised problem with
    :math:`\lambda_{\rm eff}` (default: the network's λ divided by 1 − a, the weight on
    :math:`\mathrm{TV}(f')` of the penalty at balance).

    Returns
    -------
    dict
        ``sup`` (K1: max |f − interpolant| on [x_1, x_N]), ``sup_reg`` (the same against the
        regularised solution), ``path_norm`` Σ|μ_k|, ``tv`` (the interpolant's TV(f')),
        ``tv_reg``, ``max_dist``
        (K3: largest distance of a significant knot to an interior data point), ``clusters``
        (significant knots grouped within 2·RADIUS), ``d2_out`` (K4), ``penalty_ratio``
        (½Σ(v²+w²)/Σ|v_kw_k|), ``imbalance`` (max over significant neurons of
        ||v|−|w||/(|v|+|w|)), ``slopes_inf`` (f'(−∞), f'(+∞)), and arrays: ``w, v`` of every
        neuron, ``beta, mu, sig`` (knots, delta-slopes, significance) of the neurons with
        :math:`w_k\ne0`.
    """
    net = pack.nets[i]
    x, y = pack.x, pack.Y[i]
    relu, c = A.as_relu(pack, i)
    sl = pack.neurons(i)
    w, v = pack.w[sl], pack.v[sl]
    with np.errstate(divide="ignore", over="ignore"):
        sp = to_spline(relu)
    beta, mu = sp.beta[0], sp.mu[0]
    a = net.leak if net.act == "leaky" else 0.0
    lam_eff = net.lam / (1 - a) if lam_eff is None else lam_eff
    ip = interpolant(x, y)
    reg = A.regularised_linear_spline(x, y, lam_eff)
    ip_reg = interpolant(x, reg["yhat"])
    hull = np.linspace(x[0], x[-1], HULL_POINTS)
    f = A.eval_pack(pack, hull, i)
    sig = np.abs(mu) > SIG * np.abs(mu).max()          # over the neurons with w_k ≠ 0
    dist = np.min(np.abs(beta[sig, None] - ip.knots[None, :]), axis=1)
    clusters = A.knot_clusters(beta[sig], mu[sig], 2 * RADIUS)
    d2 = max(float(np.abs(np.diff(A.eval_pack(pack, g, i), 2)).max()) for g in _outside_grid())
    vw = relu.v[0] * relu.w[0]
    slopes = (c[1] + vw[relu.w[0] < 0].sum(), c[1] + vw[relu.w[0] > 0].sum())   # f'(∓∞)
    aw, av = np.abs(relu.w[0]), np.abs(relu.v[0]) / (1 - a)
    return {
        "sup": float(np.abs(f - ip(hull)).max()),
        "sup_reg": float(np.abs(f - ip_reg(hull)).max()),
        "path_norm": float(np.abs(mu).sum()), "tv": ip.tv, "tv_reg": reg["tv"],
        "max_dist": float(dist.max()), "clusters": clusters, "n_sig": int(sig.sum()),
        "d2_out": d2,
        "penalty_ratio": float(0.5 * np.sum(v**2 + w**2) / np.sum(np.abs(v * w))),
        "imbalance": float(np.max(np.abs(av - aw)[sig] / (av + aw)[sig])),
        "beta": beta, "mu": mu, "w": w, "v": v, "sig": sig,
        "slopes_inf": (float(slopes[0]), float(slopes[-1])), "lam_eff": lam_eff,
    }


def third_difference_share(f: np.ndarray, t: np.ndarray, knots: np.ndarray,
                           radius: float) -> float:
    r"""The share of Σ|Δ³f| carried by stencils farther than ``radius`` from every knot.

    On a uniform grid of spacing h, :math:`\Delta^3 f/h^2` of a quadratic spline is zero on
    stencils without a knot and sums to the jump of :math:`f''` over the stencils around a knot,
    so the share is that of TV(f'') away from ``knots`` (0 for a quadratic spline with those
    knots).
    """
    f, t = np.asarray(f, float), np.asarray(t, float)
    d3 = np.abs(np.diff(f, 3))
    lo, hi = t[:-3], t[3:]
    knots = np.asarray(knots, float)
    near = np.any((lo[:, None] <= knots[None, :] + radius) &
                  (hi[:, None] >= knots[None, :] - radius), axis=1)
    total = d3.sum()
    return float(d3[~near].sum() / total) if total > 0 else 0.0


def relu2_report(pack: A.Pack, i: int, ref: A.Quadratic, *, span: float = 3.0,
                 points: int = 6001) -> dict:
    r"""The chapter's measurements of ReLU² network ``i`` against the quadratic spline ``ref``.

    Returns
    -------
    dict
        ``sup`` (max |f − ref| on [x_1, x_N]), ``tv2`` (TV(f'') = 2Σ|v_k|w_k², distinct knots),
        ``share_off`` (:func:`third_difference_share` on [−span, span] against ``ref``'s knots,
        radius RADIUS), ``clusters`` (significant knots, by 2|v_k|w_k² > SIG·max, grouped within
        2·RADIUS), ``imbalance`` (max over significant neurons of ||v|−w²|/(|v|+w²)).
    """
    x = pack.x
    sl = pack.neurons(i)
    w, b, v = pack.w[sl], pack.b[sl], pack.v[sl]
    mass = 2 * np.abs(v) * w**2
    with np.errstate(divide="ignore"):
        beta = -b / w
    sig = mass > SIG * mass.max()
    hull = np.linspace(x[0], x[-1], HULL_POINTS)
    t = np.linspace(-span, span, points)
    av, w2 = np.abs(v), w**2
    return {
        "sup": float(np.abs(A.eval_pack(pack, hull, i) - ref(hull)).max()),
        "tv2": float(mass.sum()),
        "share_off": third_difference_share(A.eval_pack(pack, t, i), t, ref.knots, RADIUS),
        "clusters": A.knot_clusters(beta[sig], mass[sig], 2 * RADIUS),
        "imbalance": float(np.max(np.abs(av - w2)[sig] / (av + w2)[sig])),
        "beta": beta, "mass": mass,
    }


def sweep_table(res: dict, cfg: Mapping) -> list[dict]:
    """One row per ReLU sweep network: width, λ, seed index and its :func:`relu_report` values."""
    rows = []
    for k, i in res["index"].items():
        if k[0] != "relu":
            continue
        r = relu_report(res["pack"], i)
        rows.append({"width": k[1], "lam": k[2], "seed": k[3],
                     "n_knots": int(r["clusters"].centres.size),
                     **{n: r[n] for n in ("sup", "sup_reg", "path_norm", "tv", "tv_reg",
                                          "max_dist", "d2_out", "penalty_ratio",
                                          "imbalance")}})
    return rows

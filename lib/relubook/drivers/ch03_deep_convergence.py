r"""Chapter 3's driver: the experiments K1-K5 on deep fixed-width ReLU networks (Xu & Zhang).

Each function runs one experiment of the chapter and returns the measured values (plain
floats and ints, for the named checks) together with the arrays its figure needs. The
concepts live in :mod:`relubook.topics.deep_products` (the explicit form, products, the tail
bound, the identification of a layer) and :mod:`relubook.topics.deep_init` (initialisations,
the log-norm statistic, training). Everything except the training is NumPy float64.

Notation of the paper: width :math:`m`, depth :math:`n`, and
:math:`\mathcal N_n(x)=\sigma(W_n\sigma(W_{n-1}\cdots\sigma(W_1x+b_1)\cdots)+b_n)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import digamma

from ..core.fits import loglog_slope
from ..core.random import numpy_rng
from ..topics import deep_init as di
from ..topics import deep_products as dp

__all__ = [
    "COUNTER_EXAMPLES",
    "K2_INPUTS",
    "K4_INPUTS",
    "closed_forms",
    "counter_examples",
    "explicit_form",
    "identification",
    "init_scale",
    "rel_error",
    "slice_regions",
    "tail_rates",
    "training_summary",
]

Array = np.ndarray


def rel_error(a: Array, b: Array) -> float:
    r"""The largest relative error :math:`\max_i |a_i-b_i|/|b_i|` (``b`` = the exact value).

    Where ``b`` is 0 the denominator is the smallest positive float, so an exact zero must be
    matched exactly.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("rel_error needs at least one value")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _rel_to_scale(a: Array, b: Array) -> float:
    """max |a - b| / max(1, max |b|): an error relative to the output scale."""
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


# --- K1 (C1): the explicit form ----------------------------------------------------------------

def explicit_form(width: int, depth: int, inputs: int, rng: np.random.Generator) -> dict:
    r"""K1: a random network, its forward pass against the explicit form and the augmented product.

    :math:`W_k` has i.i.d. :math:`\mathcal N(0,2/m)` entries (He), :math:`b_k` i.i.d.
    :math:`\mathcal N(0,0.1^2)`, the inputs are standard Gaussian (drawn in this order from
    ``rng``). The activation matrices :math:`D_k(x)` are read off the forward pass; then

    .. math:: A(x)x+c(x) = (D_nW_n\cdots D_1W_1)x+\sum_k(D_nW_n\cdots D_{k+1}W_{k+1})D_kb_k

    and the product of the augmented matrices
    :math:`\left[\begin{smallmatrix}D_kW_k&D_kb_k\\0&1\end{smallmatrix}\right]` applied to
    :math:`[x;1]` are compared with the forward pass.

    Returns
    -------
    ``{"W", "b", "x", "err_formula", "err_augmented", "active"}``: the errors are
    ``max |forward - formula| / max(1, max |forward|)``; ``active`` is the fraction of
    (input, layer, unit) triples with :math:`d_j=1`.
    """
    if min(width, depth, inputs) < 1:
        raise ValueError(
            f"width, depth and inputs must be positive, got {width}, {depth}, {inputs}")
    W = rng.standard_normal((depth, width, width)) * np.sqrt(2.0 / width)
    b = 0.1 * rng.standard_normal((depth, width))
    x = rng.standard_normal((inputs, width))
    y, pats = dp.forward(W, b, x, return_patterns=True)
    A, c = dp.affine_form(W, b, pats)
    y_formula = np.einsum("nij,nj->ni", A, x) + c
    aug = dp.augmented(W, b, pats)
    z = np.concatenate([x, np.ones((inputs, 1))], 1)[:, :, None]
    for k in range(depth):
        z = aug[:, k] @ z
    return {"W": W, "b": b, "x": x,
            "err_formula": _rel_to_scale(y_formula, y),
            "err_augmented": _rel_to_scale(z[:, :width, 0], y),
            "active": float(pats.mean())}


def slice_regions(W: Array, b: Array, grid: Array, depths: Sequence[int], sample: int,
                  rng: np.random.Generator) -> dict:
    r"""Activation domains on the plane :math:`x=s\,e_1+t\,e_2`, :math:`(s,t)\in` ``grid``².

    Parameters
    ----------
    W, b
        The network, ``(n, m, m)`` and ``(n, m)``.
    grid
        1-D coordinates; the plane is sampled on ``grid x grid``.
    depths
        Depths :math:`k` whose pattern maps :math:`(D_1,\dots,D_k)` are returned.
    sample
        How many plane points (drawn without replacement by ``rng``) are used to check that
        points sharing a pattern share :math:`(A,c)`.

    Returns
    -------
    ``{"ids": {k: (G, G) pattern ids}, "counts": {k: number of patterns},
    "deviation": max |A_i - A_j|, |c_i - c_j| over sampled points i, j of one pattern,
    "sampled_patterns": distinct patterns among the sampled points}``.
    """
    grid = np.asarray(grid, dtype=np.float64)
    n, m = np.asarray(b).shape
    if m < 2:
        raise ValueError("the plane needs a width of at least 2")
    S, T = np.meshgrid(grid, grid)
    xs = np.zeros((S.size, m))
    xs[:, 0], xs[:, 1] = S.ravel(), T.ravel()
    _, pats = dp.forward(W, b, xs, return_patterns=True)
    ids, counts = {}, {}
    for k in depths:
        if not 1 <= k <= n:
            raise ValueError(f"depths must lie in [1, {n}], got {k}")
        i = dp.pattern_ids(pats[:, :k])
        ids[k], counts[k] = i.reshape(S.shape), int(i.max()) + 1
    sub = rng.choice(S.size, size=min(S.size, int(sample)), replace=False)
    A, c = dp.affine_form(W, b, pats[sub])
    _, first, inverse = np.unique(dp.pattern_ids(pats[sub]), return_index=True,
                                  return_inverse=True)
    ref = first[inverse.ravel()]
    dev = max(float(np.abs(A - A[ref]).max()), float(np.abs(c - c[ref]).max()))
    return {"ids": ids, "counts": counts, "deviation": dev, "sampled_patterns": int(first.size)}


# --- K2 (C2, C4): closed forms -----------------------------------------------------------------

#: The inputs of K2, one column per case (the same four values in every case).
K2_INPUTS = (-1.0, 0.5, 1.0, 2.0)


def closed_forms(depth: int, c: float = 0.5, points: int = 80) -> dict:
    r"""K2: five scalar deep networks with closed forms, as the coordinates of one diagonal net.

    :math:`W_1=I`, :math:`b_1=0` and, for :math:`k\ge2`, coordinate by coordinate:
    (a) :math:`w_k=1+k^{-2}`; (b) :math:`w_k=1+1/k`; (c) :math:`b_k=c\,k^{-2}`;
    (d) :math:`b_k=c/k`; (e) :math:`w_k=1+(-1)^k/k` (other weights 1, other biases 0).
    Exact values: (a) :math:`\to\frac{\sinh\pi}{2\pi}\sigma(x)`; (b) :math:`\frac{n+1}2\sigma(x)`;
    (c) :math:`\to\sigma(x)+c(\pi^2/6-1)`; (d) :math:`\sigma(x)+c(H_n-1)`;
    (e) :math:`\sigma(x)` for odd :math:`n`, :math:`\frac{n+1}n\sigma(x)` for even :math:`n`.

    Returns
    -------
    ``ns`` (checkpoints), ``x`` ``(4,)``, ``traj`` ``(len(ns), 4, 5)``, ``lim_a``,
    ``lim_c``, and the measured values: ``a`` (relative error to the limit at depth
    ``depth``, inputs with :math:`x>0`), ``a_zero`` (largest :math:`|\mathcal N_n(x)|` for
    :math:`x\le0`), ``b`` (relative error to the exact formula at every checkpoint),
    ``b_at_1`` (:math:`\mathcal N_n(1)` of (b) at the last depth), ``c``, ``d``,
    ``d_at_minus1`` (:math:`\mathcal N_n(-1)=c(H_n-1)` of (d)), ``d_log`` (:math:`c(\ln n-1)`),
    ``e`` (exact formula), ``e_lim`` (relative error to :math:`\sigma(x)` at the last depth).
    """
    if depth < 2:
        raise ValueError(f"depth must be at least 2, got {depth}")
    if c <= 0:
        raise ValueError(f"c must be positive, got {c}")
    k = np.arange(1, depth + 1, dtype=np.float64)
    w = np.ones((depth, 5))
    bb = np.zeros((depth, 5))
    w[1:, 0] = 1 + k[1:] ** -2.0
    w[1:, 1] = 1 + 1 / k[1:]
    bb[1:, 2] = c * k[1:] ** -2.0
    bb[1:, 3] = c / k[1:]
    w[1:, 4] = 1 + (-1.0) ** k[1:] / k[1:]
    x = np.array(K2_INPUTS)
    ns = np.unique(np.concatenate([np.geomspace(1, depth, points).astype(int), [depth - 1, depth]]))
    traj = dp.diagonal_trajectory(w, bb, np.repeat(x[:, None], 5, axis=1), ns)
    sx = np.maximum(x, 0.0)
    pos = sx > 0
    H = digamma(ns + 1.0) + np.euler_gamma                               # harmonic numbers H_n
    exact_b = (ns[:, None] + 1) / 2 * sx
    exact_d = sx + c * (H[:, None] - 1)
    exact_e = np.where(ns[:, None] % 2 == 1, 1.0, (ns[:, None] + 1) / ns[:, None]) * sx
    lim_a, lim_c = np.sinh(np.pi) / (2 * np.pi), c * (np.pi**2 / 6 - 1)
    i1, im1 = K2_INPUTS.index(1.0), K2_INPUTS.index(-1.0)
    return {
        "ns": ns, "x": x, "traj": traj, "lim_a": float(lim_a), "lim_c": float(lim_c), "c": c,
        "a": rel_error(traj[-1, pos, 0], lim_a * sx[pos]),
        "a_zero": float(np.max(np.abs(traj[-1, ~pos, 0]))),
        "b": rel_error(traj[:, pos, 1], exact_b[:, pos]),
        "b_at_1": float(traj[-1, i1, 1]),
        "c_err": rel_error(traj[-1, :, 2], sx + lim_c),
        "d": rel_error(traj[:, :, 3], exact_d),
        "d_at_minus1": float(traj[-1, im1, 3]),
        "d_log": float(c * (np.log(depth) - 1)),
        "e": rel_error(traj[:, pos, 4], exact_e[:, pos]),
        "e_lim": rel_error(traj[-1, pos, 4], sx[pos]),
    }


# --- K3 (C4): rates and the tail bound ---------------------------------------------------------

def tail_rates(ps: Sequence[float], width: int, depth: int, x: Array, seeds: Sequence[int],
               base_seed: int, fit_from: int = 16) -> dict:
    r"""K3: random near-identity networks, their rates and the derived tail bound.

    :math:`W_k=I+G_k/(\sqrt m\,k^p)`, :math:`b_k=g_k/(\sqrt m\,k^p)`.

    Runs :func:`relubook.topics.deep_products.perturbed_identity` at the dyadic depths
    :math:`n=1,2,4,\dots\le L` and measures

    * the increments :math:`\|\mathcal N_{2n}(x)-\mathcal N_n(x)\|_2` (mean over inputs,
      geometric mean over seeds) and their fitted log-log slope over :math:`n\ge` ``fit_from``;
    * the error :math:`\|\mathcal N_L(x)-\mathcal N_n(x)\|_2` against the derived tail bound
      (:func:`relubook.topics.deep_products.tail_bound`), as the largest ratio error / bound
      over every exponent, seed, input and :math:`n<L` (the bound holds where it is ≤ 1).

    Returns
    -------
    ``{"ps", "n" (C-1,), "incr" (P, C-1), "slopes" (P,), "err", "bound" (P, S, N, C),
    "checkpoints" (C,), "bound_ratio" (largest error / bound), "looseness" (P,): the median
    over seeds, inputs and n < L of bound / error}``.
    """
    ps = np.asarray(ps, dtype=np.float64)
    if depth < 2 * fit_from:
        raise ValueError(f"depth must be at least 2 * fit_from = {2 * fit_from}, got {depth}")
    cps = [2**j for j in range(int(np.log2(depth)) + 1)]
    ys, g_norm, gb_norm, y1_norm = dp.perturbed_identity(ps, width, depth, x, seeds=seeds,
                                                         checkpoints=cps, base_seed=base_seed)
    n = np.array(cps[:-1])
    incr = np.linalg.norm(ys[:, :, 1:] - ys[:, :, :-1], axis=-1).mean(-1)       # (P, S, C-1)
    incr_gm = np.exp(np.log(incr).mean(1))                                       # (P, C-1)
    fit = n >= fit_from
    slopes = np.array([loglog_slope(n[fit], incr_gm[i, fit]) for i in range(ps.size)])
    kk = np.arange(1, depth + 1, dtype=np.float64)
    scale = 1 / (np.sqrt(width) * kk[None, None] ** ps[:, None, None])           # (P, 1, L)
    bound = dp.tail_bound(g_norm[None] * scale, gb_norm[None] * scale, y1_norm, cps)
    err = np.linalg.norm(ys[:, :, -1:] - ys, axis=-1).transpose(0, 1, 3, 2)      # (P, S, N, C)
    ratio = err[..., :-1] / bound[..., :-1]                                      # n < L: bound > 0
    loose = np.array([np.median(bound[i, ..., :-1] / err[i, ..., :-1]) for i in range(ps.size)])
    return {"ps": ps, "n": n, "incr": incr_gm, "slopes": slopes, "err": err, "bound": bound,
            "checkpoints": np.array(cps), "bound_ratio": float(ratio.max()), "looseness": loose}


# --- K4 (C3): necessary conditions -------------------------------------------------------------

#: The constant weight sequences of K4 (``b_k = 0``), in R^2.
COUNTER_EXAMPLES = {
    "(1/2) I": np.diag([0.5, 0.5]),
    "diag(1, 1/2)": np.diag([1.0, 0.5]),
    "1.05 I": np.diag([1.05, 1.05]),
    "swap": np.array([[0.0, 1.0], [1.0, 0.0]]),
}
#: m + 1 = 3 inputs in R^2 for K4's constant examples.
K4_INPUTS = ((1.0, 2.0), (2.0, 0.5), (-1.0, 1.5))


def _smin_aug(Y: Array) -> float:
    r""":math:`\sigma_{\min}(B)` of :math:`B=[Y^\top;\mathbf 1^\top]` for ``Y`` ``(m+1, m)``."""
    return float(np.linalg.svd(np.vstack([Y.T, np.ones(Y.shape[0])]), compute_uv=False)[-1])


def counter_examples(depth: int = 60) -> dict:
    r"""K4 (i), (iii): constant weights :math:`W_k=W` (:data:`COUNTER_EXAMPLES`), :math:`b_k=0`.

    For :math:`W=\tfrac12I` and :math:`\operatorname{diag}(1,\tfrac12)` the network converges
    (:math:`\mathcal N_n=W^n\sigma(x)` for :math:`n\ge1`) while :math:`\|W_n-I\|_2=\tfrac12`;
    their limits are degenerate, :math:`\sigma_{\min}(B_n)\to0`. :math:`1.05I` diverges
    geometrically and the swap permutation oscillates with period 2.

    Returns
    -------
    ``traj`` ``{name: (depth+1, 3, 2)}``, ``smin`` ``{name: (depth+1,)}``, and:
    ``dist_to_I`` ``{name: ||W - I||_2}``; ``step`` ``{name: max |N_n - N_{n-1}|}`` at
    ``n = depth``; ``exact`` (largest relative error of :math:`\tfrac12I`,
    :math:`\operatorname{diag}(1,\tfrac12)` (second coordinate) and :math:`1.05I` against
    :math:`W^n\sigma(x)`); ``smin_degenerate`` (the larger :math:`\sigma_{\min}(B_n)` of the
    two degenerate examples at ``n = depth``); ``growth_105``
    (:math:`\|\mathcal N_n\|/\|\mathcal N_1\|` of :math:`1.05I` at ``n = depth``);
    ``swap_min_step`` (smallest :math:`\max|\mathcal N_{n+1}-\mathcal N_n|`, :math:`n\ge1`)
    and ``swap_period2``
    (largest :math:`|\mathcal N_{n+2}-\mathcal N_n|`, :math:`n\ge1`).
    """
    if depth < 3:
        raise ValueError(f"depth must be at least 3, got {depth}")
    x = np.array(K4_INPUTS)
    sx = np.maximum(x, 0.0)
    traj, smin = {}, {}
    for name, Wc in COUNTER_EXAMPLES.items():
        ys = [x]
        for _ in range(depth):
            ys.append(dp.forward(Wc[None], np.zeros((1, 2)), ys[-1]))
        traj[name] = np.array(ys)                                       # (depth+1, 3, 2)
        smin[name] = np.array([_smin_aug(Y) for Y in ys])
    p = np.arange(depth + 1)[1:, None, None]
    exact = max(rel_error(traj["(1/2) I"][1:], 0.5**p * sx),
                rel_error(traj["diag(1, 1/2)"][1:, :, 1], 0.5 ** p[:, :, 0] * sx[:, 1]),
                rel_error(traj["1.05 I"][1:], 1.05**p * sx))
    osc = traj["swap"][1:]
    return {
        "traj": traj, "smin": smin,
        "dist_to_I": {k: float(np.linalg.norm(W - np.eye(2), 2))
                      for k, W in COUNTER_EXAMPLES.items()},
        "step": {k: float(np.abs(t[-1] - t[-2]).max()) for k, t in traj.items()},
        "exact": exact,
        "smin_degenerate": max(float(smin["(1/2) I"][-1]), float(smin["diag(1, 1/2)"][-1])),
        "growth_105": float(np.linalg.norm(traj["1.05 I"][-1]) / np.linalg.norm(traj["1.05 I"][1])),
        "swap_min_step": float(np.abs(osc[1:] - osc[:-1]).max((1, 2)).min()),
        "swap_period2": float(np.abs(osc[2:] - osc[:-2]).max()),
    }


def identification(width: int, depth: int, seed: int, points: int = 40,
                   fit_from: int = 16) -> dict:
    r"""K4 (ii): :math:`[W_n-I,\ b_n]` of a convergent network, from :math:`m+1` trajectories.

    :math:`W_k=I+G_k/(\sqrt m\,(k+1)^2)`, :math:`b_k=g_k/(\sqrt m\,(k+1)^2)` (drawn from
    ``numpy_rng(seed, 4)``), inputs :math:`3\cdot\mathbf 1+e_j` and :math:`3\cdot\mathbf 1`.
    At depths ``n`` (about ``points`` of them, geometric) the layer is identified by least
    squares, :func:`relubook.topics.deep_products.identify_layer`, from
    :math:`Y_{n-1}, Y_n`.

    Returns
    -------
    ``ns``; ``id_err`` (largest entry error of the identified :math:`[W_n-I,b_n]` against the
    true one), ``id_norm`` (:math:`\|[W_n-I,b_n]\|_2` identified), ``smin``
    (:math:`\sigma_{\min}(B_{n-1})`), all ``(len(ns),)``; ``min_output`` (smallest
    coordinate of :math:`\mathcal N_n(x^{(j)})`, :math:`n\ge1`), ``smin_0``
    (:math:`\sigma_{\min}(B_0)`), ``slope`` (log-log slope of ``id_norm`` over
    :math:`n\ge` ``fit_from``).
    """
    if width < 1 or depth < 2 * fit_from:
        raise ValueError(f"need width >= 1 and depth >= {2 * fit_from}, got {width}, {depth}")
    rng = numpy_rng(seed, 4)
    k = np.arange(1, depth + 1, dtype=np.float64)
    W = np.eye(width) + rng.standard_normal((depth, width, width)) / (
        np.sqrt(width) * (k[:, None, None] + 1) ** 2)
    b = rng.standard_normal((depth, width)) / (np.sqrt(width) * (k[:, None] + 1) ** 2)
    xs = np.vstack([3 + np.eye(width), 3 * np.ones((1, width))])
    Y = [xs]
    for n in range(depth):
        Y.append(dp.forward(W[n:n + 1], b[n:n + 1], Y[-1]))
    Y = np.array(Y)                                                      # (L+1, m+1, m)
    ns = np.unique(np.geomspace(2, depth, points).astype(int))
    id_err, id_norm, smin = [], [], []
    for n in ns:
        D, bb, sm = dp.identify_layer(Y[n - 1], Y[n])
        id_err.append(max(np.abs(D - (W[n - 1] - np.eye(width))).max(),
                          np.abs(bb - b[n - 1]).max()))
        id_norm.append(np.linalg.norm(np.hstack([D, bb[:, None]]), 2))
        smin.append(sm)
    id_err, id_norm, smin = map(np.array, (id_err, id_norm, smin))
    return {"ns": ns, "id_err": id_err, "id_norm": id_norm, "smin": smin,
            "min_output": float(Y[1:].min()), "smin_0": _smin_aug(xs),
            "slope": loglog_slope(ns[ns >= fit_from], id_norm[ns >= fit_from])}


# --- K5 (book check B1, C5): initialisation ----------------------------------------------------

def init_scale(width: int, depths: Sequence[int], draws: int, rng: np.random.Generator) -> dict:
    r"""K5: the log output norm :math:`z=\log(\|\mathcal N_L(x)\|/\|\sigma(x)\|)` of each init.

    :func:`relubook.topics.deep_init.log_norm_ratio` for every kind of
    :data:`relubook.topics.deep_init.INITS`, in that order, from ``rng``. Draws with
    :math:`z=-\infty` (an output exactly zero) are counted in ``dead`` and left out of the
    mean and the standard deviation.

    Returns
    -------
    ``z`` ``{kind: (len(depths), draws)}``, ``dead`` ``{kind: count}``, ``mean``, ``std``
    ``{kind: (len(depths),)}``, and for the checks: ``conv_drift``
    (:math:`\max_L|\bar z(L)-\bar z(L_0)|` of ``convergent``), ``conv_std_ratio``
    (``std(L) / std(L_0)``, ``(len(depths),)``), ``conv_abs_mean`` (:math:`\max_L|\bar z(L)|`),
    ``conv_std_max`` (:math:`\max_L` std), ``he_ratio`` (std at the largest over the smallest
    depth, ``he``) and ``he_expected`` (:math:`\sqrt{L_{\max}/L_0}`).
    """
    depths = [int(d) for d in depths]
    if len(depths) < 2 or sorted(depths) != depths:
        raise ValueError(f"depths must be at least two increasing depths, got {depths}")
    z = {kind: di.log_norm_ratio(kind, width, depths, draws, rng) for kind in di.INITS}
    dead = {kind: int(np.isinf(v).sum()) for kind, v in z.items()}
    finite = {kind: np.where(np.isinf(v), np.nan, v) for kind, v in z.items()}
    mean = {kind: np.nanmean(v, 1) for kind, v in finite.items()}
    std = {kind: np.nanstd(v, 1) for kind, v in finite.items()}
    mu, sd = mean["convergent"], std["convergent"]
    return {"depths": depths, "z": z, "dead": dead, "mean": mean, "std": std,
            "conv_drift": float(np.max(np.abs(mu - mu[0]))),
            "conv_std_ratio": sd / sd[0],
            "conv_abs_mean": float(np.max(np.abs(mu))),
            "conv_std_max": float(np.max(sd)),
            "he_ratio": float(std["he"][-1] / std["he"][0]),
            "he_expected": float(np.sqrt(depths[-1] / depths[0]))}


def training_summary(train: Mapping[int, dict], chance: float = 0.1) -> dict:
    r"""Final test accuracies of :func:`relubook.topics.deep_init.train_deep_mlps` runs, by depth.

    Parameters
    ----------
    train
        ``{depth: result of train_deep_mlps}``.
    chance
        The accuracy of a constant guess (0.1 for ten balanced classes); a seed counts as
        trained when its final test accuracy exceeds twice this.

    Returns
    -------
    ``final`` ``{(depth, kind): (seeds,) final test accuracies}``, ``mean``, ``lo``, ``hi``
    ``{(depth, kind): float}``, ``trained`` ``{(depth, kind): seeds above 2 * chance}``,
    and for the deepest depth ``L_max``: ``gap_he`` (mean convergent minus mean He),
    ``gap_noise`` (mean convergent minus mean identity_noise) and ``worst_convergent``
    (the lowest final test accuracy of a convergent seed).
    """
    if not train:
        raise ValueError("train must hold at least one depth")
    final = {}
    for L, r in train.items():
        kinds = np.array(r["inits"])
        for kind in di.INITS:
            sel = kinds == kind
            if not sel.any():
                raise ValueError(f"depth {L}: no network with initialisation {kind!r}")
            final[(int(L), kind)] = np.asarray(r["test_acc"])[sel, -1].astype(np.float64)
    L = max(int(d) for d in train)
    mean = {key: float(v.mean()) for key, v in final.items()}
    return {"final": final, "mean": mean,
            "lo": {key: float(v.min()) for key, v in final.items()},
            "hi": {key: float(v.max()) for key, v in final.items()},
            "trained": {key: int(np.sum(v > 2 * chance)) for key, v in final.items()},
            "L_max": L,
            "gap_he": mean[(L, "convergent")] - mean[(L, "he")],
            "gap_noise": mean[(L, "convergent")] - mean[(L, "identity_noise")],
            "worst_convergent": float(final[(L, "convergent")].min())}

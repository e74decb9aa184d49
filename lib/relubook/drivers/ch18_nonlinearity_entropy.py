r"""Chapter 18's driver: the leaky-slope sweep over shapes and widths, and its summaries.

:func:`sweep` trains every network of a grid shapes × widths × slopes :math:`\alpha` × seeds
with plain SGD in one batched program: the architectures are put in a few padded groups
(:func:`plan_groups`; :func:`relubook.topics.nonlinearity.padded_group`), each a
:class:`~relubook.core.mlp.StackedMLP` of batch shape ``(seeds, configurations)`` with one
:math:`\alpha` per network, and every group takes its SGD step on the same mini-batches (one
batch order per seed). It then reads, on the held-out set, the accuracy and, per hidden layer,
the two entropy estimates, the fraction of exact zeros and of dead units.

The remaining functions turn a result into the chapter's numbers: seed means and spreads
(:func:`seed_stats`), the linear network's gap (:func:`linear_gap`), ReLU's lead among large
models (:func:`relu_lead`), the best slope of small models (:func:`best_alpha`) and the
first-layer entropy gap (:func:`entropy_gap`). Accuracies are fractions; the summaries give
them in points (percent).

A result ``res`` holds arrays indexed ``[shape, width, alpha, seed]`` (and ``layer`` last for
per-layer quantities).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from ..core.data import Digits
from ..core.random import numpy_rng, torch_generator
from ..topics import nonlinearity as nl

__all__ = [
    "best_alpha",
    "entropy_gap",
    "estimator_agreement",
    "linear_gap",
    "plan_groups",
    "relu_curve",
    "relu_lead",
    "seed_stats",
    "small_model_table",
    "sweep",
]

#: Layers of every network: three hidden layers.
N_HIDDEN = 3


def plan_groups(shapes: Sequence[str], widths: Sequence[int], pad_up_to: int = 32
                ) -> list[list[tuple[str, int]]]:
    """Architectures grouped for batching: every ``(shape, width)`` whose widest hidden layer
    has at most ``pad_up_to`` units is padded into one group (cheap: the padding costs little
    at small widths); each larger architecture is a group of its own."""
    small, large = [], []
    for w in widths:
        for s in shapes:
            (small if max(nl.hidden_widths(s, w)) <= pad_up_to else large).append((s, w))
    return ([small] if small else []) + [[a] for a in large]


def _check_grid(shapes: Sequence[str], widths: Sequence[int], alphas: Sequence[float]) -> None:
    for s in shapes:
        if s not in nl.SHAPES:
            raise ValueError(f"unknown shape {s!r}; valid: {', '.join(nl.SHAPES)}")
    if len(set(widths)) != len(widths) or len(set(alphas)) != len(alphas):
        raise ValueError("widths and alphas must not repeat")
    if 0.0 not in alphas or 1.0 not in alphas:
        raise ValueError(f"alphas must include 0 (ReLU) and 1 (linear), got {list(alphas)}")


def sweep(data: Digits, *, shapes: Sequence[str], widths: Sequence[int],
          alphas: Sequence[float], n_seeds: int, epochs: int, batch_size: int, lr: float,
          seed: int, kde_points: int = 1000, bins: int = 50, progress: bool | None = None
          ) -> dict:
    r"""Train the grid shapes × widths × alphas × seeds with SGD and measure every network.

    Seed index ``s`` draws architecture ``(shape, width)`` from
    ``numpy_rng(seed, 2, k, width, s)`` (``k`` the shape's index in
    :data:`~relubook.topics.nonlinearity.SHAPES`), so an initialisation does not depend on the
    grid or on the grouping, and is shared by every :math:`\alpha`; its mini-batches come from
    ``numpy_rng(seed, 1, s)`` (one permutation per epoch, :math:`\lfloor N/B\rfloor` batches,
    the last incomplete one dropped), shared by every network of that seed.

    Returns
    -------
    dict
        ``test_acc``, ``train_acc``, ``loss`` (mean training cross-entropy of the last epoch)
        of shape ``(n_shapes, n_widths, n_alphas, n_seeds)``; ``H_hist`` (bits, ``bins``
        equal bins on each layer's min–max range), ``H_kde`` (bits, leave-one-out Gaussian
        kernel estimate on ``kde_points`` standardised outputs), ``zeros`` (fraction of exact
        zeros) and ``dead`` (fraction of units zero on every held-out input), each with a
        last axis of 3 hidden layers; the grid (``shapes``, ``widths``, ``alphas``);
        ``groups`` (the batching plan), ``n_nets``, ``steps`` and ``train_s`` (seconds).
    """
    _check_grid(shapes, widths, alphas)
    if n_seeds < 1 or epochs < 1:
        raise ValueError(f"need n_seeds >= 1 and epochs >= 1, got {n_seeds}, {epochs}")
    x, y = data.x_train, data.y_train
    n, d_in = x.shape
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
    d_out = int(max(int(y.max()), int(data.y_test.max()))) + 1
    shape_key = {s: k for k, s in enumerate(nl.SHAPES)}
    plan = plan_groups(shapes, widths)
    groups = [nl.padded_group(arch, alphas, d_in, d_out,
                              [[numpy_rng(seed, 2, shape_key[s], w, i) for s, w in arch]
                               for i in range(n_seeds)])
              for arch in plan]
    batch_rngs = [numpy_rng(seed, 1, i) for i in range(n_seeds)]
    per_epoch = n // batch_size
    last = [torch.zeros(n_seeds, len(g.configs)) for g in groups]
    from tqdm import tqdm  # a text bar (tqdm.auto warns without ipywidgets)

    t0 = time.perf_counter()
    for epoch in tqdm(range(epochs), desc="SGD epochs", disable=True if progress is False else None,
                      mininterval=2.0):
        perm = torch.as_tensor(np.stack([r.permutation(n) for r in batch_rngs]))
        for k in range(per_epoch):
            idx = perm[:, k * batch_size:(k + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            for g, acc in zip(groups, last):
                loss = nl.train_step(g, xb, yb, lr)
                if epoch == epochs - 1:
                    acc += loss
    train_s = time.perf_counter() - t0

    shape_of = (len(shapes), len(widths), len(alphas), n_seeds)
    res = {k: np.full(shape_of, np.nan) for k in ("test_acc", "train_acc", "loss")}
    for k in ("H_hist", "H_kde", "zeros", "dead"):
        res[k] = np.full(shape_of + (N_HIDDEN,), np.nan)
    kde_gen = torch_generator(seed)
    for g, loss_sum in zip(groups, last):
        logits, hs = nl.hidden_outputs(g, data.x_test)
        test_acc = (logits.argmax(-1) == data.y_test).double().mean(-1)
        train_acc = (nl.hidden_outputs(g, x)[0].argmax(-1) == y).double().mean(-1)
        per_layer = {k: [] for k in ("H_hist", "H_kde", "zeros", "dead")}
        for h, mask in zip(hs, g.masks):
            per_layer["H_hist"].append(nl.histogram_entropy(h, mask, bins))
            per_layer["H_kde"].append(nl.kde_entropy(h, kde_gen, mask, kde_points))
            per_layer["zeros"].append(nl.zero_fraction(h, mask))
            per_layer["dead"].append(nl.dead_fraction(h, mask))
        for c, (s, w, a) in enumerate(g.configs):
            ix = (shapes.index(s), list(widths).index(w), list(alphas).index(a))
            res["test_acc"][ix] = test_acc[:, c].numpy()
            res["train_acc"][ix] = train_acc[:, c].numpy()
            res["loss"][ix] = (loss_sum[:, c] / per_epoch).numpy()
            for k, v in per_layer.items():
                res[k][ix] = torch.stack([t[:, c] for t in v], -1).double().numpy()
    res.update(shapes=list(shapes), widths=list(widths), alphas=[float(a) for a in alphas],
               groups=plan, n_nets=sum(g.net.n_nets for g in groups),
               steps=epochs * per_epoch, train_s=train_s)
    return res


def seed_stats(a: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (``ddof=1``; NaN for a single seed) over the seed axis."""
    a = np.asarray(a, dtype=float)
    m = a.mean(axis)
    if a.shape[axis] < 2:
        return m, np.full_like(m, np.nan)
    return m, a.std(axis, ddof=1)


def _ratio(effect: float, spread: float) -> float:
    if not np.isfinite(spread):
        return float("nan")
    if spread == 0:
        return float("inf") if effect > 0 else float("-inf") if effect < 0 else float("nan")
    return float(effect / spread)


def linear_gap(res: dict, width: int, key: str = "test_acc") -> dict:
    r"""Per shape at ``width``: how much the linear network (:math:`\alpha=1`) loses, in points.

    ``gap`` = seed-mean accuracy of the best :math:`\alpha` minus that of :math:`\alpha=1`;
    ``spread`` = the larger seed standard deviation of the two; ``ratio`` = gap / spread;
    ``best`` = the best :math:`\alpha`. ``mean_*``: the same for the accuracy averaged over
    shapes (per seed, then over seeds).
    """
    j, one = res["widths"].index(width), res["alphas"].index(1.0)
    acc = 100 * res[key][:, j]                           # (shape, alpha, seed)
    out = {"gap": [], "spread": [], "ratio": [], "best": []}
    for a in list(acc) + [acc.mean(0)]:
        m, sd = seed_stats(a)
        b = int(np.argmax(m))
        gap, spread = float(m[b] - m[one]), float(max(sd[b], sd[one]))
        for k, v in zip(out, (gap, spread, _ratio(gap, spread), res["alphas"][b])):
            out[k].append(v)
    res_out = {k: np.array(v[:-1]) for k, v in out.items()}
    res_out.update({f"mean_{k}": v[-1] for k, v in out.items()})
    return res_out


def relu_lead(res: dict, width: int, key: str = "test_acc") -> dict:
    r"""ReLU against the leaky slopes at ``width``, for the accuracy averaged over shapes.

    ``lead`` = seed-mean accuracy of ReLU minus that of the best :math:`\alpha>0` (points;
    negative when a leaky slope is better); ``to_best`` = ReLU minus the best of all slopes
    (:math:`\le0`); ``spread`` = the larger seed standard deviation of ReLU and that slope;
    ``ratio`` = lead / spread; ``rival`` = that slope; ``per_shape_lead`` the lead per shape.
    """
    j, zero = res["widths"].index(width), res["alphas"].index(0.0)
    acc = 100 * res[key][:, j]
    others = [i for i in range(len(res["alphas"])) if i != zero]

    def one(a: np.ndarray) -> tuple[float, float, float, int]:
        m, sd = seed_stats(a)
        r = others[int(np.argmax(m[others]))]
        return float(m[zero] - m[r]), float(m[zero] - m.max()), float(max(sd[zero], sd[r])), r

    lead, to_best, spread, r = one(acc.mean(0))
    return {"lead": lead, "to_best": to_best, "spread": spread, "ratio": _ratio(lead, spread),
            "rival": res["alphas"][r], "per_shape_lead": np.array([one(a)[0] for a in acc])}


def best_alpha(res: dict, width: int, key: str = "test_acc") -> dict:
    r"""The best slope at ``width`` for the shape-averaged accuracy, against ReLU.

    ``best`` (:math:`\alpha`), ``acc`` (its seed-mean accuracy, points), ``over_relu`` (its
    lead over ReLU, points; 0 when ReLU is best), ``spread`` (the larger seed standard
    deviation of the two), ``ratio`` and ``beyond_spread`` (lead > spread); ``per_shape`` the
    best slope of each shape.
    """
    j, zero = res["widths"].index(width), res["alphas"].index(0.0)
    acc = 100 * res[key][:, j]
    m, sd = seed_stats(acc.mean(0))
    b = int(np.argmax(m))
    lead, spread = float(m[b] - m[zero]), float(max(sd[b], sd[zero]))
    per_shape = [res["alphas"][int(np.argmax(seed_stats(a)[0]))] for a in acc]
    return {"best": res["alphas"][b], "acc": float(m[b]), "over_relu": lead, "spread": spread,
            "ratio": _ratio(lead, spread), "beyond_spread": bool(lead > spread),
            "per_shape": per_shape}


def entropy_gap(res: dict, key: str = "H_hist", layer: int = 0) -> dict:
    r"""First-layer (``layer``) entropy of ReLU against the linear network, per shape and width.

    ``diff`` = seed-mean :math:`H(\alpha=0)-H(\alpha=1)` (bits), shape ``(shape, width)``;
    ``spread`` the larger seed standard deviation of the two; ``ratio`` = -diff / spread
    (positive when ReLU's entropy is lower); ``max_diff`` and ``min_ratio`` over the grid.
    """
    zero, one = res["alphas"].index(0.0), res["alphas"].index(1.0)
    h = res[key][..., layer]                              # (shape, width, alpha, seed)
    m0, s0 = seed_stats(h[:, :, zero])
    m1, s1 = seed_stats(h[:, :, one])
    diff, spread = m0 - m1, np.maximum(s0, s1)
    ratio = np.vectorize(_ratio)(-diff, spread) if np.all(np.isfinite(spread)) \
        else np.full_like(diff, np.nan)
    return {"diff": diff, "spread": spread, "ratio": ratio, "max_diff": float(diff.max()),
            "min_ratio": float(np.min(ratio))}


def small_model_table(res: dict, widths: Sequence[int], key: str = "test_acc") -> str:
    """A text table: seed-mean accuracy ± seed spread (points) per shape and slope, per width."""
    lines = []
    for w in widths:
        j = res["widths"].index(w)
        lines.append(f"width w = {w}")
        lines.append("shape".ljust(12) + "".join(f"a={a:g}".rjust(13) for a in res["alphas"]))
        rows = [(s, 100 * res[key][i, j]) for i, s in enumerate(res["shapes"])]
        rows.append(("(mean)", 100 * res[key][:, j].mean(0)))
        for name, a in rows:
            m, sd = seed_stats(a)
            cells = "".join(f"{mi:7.1f} ± {si:3.1f}".rjust(13) if np.isfinite(si)
                            else f"{mi:7.1f}".rjust(13) for mi, si in zip(m, sd))
            lines.append(name.ljust(12) + cells)
    return "\n".join(lines)


def relu_curve(res: dict, width: int, key: str = "test_acc") -> tuple[np.ndarray, np.ndarray]:
    r"""Shape-mean accuracy of every slope minus ReLU's at ``width`` (points) and the spread.

    Returns the seed-mean difference per :math:`\alpha` and, as spread, the larger seed
    standard deviation of the two accuracies compared (the spread of the rules).
    """
    j, zero = res["widths"].index(width), res["alphas"].index(0.0)
    m, sd = seed_stats(100 * res[key][:, j].mean(0))
    return m - m[zero], np.maximum(sd, sd[zero])


def estimator_agreement(res: dict) -> dict:
    """How the two entropy estimators agree over every (shape, width, alpha, layer) cell.

    ``spearman``: rank correlation of their seed means; ``rises``: fraction of the (shape,
    width, layer) cells whose entropy is higher at alpha = 1 than at alpha = 0 by both;
    ``rises_hist`` and ``rises_kde``: the same per estimator.
    """
    from scipy.stats import spearmanr

    mh, mk = res["H_hist"].mean(-2), res["H_kde"].mean(-2)      # (shape, width, alpha, layer)
    zero, one = res["alphas"].index(0.0), res["alphas"].index(1.0)
    up_h = mh[:, :, one] > mh[:, :, zero]
    up_k = mk[:, :, one] > mk[:, :, zero]
    rho = spearmanr(mh.ravel(), mk.ravel()).statistic if mh.size > 2 else float("nan")
    return {"spearman": float(rho), "rises": float(np.mean(up_h & up_k)),
            "rises_hist": float(np.mean(up_h)), "rises_kde": float(np.mean(up_k))}

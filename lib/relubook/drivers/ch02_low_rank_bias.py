r"""Chapter 2's driver: grids of small ReLU MLPs trained by SGD with weight decay, and their ranks.

Every (seed, (lr, wd)) pair of a grid is one network of a :class:`relubook.core.mlp.StackedMLP`;
the networks of one batch size $B$ train together (:func:`relubook.core.mlp.train`).
:func:`train_grid` records the normalised singular values $\sigma_i(W)/\|W\|_F$ of the hidden
matrices during training; the rank measures of the chapter are read off these recorded spectra
with the measures of :mod:`relubook.core.ranks` (:func:`hidden_rank`, :func:`hidden_stable_rank`,
:func:`hidden_eps_rank`). The remaining functions build the chapter's tables: the theorem's
bound next to the measured ranks (:func:`bound_table`, :func:`bound_summary`), the pool of
runs that fit the training set (:func:`fit_pool`), rank curves and the old-memory term.

A result ``res`` of :func:`train_grid` is a dict of arrays; ``C`` networks, ``L`` recorded
matrices, ``k`` singular values per matrix, ``T`` logged steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..core import ranks
from ..core.data import Digits
from ..core.mlp import StackedMLP, accuracy, init_stacked_mlp, train
from ..core.random import torch_generator
from ..core.ranks import normalised_spectrum
from ..topics.low_rank import old_memory, theorem_rank_bound

__all__ = [
    "bound_summary",
    "bound_table",
    "bound_table_text",
    "final_old_memory",
    "first_step_below",
    "fit_pool",
    "grid_means",
    "hidden_eps_rank",
    "hidden_rank",
    "hidden_stable_rank",
    "mean_rank",
    "old_memory_curve",
    "rank_curve",
    "select",
    "train_grid",
    "underflowed",
]

#: Smallest normal float32: a matrix with a Frobenius norm below it has only subnormal entries.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def train_grid(data: Digits, widths: Sequence[int], settings: Sequence[tuple[float, float]], *,
               seeds: Sequence[int], batch_size: int, steps: int, log_every: int,
               hidden: Sequence[int] = (1, 2, 3)) -> dict:
    """Train one network per (seed, (lr, wd)) pair at batch size $B$, all in one tensor program.

    Network ``i * len(settings) + j`` has seed ``seeds[i]`` (its initialisation and batch
    order come from ``torch.Generator().manual_seed(seeds[i])``, so they do not depend on the
    other seeds or on the grid's size beyond ``settings``) and ``(lr, wd) = settings[j]``.
    Every ``log_every`` steps (and at steps 0 and ``steps``) the normalised singular values of
    the weights ``hidden`` and their Frobenius norms are recorded.

    Returns a dict of arrays: ``lr``, ``wd``, ``seed`` ``(C,)``; ``step`` ``(T,)``;
    ``spectrum`` ``(C, L, k, T)``; ``fro`` ``(C, L, T)``; ``train_acc``, ``test_acc`` ``(C,)``;
    ``tiny``, the smallest normal number of the training dtype; and ``net``, the trained
    :class:`StackedMLP`.
    """
    if not settings or not seeds:
        raise ValueError("need at least one (lr, wd) setting and one seed")
    gens, nets = [], []
    for s in seeds:
        g = torch_generator(int(s))
        nets.append(init_stacked_mlp(len(settings), widths, g, device=data.x_train.device))
        gens.append(g)
    net = StackedMLP([torch.cat(ws) for ws in zip(*(n.weights for n in nets))],
                     [torch.cat(bs) for bs in zip(*(n.biases for n in nets))])
    lr = np.tile([float(a) for a, _ in settings], len(seeds))
    wd = np.tile([float(b) for _, b in settings], len(seeds))

    def monitor(t: int, net: StackedMLP) -> dict:
        w = torch.stack([net.weights[l] for l in hidden], 1)
        return {"spectrum": normalised_spectrum(w),
                "fro": torch.linalg.norm(w.double(), dim=(-2, -1)).cpu().numpy()}

    hist = train(net, data.x_train, data.y_train, lr=torch.as_tensor(lr), wd=torch.as_tensor(wd),
                 batch_size=batch_size, steps=steps, generator=gens, log_every=log_every,
                 monitor=monitor)
    return {"lr": lr, "wd": wd, "seed": np.repeat(np.asarray(seeds), len(settings)),
            "step": hist["step"], "spectrum": hist["spectrum"], "fro": hist["fro"],
            "train_acc": accuracy(net, data.x_train, data.y_train),
            "test_acc": accuracy(net, data.x_test, data.y_test),
            "tiny": float(torch.finfo(net.weights[0].dtype).tiny), "net": net}


def select(res: dict, lr: float, wd: float) -> np.ndarray:
    """Indices of the runs of ``res`` with learning rate ``lr`` and weight decay ``wd``.

    One index per seed, in the order of ``res["seed"]``; a ``ValueError`` names the settings
    that exist when there is no such run.
    """
    idx = np.flatnonzero(np.isclose(res["lr"], lr) & np.isclose(res["wd"], wd))
    if idx.size == 0:
        have = sorted({(float(a), float(b)) for a, b in zip(res["lr"], res["wd"])})
        raise ValueError(f"no run with lr={lr}, wd={wd}; the grid has (lr, wd) in {have}")
    return idx


def _spectra(res: dict, at: int | slice) -> np.ndarray:
    """Recorded normalised spectra at log index ``at``: ``(C, L, k)``, or ``(C, L, T', k)``."""
    s = np.asarray(res["spectrum"])[..., at]
    return np.moveaxis(s, 2, -1) if s.ndim == 4 else s


def _on_spectra(measure: Callable[[np.ndarray], np.ndarray], s: np.ndarray) -> np.ndarray:
    r"""A matrix measure of :mod:`relubook.core.ranks` applied to spectra ``s`` ``(..., k)``.

    The diagonal matrix $\mathrm{diag}(s)$ has singular values $s$; a recorded spectrum is
    normalised ($\sum_i s_i^2=1$), so the measure of $\mathrm{diag}(s)$ is the measure of the
    recorded matrix. One network at a time, to bound the memory of the ``(k, k)`` matrices.
    """
    eye = np.eye(s.shape[-1])
    return np.stack([measure(sc[..., :, None] * eye) for sc in s])


def hidden_rank(res: dict, tol: float = 1e-3, at: int | slice = -1) -> np.ndarray:
    r"""Thresholded rank (:func:`relubook.core.ranks.thresholded_rank`) of the recorded matrices.

    The number of singular values of $W/\|W\|_F$ above ``tol`` at log index ``at``.

    Shape:
        - Output: ``(C, L)`` for an integer ``at``, ``(C, L, T')`` for a slice.
    """
    return _on_spectra(lambda m: ranks.thresholded_rank(m, tol), _spectra(res, at))


def hidden_stable_rank(res: dict, at: int | slice = -1) -> np.ndarray:
    r"""Stable rank $\|W\|_F^2/\|W\|_2^2$ (:func:`relubook.core.ranks.stable_rank`), ``(C, L)``."""
    return _on_spectra(ranks.stable_rank, _spectra(res, at))


def hidden_eps_rank(res: dict, eps: float, at: int | slice = -1) -> np.ndarray:
    r"""$\varepsilon$-rank of $W/\|W\|_F$ (:func:`relubook.core.ranks.eps_rank_of_spectrum`)."""
    return ranks.eps_rank_of_spectrum(_spectra(res, at), eps)


def mean_rank(res: dict, lr: float, wd: float, tol: float = 1e-3,
              at: int | slice = -1) -> np.ndarray:
    """Thresholded rank averaged over the recorded matrices, one value per seed: ``(S,)``.

    The chapter's "mean hidden rank" of the runs with ``(lr, wd)``; ``(S, T')`` for a slice.
    """
    s = _spectra(res, at)[select(res, lr, wd)]  # only these runs: one SVD per matrix and step
    return _on_spectra(lambda m: ranks.thresholded_rank(m, tol), s).mean(1)


def rank_curve(res: dict, lr: float, wd: float, tol: float = 1e-3) -> np.ndarray:
    """Mean hidden rank of the runs with ``(lr, wd)`` at every logged step: ``(S, T)``."""
    return mean_rank(res, lr, wd, tol, at=slice(None))


def old_memory_curve(res: dict, lr: float, wd: float) -> np.ndarray:
    r"""Old-memory term $(1-\mu\,\mathrm{wd})^t\|W_0\|_F/\|W_t\|_F$ at every logged step.

    :func:`relubook.topics.low_rank.old_memory` on the recorded norms; shape ``(S, L, T)``.
    """
    fro = np.asarray(res["fro"])[select(res, lr, wd)]
    return old_memory(lr, wd, res["step"], fro[..., :1] / fro)


def final_old_memory(res: dict) -> np.ndarray:
    """The old-memory term of every run at its last logged step: ``(C, L)``."""
    fro = np.asarray(res["fro"])
    return np.stack([old_memory(float(lr), float(wd), int(res["step"][-1]),
                                fro[c, :, 0] / fro[c, :, -1])
                     for c, (lr, wd) in enumerate(zip(res["lr"], res["wd"]))])


def underflowed(res: dict) -> np.ndarray:
    """Runs whose last recorded matrices have underflowed: ``(C,)`` bool.

    True when a recorded matrix has $\\|W\\|_F$ below the smallest normal number of the
    training dtype (``res["tiny"]``; float32's when absent), so that every entry is subnormal
    and $W/\\|W\\|_F$ is no longer measured to any precision.
    """
    tiny = float(res.get("tiny", FLOAT32_TINY))
    return np.asarray(res["fro"])[..., -1].min(-1) < tiny


def first_step_below(res: dict, lr: float, wd: float, level: float,
                     tol: float = 1e-3) -> tuple[float, float]:
    """First logged step at which the seed-mean hidden rank of ``(lr, wd)`` is below ``level``.

    Returns ``(step, old memory at that step)`` (the old-memory term averaged over seeds and
    matrices), or ``(nan, nan)`` when the rank never falls below ``level``.
    """
    curve = rank_curve(res, lr, wd, tol).mean(0)
    hit = np.flatnonzero(curve < level)
    if hit.size == 0:
        return float("nan"), float("nan")
    t = int(hit[0])
    return float(res["step"][t]), float(old_memory_curve(res, lr, wd)[..., t].mean())


def grid_means(results: dict, pairs: Sequence[tuple[float, float]],
               metric: Callable[[dict], np.ndarray]) -> np.ndarray:
    """``metric(res)`` (per run and matrix) averaged over the seeds and matrices of each setting.

    ``results`` maps a batch size to its :func:`train_grid` result; row ``i`` of the output is
    ``pairs[i]`` = (lr, wd), column ``j`` the ``j``-th batch size of ``results``.

    Shape:
        - Output: ``(len(pairs), len(results))``
    """
    out = np.zeros((len(pairs), len(results)))
    for j, res in enumerate(results.values()):
        m = metric(res)
        for i, (lr, wd) in enumerate(pairs):
            out[i, j] = m[select(res, lr, wd)].mean()
    return out


def bound_table(sweeps: Sequence[tuple[str, int, dict]], eps: float,
                tol: float = 1e-3) -> list[dict]:
    r"""The theorem's bound next to the measured ranks, one row per setting with ``wd > 0``.

    ``sweeps`` holds ``(name, B, res)`` triples. Each row has the sweep, ``B``, ``lr``,
    ``wd``, ``steps``, ``bound`` $=B\log(2/\varepsilon)/(\mu\,\mathrm{wd})$
    (:func:`relubook.topics.low_rank.theorem_rank_bound`), ``train_acc`` (mean over seeds)
    and ``n_underflow``, the number of seeds whose weights underflowed (:func:`underflowed`).
    The measures of the other seeds follow: the $\varepsilon$-rank (mean and largest over
    seeds and matrices: ``eps_rank``, ``eps_rank_max``), the thresholded rank ``thr_rank``
    and the stable rank ``stable`` (means), and the largest old-memory term at the end,
    ``old_memory``; they are NaN when every seed underflowed.
    """
    nan = float("nan")
    rows = []
    for name, B, res in sweeps:
        eps_r, thr = hidden_eps_rank(res, eps), hidden_rank(res, tol)
        st, mem, under = hidden_stable_rank(res), final_old_memory(res), underflowed(res)
        for lr, wd in sorted({(float(a), float(b)) for a, b in zip(res["lr"], res["wd"])}):
            if wd == 0:
                continue
            i = select(res, lr, wd)
            ok = i[~under[i]]
            row = {"sweep": name, "B": int(B), "lr": lr, "wd": wd, "steps": int(res["step"][-1]),
                   "bound": theorem_rank_bound(int(B), lr, wd, eps),
                   "train_acc": float(np.mean(res["train_acc"][i])),
                   "n_underflow": int(under[i].sum())}
            if ok.size:
                row.update(eps_rank=float(eps_r[ok].mean()), eps_rank_max=float(eps_r[ok].max()),
                           thr_rank=float(thr[ok].mean()), stable=float(st[ok].mean()),
                           old_memory=float(mem[ok].max()))
            else:
                row.update(eps_rank=nan, eps_rank_max=nan, thr_rank=nan, stable=nan,
                           old_memory=nan)
            rows.append(row)
    return rows


def bound_table_text(rows: Sequence[dict], batch_sizes: Sequence[int] | None = None) -> str:
    """:func:`bound_table`'s rows as a fixed-width text table (only ``batch_sizes``, if given)."""
    head = (f"{'sweep':<13}{'B':>4} {'lr':>5} {'wd':>6} {'steps':>6} {'bound':>9} "
            f"{'eps-rank':>9} {'rank@tol':>9} {'stable':>7} {'old mem':>8} {'train acc':>9}")
    out = [head]
    for r in rows:
        if batch_sizes is not None and r["B"] not in batch_sizes:
            continue
        out.append(f"{r['sweep']:<13}{r['B']:>4} {r['lr']:>5g} {r['wd']:>6g} {r['steps']:>6} "
                   f"{r['bound']:>9.3g} {r['eps_rank']:>9.1f} {r['thr_rank']:>9.1f} "
                   f"{r['stable']:>7.1f} {r['old_memory']:>8.2g} {r['train_acc']:>9.3f}"
                   + (f"  weights underflowed ({r['n_underflow']} seeds)"
                      if r["n_underflow"] else ""))
    return "\n".join(out)


def bound_summary(rows: Sequence[dict], width: int, eps: float,
                  learn_acc: float = 0.9) -> dict:
    r"""What :func:`bound_table`'s rows say about the theorem's statement and its bound.

    * ``applies``: the rows where the theorem's hypothesis holds, a measured old-memory term
      at most $\varepsilon$ (seeds whose weights underflowed are not measured);
      ``max_ratio`` the largest $\varepsilon$-rank / bound over them (NaN when none).
    * ``learn``: the rows whose mean train accuracy is at least ``learn_acc``;
      ``min_bound_learn`` the smallest bound over them and ``bound_over_width`` that bound
      divided by ``width`` (NaN when none).
    * ``eps_rank_min``, ``eps_rank_max``: the range of the mean $\varepsilon$-rank over the
      measured rows.
    """
    nan = float("nan")
    applies = [r for r in rows if r["old_memory"] <= eps]
    learn = [r for r in rows if r["train_acc"] >= learn_acc]
    measured = [r["eps_rank"] for r in rows if not np.isnan(r["eps_rank"])]
    min_bound = min((r["bound"] for r in learn), default=nan)
    return {"applies": applies, "n_applies": len(applies),
            "max_ratio": max((r["eps_rank_max"] / r["bound"] for r in applies), default=nan),
            "learn": learn, "n_learn": len(learn), "min_bound_learn": float(min_bound),
            "bound_over_width": float(min_bound) / width,
            "eps_rank_min": min(measured, default=nan), "eps_rank_max": max(measured, default=nan)}


def fit_pool(sweeps: Sequence[tuple[str, int, dict]], tol: float = 1e-3,
             fit_acc: float = 0.97) -> dict:
    """Every run of ``sweeps`` with its mean hidden rank and accuracies; the extreme fitting pair.

    ``sweeps`` holds ``(name, B, res)`` triples. Among the runs with train accuracy at least
    ``fit_acc`` (``fit``), ``hi`` and ``lo`` index the highest and the lowest mean hidden rank;
    ``ratio`` is rank(hi) / rank(lo) and ``dacc`` the absolute difference of their test
    accuracies. With no fitting run, ``hi`` and ``lo`` are ``None`` and the numbers NaN.

    Returns a dict of arrays ``(C_total,)``: ``sweep``, ``B``, ``rank``, ``train_acc``,
    ``test_acc``, ``fit``; and ``hi``, ``lo``, ``ratio``, ``dacc``, ``n_fit``.
    """
    if not sweeps:
        raise ValueError("fit_pool needs at least one sweep")
    cols = {"sweep": [], "B": [], "rank": [], "train_acc": [], "test_acc": []}
    for name, B, res in sweeps:
        n = len(res["lr"])
        cols["sweep"].append(np.array([name] * n))
        cols["B"].append(np.full(n, int(B)))
        cols["rank"].append(hidden_rank(res, tol).mean(-1))
        cols["train_acc"].append(np.asarray(res["train_acc"], dtype=float))
        cols["test_acc"].append(np.asarray(res["test_acc"], dtype=float))
    pool = {k: np.concatenate(v) for k, v in cols.items()}
    fit = pool["train_acc"] >= fit_acc
    pool.update(fit=fit, n_fit=int(fit.sum()), hi=None, lo=None, ratio=float("nan"),
                dacc=float("nan"))
    if fit.any():
        idx = np.flatnonzero(fit)
        hi, lo = int(idx[np.argmax(pool["rank"][idx])]), int(idx[np.argmin(pool["rank"][idx])])
        pool.update(hi=hi, lo=lo, ratio=float(pool["rank"][hi] / pool["rank"][lo]),
                    dacc=float(abs(pool["test_acc"][hi] - pool["test_acc"][lo])))
    return pool

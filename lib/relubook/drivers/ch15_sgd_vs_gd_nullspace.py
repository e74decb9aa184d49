r"""Chapter 15's driver: SGD and GD with weight decay, their null-space components and ranks.

Three experiments, each one tensor program per batch size $B$ (all seeds, settings, loss
heads and initialisations of that $B$ are networks of one
:class:`relubook.core.mlp.StackedMLP`, trained by :func:`relubook.topics.nullspace.train_epochs`):

* :func:`linear_runs`: linear regression $x\mapsto Wx$ on the upsampled digits in float64,
  logging $\|W_\perp\|$ after every epoch (C1, C2);
* :func:`deep_runs`: deep ReLU networks in float32 (cross-entropy and MSE), logging the
  first layer's $\|W_\perp\|$ after every epoch, and the ranks of every layer at the end
  (C3, C4);
* :func:`noise_floor`: ridge regression on the raw digits in float64, the relative step
  size of GD and of SGD at every step (C4).

Network ``i`` of a run has the ``i``-th entry of the returned per-network arrays (``lr``,
``wd``, ``seed``, ...). A seed's initialisation and its batch orders come from
``torch_generator(seed)`` (the initialisation is drawn first), so the same seed and settings
give the same $W_0$ for every $B$: GD and SGD start from the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..core import ranks
from ..core.mlp import StackedMLP, accuracy, init_stacked_mlp, squared_error
from ..core.random import torch_generator
from ..topics import nullspace as ns_mod
from ..topics.nullspace import NullSpace

__all__ = ["deep_runs", "linear_runs", "linear_summary", "noise_floor", "per_step_rates", "select"]


def _stack(nets: Sequence[StackedMLP]) -> StackedMLP:
    return StackedMLP([torch.cat(ws) for ws in zip(*(n.weights for n in nets))],
                      [torch.cat(bs) for bs in zip(*(n.biases for n in nets))])


def select(res: dict, **where) -> np.ndarray:
    """Indices of the networks of ``res`` whose per-network arrays equal ``where``'s values.

    Floats compare with ``np.isclose``; a ``ValueError`` names the keys when nothing matches.
    """
    keep = np.ones(len(res["lr"]), bool)
    for k, v in where.items():
        a = np.asarray(res[k])
        keep &= np.isclose(a, v) if a.dtype.kind == "f" else (a == v)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise ValueError(f"no network with {where}; per-network keys: "
                         f"{[k for k in ('lr', 'wd', 'seed', 'zero_init', 'ce') if k in res]}")
    return idx


def linear_runs(ns: NullSpace, X: torch.Tensor, Y: torch.Tensor, *,
                settings: Sequence[tuple[float, float]], seeds: Sequence[int],
                epochs: dict[int, int]) -> dict[int, dict]:
    r"""Linear regression $W\in\mathbb R^{k\times d}$ (no bias, square loss) in float64.

    For every seed: one network per ``(lr, wd)`` of ``settings`` from ``nn.Linear``'s
    initialisation, and one more from $W_0=0$ at ``settings[0]``. ``epochs`` maps each batch
    size $B$ (``n`` for GD) to its number of epochs. Returns, per $B$: ``perp``
    $\|W_\perp\|$ ``(C, T)`` after every epoch (and at step 0), ``step`` ``(T,)``, ``epoch``,
    ``factor`` the applied $1-\mu\,\mathrm{wd}$ ``(C,)``, ``lr``, ``wd``, ``seed``,
    ``zero_init`` ``(C,)``, and ``steps_per_epoch``.
    """
    n, d = X.shape
    k = Y.shape[1]
    out = {}
    for B, E in tqdm(epochs.items(), desc="linear runs", disable=None):
        nets, gens, lr, wd, sd, zero = [], [], [], [], [], []
        for s in seeds:
            g = torch_generator(int(s))
            w = init_stacked_mlp(len(settings), (d, k), g, dtype=torch.float64).weights[0]
            nets.append(torch.cat([w, torch.zeros_like(w[:1])]))
            gens.append(g)
            lr += [a for a, _ in settings] + [settings[0][0]]
            wd += [b for _, b in settings] + [settings[0][1]]
            sd += [int(s)] * (len(settings) + 1)
            zero += [False] * len(settings) + [True]
        net = StackedMLP([torch.cat(nets)])
        lr_t, wd_t = torch.tensor(lr, dtype=torch.float64), torch.tensor(wd, dtype=torch.float64)
        hist = ns_mod.train_epochs(net, X, Y, lr=lr_t, wd=wd_t, batch_size=B, epochs=E,
                                   generators=gens, head=squared_error,
                                   monitor=lambda m: {"perp": ns_mod.null_norm(m.weights[0], ns)})
        out[B] = {"perp": hist["perp"], "step": hist["step"], "epoch": hist["epoch"],
                  "factor": ns_mod.applied_factor(lr_t, wd_t, len(lr), torch.float64),
                  "lr": np.asarray(lr), "wd": np.asarray(wd), "seed": np.asarray(sd),
                  "zero_init": np.asarray(zero), "steps_per_epoch": ns_mod.steps_per_epoch(n, B)}
    return out


def linear_summary(lin: dict[int, dict]) -> dict[int, dict[str, float]]:
    r"""The three measures of C1 for every batch size of :func:`linear_runs`.

    ``law``: the largest $\bigl|\,\|W_\perp(t)\|/(c^t\|W_\perp(0)\|)-1\bigr|$ over the
    networks with weight decay and a random initialisation and over the logged steps;
    ``frozen``: the largest $\bigl|\,\|W_\perp(t)\|-\|W_\perp(0)\|\,\bigr|$ of the networks
    without weight decay; ``zero``: the largest $\|W_\perp(t)\|$ of the networks started at
    $W_0=0$ (NaN where a kind of network is absent); ``steps``: the steps taken.
    """
    out = {}
    for B, r in lin.items():
        perp, rand = r["perp"], ~r["zero_init"]
        decay, frozen = rand & (r["wd"] > 0), rand & (r["wd"] == 0)
        err = ns_mod.law_error(perp[decay], r["step"], r["factor"][decay])
        out[B] = {"law": float(np.nanmax(err)) if decay.any() else float("nan"),
                  "frozen": float(np.abs(perp[frozen] - perp[frozen, :1]).max())
                  if frozen.any() else float("nan"),
                  "zero": float(perp[r["zero_init"]].max()) if r["zero_init"].any()
                  else float("nan"),
                  "steps": int(r["step"][-1])}
    return out


def per_step_rates(res: dict, idx: np.ndarray) -> np.ndarray:
    r"""The measured decay rate per step, $-\ln(\|W_\perp(T)\|/\|W_\perp(0)\|)/T$, of networks ``idx``."""
    perp = res["perp"][idx]
    return -np.log(perp[:, -1] / perp[:, 0]) / res["step"][-1]


def deep_runs(ns: NullSpace, X: torch.Tensor, y: torch.Tensor, *, widths: Sequence[int],
              settings: Sequence[tuple[float, float]], seeds: Sequence[int],
              batch_sizes: Sequence[int], epochs: int, tol: float = 1e-3,
              heads: Sequence[bool] = (True, False)) -> dict[int, dict]:
    r"""Deep ReLU MLPs with biases in float32, cross-entropy and MSE, GD or SGD at each $B$.

    For every seed, every loss head of ``heads`` (``True``: cross-entropy, ``False``: MSE on
    one-hot targets; both by default, cross-entropy first) and every ``(lr, wd)`` of
    ``settings``: one network, all of a $B$ trained together for ``epochs`` epochs. Returns,
    per $B$: ``perp`` the first layer's $\|W_\perp\|$ ``(C, T)``, ``step``, ``epoch``,
    ``factor`` (the float32 factor), ``lr``, ``wd``, ``seed``, ``ce`` (cross-entropy?)
    ``(C,)``; at the end ``rank`` (thresholded at ``tol``, :func:`relubook.core.ranks
    .thresholded_rank`) and ``stable`` (:func:`relubook.core.ranks.stable_rank`) of every
    weight matrix ``(C, L)``, and ``train_acc`` ``(C,)``.
    """
    n = X.shape[0]
    x32 = X.to(torch.float32)
    out = {}
    for B in tqdm(batch_sizes, desc="deep runs", disable=None):
        nets, gens, lr, wd, sd, ce = [], [], [], [], [], []
        for s in seeds:
            g = torch_generator(int(s))
            nets.append(init_stacked_mlp(len(heads) * len(settings), widths, g))
            gens.append(g)
            for head in heads:
                lr += [a for a, _ in settings]
                wd += [b for _, b in settings]
                ce += [bool(head)] * len(settings)
            sd += [int(s)] * (len(heads) * len(settings))
        net = _stack(nets)
        lr_t, wd_t = torch.tensor(lr), torch.tensor(wd)
        hist = ns_mod.train_epochs(net, x32, y, lr=lr_t, wd=wd_t, batch_size=B, epochs=epochs,
                                   generators=gens, head=ns_mod.mixed_head(ce),
                                   monitor=lambda m: {"perp": ns_mod.null_norm(m.weights[0], ns)})
        out[B] = {"perp": hist["perp"], "step": hist["step"], "epoch": hist["epoch"],
                  "factor": ns_mod.applied_factor(lr_t, wd_t, len(lr), torch.float32),
                  "lr": np.asarray(lr), "wd": np.asarray(wd), "seed": np.asarray(sd),
                  "ce": np.asarray(ce), "steps_per_epoch": ns_mod.steps_per_epoch(n, B),
                  "rank": np.stack([ranks.thresholded_rank(w, tol) for w in net.weights], 1),
                  "stable": np.stack([ranks.stable_rank(w) for w in net.weights], 1),
                  "train_acc": accuracy(net, x32, y)}
    return out


def noise_floor(X: torch.Tensor, Y: torch.Tensor, *, lr: float, wd: float, gd_steps: int,
                batch_size: int, epochs: int, seeds: Sequence[int]) -> dict:
    r"""Ridge regression in float64: the relative step of GD and of SGD at every step.

    One linear model per seed (``nn.Linear``'s initialisation, no bias); GD
    (:func:`relubook.topics.nullspace.gd_least_squares`) for ``gd_steps`` steps and SGD at
    ``batch_size`` for ``epochs`` epochs from the same $W_0$. Returns ``gd`` ``(S, gd_steps)``
    and ``sgd`` ``(S, epochs * ceil(n/B))``, the relative steps, and ``steps_per_epoch``.
    """
    n, d = X.shape
    k = Y.shape[1]
    w0, gens = [], []
    for s in seeds:
        g = torch_generator(int(s))
        w0.append(init_stacked_mlp(1, (d, k), g, dtype=torch.float64).weights[0])
        gens.append(g)
    W = torch.cat(w0)
    rel_gd = ns_mod.gd_least_squares(W.clone(), X, Y, lr=lr, wd=wd, steps=gd_steps)
    net = StackedMLP([W.clone()])
    prev = {"w": None}

    def monitor(m: StackedMLP) -> dict:
        w = m.weights[0]
        r = (np.full(w.shape[0], np.nan) if prev["w"] is None
             else ns_mod.relative_step([prev["w"]], [w]))
        prev["w"] = w.clone()
        return {"rel": r}

    spe = ns_mod.steps_per_epoch(n, batch_size)
    hist = ns_mod.train_epochs(net, X, Y, lr=lr, wd=wd, batch_size=batch_size, epochs=epochs,
                               generators=gens, head=squared_error, monitor=monitor,
                               log_steps=range(1, epochs * spe + 1))
    return {"gd": rel_gd, "sgd": hist["rel"][:, 1:], "steps_per_epoch": spe}

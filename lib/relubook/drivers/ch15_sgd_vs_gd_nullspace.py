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
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ..core import ranks
from ..core.mlp import StackedMLP, accuracy, init_stacked_mlp, squared_error
from ..core.random import torch_generator
from ..topics import nullspace as ns_mod
from ..topics.nullspace import NullSpace

__all__ = ["EpochRates", "HiddenRanks", "c3_glue", "deep_runs", "epoch_rates", "equal_steps_words",
           "first_layer_law", "hidden_ranks", "linear_runs", "linear_summary", "noise_floor",
           "noise_summary", "per_step_rates", "select"]


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
    r"""The measured decay rate per step, $-\ln(\|W_\perp(T)\|/\|W_\perp(0)\|)/T$, of networks
    ``idx``."""
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


@dataclass(frozen=True)
class EpochRates:
    r"""C2's measures (:func:`epoch_rates`): SGD against GD per epoch, and the per-step rates.

    ``ratio`` $\|W_\perp^{SGD}(E)\|/\|W_\perp^{GD}(E)\|$ and ``pred``
    $c^{E(\lceil n/B\rceil-1)}$ per seed; ``max_ratio``, ``max_pred``, ``max_diff`` (largest
    $|\text{ratio}-\text{pred}|$); ``rate`` the per-step decay rates of the networks with weight
    decay and a random start, per batch size; ``rate_dev`` the largest relative difference of
    an SGD rate from GD's; ``lin_dev`` $|c^E-(1-E(1-c))|$ of the first network's factor $c$;
    ``steps_per_epoch`` $\lceil n/B\rceil$ of the SGD batch.
    """

    ratio: np.ndarray
    pred: np.ndarray
    max_ratio: float
    max_pred: float
    max_diff: float
    rate: dict[int, np.ndarray]
    rate_dev: float
    lin_dev: float
    steps_per_epoch: int


def epoch_rates(lin: dict[int, dict], *, gd: int, batch: int, epochs: int,
                where: dict) -> EpochRates:
    r"""C2: SGD at ``batch`` against GD (key ``gd``) of :func:`linear_runs` after ``epochs``.

    ``where`` selects the compared networks (:func:`select`; one per seed, in the same order
    for both batch sizes). The runs must log after every epoch (index ``epochs`` of ``perp``
    is epoch ``epochs``) and hold their networks in one order for every batch size.
    """
    i_sgd, i_gd = select(lin[batch], **where), select(lin[gd], **where)
    ratio = lin[batch]["perp"][i_sgd, epochs] / lin[gd]["perp"][i_gd, epochs]
    pred = lin[gd]["factor"][i_gd] ** (epochs * (lin[batch]["steps_per_epoch"] - 1))
    decay = (lin[gd]["wd"] > 0) & ~lin[gd]["zero_init"]
    rate = {B: per_step_rates(lin[B], np.flatnonzero(decay)) for B in lin}
    rate_dev = max(float(np.max(np.abs(rate[B] / rate[gd] - 1))) for B in lin if B != gd)
    c0 = float(lin[gd]["factor"][0])
    return EpochRates(ratio=ratio, pred=pred, max_ratio=float(ratio.max()),
                      max_pred=float(pred.max()), max_diff=float(np.max(np.abs(ratio - pred))),
                      rate=rate, rate_dev=rate_dev,
                      lin_dev=abs(c0 ** epochs - (1 - epochs * (1 - c0))),
                      steps_per_epoch=lin[batch]["steps_per_epoch"])


@dataclass(frozen=True)
class HiddenRanks:
    r"""C3's measures (:func:`hidden_ranks`), on the cross-entropy networks of :func:`deep_runs`.

    A *mean hidden rank* is a network's mean over the layers ``hid``. ``d_rank``: the largest
    SGD − GD difference of the mean hidden thresholded rank over seeds and settings;
    ``r_stable``: the largest SGD / GD ratio of the mean hidden stable rank; ``sgd_hi``: SGD's
    mean hidden rank per seed at the last setting (``sgd_hi_mean`` its mean), ``gd_hi`` GD's
    mean there; ``lo_sgd``, ``lo_gd`` the same at the first setting; ``forget_lo``
    $c^t$ of SGD's factor at the first setting after its $t$ = ``sgd_steps`` steps; ``sgd_w1``
    SGD's mean rank of $W_1$ at the last setting; ``sgd_acc``, ``gd_acc`` train accuracies
    there; ``ctrl_*`` the equal-steps GD control (None where it did not run).
    """

    d_rank: float
    r_stable: float
    sgd_hi: np.ndarray
    sgd_hi_mean: float
    gd_hi: float
    lo_sgd: float
    lo_gd: float
    forget_lo: float
    sgd_w1: float
    sgd_acc: float
    gd_acc: float
    sgd_steps: int
    gd_steps: int
    ctrl_rank: float | None = None
    ctrl_stable: float | None = None
    ctrl_acc: float | None = None

    @property
    def equal_steps_gap(self) -> float | None:
        """SGD's smallest mean hidden rank over the seeds minus the control's (None: no control)."""
        return None if self.ctrl_rank is None else float(self.sgd_hi.min()) - self.ctrl_rank

    @property
    def control_text(self) -> str:
        """The control's ranks and accuracy for the claim's detail."""
        if self.ctrl_rank is None:
            return "not run at this profile"
        return (f"{self.ctrl_rank:.1f} (stable rank {self.ctrl_stable:.1f}, "
                f"train accuracy {self.ctrl_acc:.3f})")


def hidden_ranks(deep: dict[int, dict], ctrl: dict | None, *, gd: int, batch: int,
                 settings: Sequence[tuple[float, float]], hid: slice) -> HiddenRanks:
    r"""C3: the ranks of :func:`deep_runs` at GD (key ``gd``) and SGD (key ``batch``).

    ``settings`` are the runs' ``(lr, wd)`` (first: the low weight decay, last: the high one,
    where the control ran); ``hid`` the hidden-to-hidden layers; ``ctrl`` the single-network
    equal-steps GD run (cross-entropy, last setting) or None. Both runs must hold their
    networks in one order (same seeds, heads and settings).
    """
    d, s = deep[gd], deep[batch]
    ce_gd, ce_sgd = np.flatnonzero(d["ce"]), np.flatnonzero(s["ce"])
    hid_r = {B: (deep[B]["rank"][idx, hid].mean(1), deep[B]["stable"][idx, hid].mean(1))
             for B, idx in ((gd, ce_gd), (batch, ce_sgd))}
    hi, lo = settings[-1], settings[0]
    i_hi = select(s, lr=hi[0], wd=hi[1], ce=True)
    i_gd_hi = select(d, lr=hi[0], wd=hi[1], ce=True)
    i_lo = {B: select(deep[B], lr=lo[0], wd=lo[1], ce=True) for B in (gd, batch)}
    sgd_hi = s["rank"][i_hi, hid].mean(1)
    ctrl_vals = {}
    if ctrl is not None:
        ctrl_vals = {"ctrl_rank": float(ctrl["rank"][0, hid].mean()),
                     "ctrl_stable": float(ctrl["stable"][0, hid].mean()),
                     "ctrl_acc": float(ctrl["train_acc"][0])}
    return HiddenRanks(
        d_rank=float(np.max(hid_r[batch][0] - hid_r[gd][0])),
        r_stable=float(np.max(hid_r[batch][1] / hid_r[gd][1])),
        sgd_hi=sgd_hi, sgd_hi_mean=float(sgd_hi.mean()),
        gd_hi=float(d["rank"][i_gd_hi, hid].mean()),
        lo_sgd=float(s["rank"][i_lo[batch], hid].mean()),
        lo_gd=float(d["rank"][i_lo[gd], hid].mean()),
        forget_lo=float(s["factor"][i_lo[batch][0]]) ** int(s["step"][-1]),
        sgd_w1=float(s["rank"][i_hi, 0].mean()),
        sgd_acc=float(s["train_acc"][i_hi].mean()), gd_acc=float(d["train_acc"][i_gd_hi].mean()),
        sgd_steps=int(s["step"][-1]), gd_steps=int(d["step"][-1]), **ctrl_vals)


def equal_steps_words(r: HiddenRanks, refuted: bool | None) -> dict[str, str]:
    """C3's phrases about the equal-steps control: ``phrase``, ``reading``, ``summary``.

    ``refuted`` is whether the claim's refutation check passed (None where the control did not
    run; a ``ValueError`` if that disagrees with ``r``).
    """
    if (refuted is None) != (r.ctrl_rank is None):
        raise ValueError("refuted must be None exactly when the control did not run")
    if r.ctrl_rank is None:
        return {"phrase": "it runs only at the full profile",
                "reading": "Whether SGD keeps its lower rank at equal steps is decided by that "
                           "control, at the full profile.",
                "summary": "the equal-steps control runs only at the full profile"}
    phrase = (f"it reaches a mean hidden rank of {r.ctrl_rank:.1f}, against SGD's "
              f"{float(r.sgd_hi.min()):.1f} to {float(r.sgd_hi.max()):.1f} over the seeds")
    if refuted:
        return {"phrase": phrase,
                "reading": "At equal steps SGD's advantage is gone: the low rank follows the "
                           "number of steps, through the factor (1 − μ·wd)^t that forgets the "
                           "full-rank initialisation, rather than the noise of small batches, "
                           "as C2 found for the null-space component.",
                "summary": "but GD given as many steps is as low-rank or lower"}
    return {"phrase": phrase,
            "reading": "At equal steps SGD keeps a lower rank than GD: its advantage is more "
                       "than the number of steps.",
            "summary": "and GD given as many steps is not as low-rank"}


def c3_glue(r: HiddenRanks, refuted: bool | None, *, ctrl_steps: int,
            rank_x: int) -> dict[str, object]:
    """The values C3's prose glues (names ``c3_*``), with the phrases of :func:`equal_steps_words`.

    ``rank_x`` is the rank of the data, which SGD's first layer is compared with.
    """
    w = equal_steps_words(r, refuted)
    return {"c3_sgd_steps": r.sgd_steps, "c3_gd_steps": r.gd_steps, "c3_ctrl_steps": ctrl_steps,
            "c3_ctrl_phrase": w["phrase"], "c3_reading": w["reading"], "c3_summary": w["summary"],
            "c3_d_rank": r.d_rank, "c3_r_stable": r.r_stable, "c3_sgd_hi": r.sgd_hi_mean,
            "c3_lo_sgd": r.lo_sgd, "c3_lo_gd": r.lo_gd, "c3_forget_lo": r.forget_lo,
            "c3_gd_hi": r.gd_hi, "c3_sgd_w1": r.sgd_w1,
            "c3_w1_rel": "below" if r.sgd_w1 < rank_x else "not yet below",
            "c3_gd_acc": r.gd_acc, "c3_sgd_acc": r.sgd_acc}


def first_layer_law(deep: dict[int, dict], methods: Sequence[tuple[int, str]]
                    ) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    r"""C4: the largest relative deviation of the first layer's $\|W_\perp\|$ from the law.

    For every ``(B, name)`` of ``methods`` and each loss head (cross-entropy, then MSE): the
    largest deviation over networks and logged steps, with the factor the float32 step applied
    (first dict) and with the nominal $1-\mu\,\mathrm{wd}$ (second dict); keys
    ``(name, "cross-entropy" | "MSE")``.
    """
    law, nominal = {}, {}
    for B, meth in methods:
        r = deep[B]
        err = ns_mod.law_error(r["perp"], r["step"], r["factor"])
        err_nom = ns_mod.law_error(r["perp"], r["step"], 1 - r["lr"] * r["wd"])
        for ce, head in ((True, "cross-entropy"), (False, "MSE")):
            law[meth, head] = float(np.nanmax(err[r["ce"] == ce]))
            nominal[meth, head] = float(np.nanmax(err_nom[r["ce"] == ce]))
    return law, nominal


def noise_summary(nf: dict) -> dict[str, float]:
    """C4: from :func:`noise_floor`, GD's largest last relative step ``gd_last``, SGD's smallest
    (``sgd_floor``) and median (``sgd_median``) over its last epoch, and ``ratio`` floor / last."""
    last = nf["sgd"][:, -nf["steps_per_epoch"]:]
    gd_last, sgd_floor = float(nf["gd"][:, -1].max()), float(last.min())
    return {"gd_last": gd_last, "sgd_floor": sgd_floor, "sgd_median": float(np.median(last)),
            "ratio": sgd_floor / gd_last}

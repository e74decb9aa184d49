"""Low-rank bias of SGD with weight decay (Galanti et al., 2025): the unrolled step, the bound.

An SGD step with coupled weight decay on a mini-batch of size :math:`B` is

.. math::

    W_{t+1}=(1-\\mu\\,\\mathrm{wd})\\,W_t-\\mu\\,G_t,\\qquad G_t=\\nabla_W L_{\\tilde S_t}(W_t),

PyTorch's ``SGD(lr=mu, weight_decay=wd)``, the paper's step with :math:`\\lambda=\\mathrm{wd}/2`.
Each :math:`G_t` of a fully connected layer has rank :math:`\\le B`, so unrolling :math:`n`
steps writes :math:`W_T` as a decayed copy of :math:`W_{T-n}` plus a matrix of rank
:math:`\\le nB`. Notation: :math:`B` the batch size, :math:`\\mu` the learning rate,
:math:`\\lambda` the paper's weight-decay coefficient and ``wd`` :math:`=2\\lambda` PyTorch's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..core.mlp import StackedMLP, loss_and_grads, sgd_step

__all__ = [
    "linear_gradient_ranks",
    "make_torch_mlp",
    "max_gradient_ranks",
    "old_memory",
    "theorem_rank_bound",
    "unroll_identity",
]


@torch.no_grad()
def unroll_identity(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, *, layer: int, lr: float,
                    wd: float, batch_size: int, steps: int, generator: torch.Generator) -> dict:
    """Check the unrolled SGD step on one network (``net`` with $C=1$, ideally float64).

    Runs $n$ = ``steps`` SGD steps, keeps $W_{T-n}$ and the mini-batch gradients
    $G_{T-j}$ of weight ``layer``, and compares $W_T$ with

    $$(1-\\mu\\,\\mathrm{wd})^n W_{T-n}-\\mu\\sum_{j=1}^{n}(1-\\mu\\,\\mathrm{wd})^{j-1}G_{T-j}.$$

    The identity follows from the SGD step by induction; the paper states it as Lemma 3.2 of
    arXiv v7 according to a secondary summary (the lemma's text is unverified).

    Returns the relative residual, the numerical rank of the gradient sum (float64 SVD,
    rtol 1e-10), ``n*B`` and the old-memory term
    $(1-\\mu\\,\\mathrm{wd})^n\\|W_{T-n}\\|_F/\\|W_T\\|_F$.
    """
    if net.n_nets != 1:
        raise ValueError("unroll_identity works on a single network (C = 1)")
    if not 0 <= layer < len(net.weights):
        raise ValueError(f"layer must be in [0, {len(net.weights)}), got {layer}")
    w0 = net.weights[layer][0].clone()
    grads = []
    n = x.shape[0]
    lr_t = torch.tensor([lr], dtype=w0.dtype)
    wd_t = torch.tensor([wd], dtype=w0.dtype)
    for _ in range(steps):
        idx = torch.randperm(n, generator=generator)[:batch_size].unsqueeze(0)
        _, gws, gbs = loss_and_grads(net, x[idx], y[idx])
        grads.append(gws[layer][0].clone())
        sgd_step(net.params(), gws + gbs, lr_t, wd_t)
    w_t = net.weights[layer][0]
    q = 1 - lr * wd
    gsum = sum(q ** (j - 1) * grads[steps - j] for j in range(1, steps + 1))
    pred = q**steps * w0 - lr * gsum
    s = torch.linalg.svdvals(gsum.to(torch.float64))
    rank = int((s > 1e-10 * s[0]).sum()) if s[0] > 0 else 0
    return {
        "residual": float(torch.linalg.norm(w_t - pred) / torch.linalg.norm(w_t)),
        "sum_rank": rank,
        "n_times_b": steps * batch_size,
        "old_memory": float(q**steps * torch.linalg.norm(w0) / torch.linalg.norm(w_t)),
    }


def make_torch_mlp(widths: Sequence[int], batch_norm: bool = False,
                   dtype: torch.dtype = torch.float64) -> torch.nn.Sequential:
    """A plain ``torch.nn`` ReLU MLP (optionally with ``BatchNorm1d`` after each hidden layer)."""
    if len(widths) < 2:
        raise ValueError(f"widths must have at least two entries, got {list(widths)}")
    layers: list[torch.nn.Module] = []
    for l, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if l < len(widths) - 2:
            if batch_norm:
                layers.append(torch.nn.BatchNorm1d(b))
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(dtype)


def linear_gradient_ranks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                          rtol: float = 1e-10) -> list[int]:
    """Numerical rank (float64 SVD, relative tolerance ``rtol``) of the cross-entropy
    gradient of every ``nn.Linear`` weight of ``model`` on the batch ``(x, y)``."""
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    out = []
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            s = torch.linalg.svdvals(m.weight.grad.detach().to(torch.float64))
            out.append(int((s > rtol * s[0]).sum()) if s[0] > 0 else 0)
    return out


def max_gradient_ranks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                       batch_sizes: Sequence[int], n_batches: int,
                       rng: np.random.Generator) -> dict[int, np.ndarray]:
    """The largest gradient rank of every ``nn.Linear`` of ``model`` over random mini-batches.

    For each $B$ in ``batch_sizes``, ``n_batches`` batches of $B$ distinct rows of ``(x, y)``
    are drawn from ``rng`` (in that order) and :func:`linear_gradient_ranks` is taken on each.

    Returns ``{B: ranks}``, ``ranks`` an int array with one entry per linear layer.
    """
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    out = {}
    for b in batch_sizes:
        if not 1 <= b <= x.shape[0]:
            raise ValueError(f"batch sizes must be in [1, {x.shape[0]}], got {b}")
        worst = None
        for _ in range(n_batches):
            idx = torch.as_tensor(rng.choice(x.shape[0], int(b), replace=False))
            r = np.asarray(linear_gradient_ranks(model, x[idx], y[idx]))
            worst = r if worst is None else np.maximum(worst, r)
        out[int(b)] = worst
    return out


def theorem_rank_bound(batch_size: int, lr: float, weight_decay: float, eps: float,
                       uses_per_example: int = 1) -> float:
    """Galanti et al.'s bound on the $\\varepsilon$-rank of $W_T/\\|W_T\\|$ after long training,

    $$\\frac{m\\,B\\,\\log(2/\\varepsilon)}{2\\mu\\lambda}
      =\\frac{m\\,B\\,\\log(2/\\varepsilon)}{\\mu\\,\\mathrm{wd}},$$

    with PyTorch's ``weight_decay`` $\\mathrm{wd}=2\\lambda$ and $m$ = ``uses_per_example``
    (1 for a fully connected layer). ``inf`` when ``weight_decay`` is 0. The formula is
    Theorem 3.4 of arXiv v7 as reconstructed from the abstracts, a secondary summary and the
    official code: its constant and hypotheses are unverified against the paper's text.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if not 0 < eps < 2:
        raise ValueError(f"eps must be in (0, 2), got {eps}")
    if int(uses_per_example) != uses_per_example or uses_per_example < 1:
        raise ValueError(f"uses_per_example must be a positive integer, got {uses_per_example}")
    if weight_decay == 0:
        return math.inf
    return uses_per_example * batch_size * math.log(2 / eps) / (lr * weight_decay)


def old_memory(lr: float, weight_decay: float, steps: int | np.ndarray,
               norm_ratio: float | np.ndarray = 1.0) -> np.ndarray:
    """Weight of the initialisation in $W_t$: $(1-\\mu\\,\\mathrm{wd})^t\\,\\|W_0\\|/\\|W_t\\|$.

    Unrolling $t$ SGD steps gives $W_t=(1-\\mu\\,\\mathrm{wd})^tW_0-\\mu\\sum_j(\\dots)G_j$, so
    $W_t/\\|W_t\\|$ is within this distance of a matrix of rank $\\le tB$. ``norm_ratio`` is
    $\\|W_0\\|/\\|W_t\\|$.
    """
    if not 0 <= lr * weight_decay < 2:
        raise ValueError(f"need 0 <= lr*weight_decay < 2, got {lr * weight_decay}")
    steps = np.asarray(steps, dtype=float)
    if np.any(steps < 0):
        raise ValueError("steps must be >= 0")
    return np.abs(1 - lr * weight_decay) ** steps * np.asarray(norm_ratio, dtype=float)

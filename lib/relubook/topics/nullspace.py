r"""The null space of the data and the weight-decay law of SGD and GD (Xu et al., CBMM Memo 144).

Notation. The training inputs are the rows of $X\in\mathbb R^{n\times d}$; $P_X$ is the
orthogonal projector onto their span and $Q=I-P_X$ the projector onto the **null space** of
$X$. A first layer (or a linear model) $W\in\mathbb R^{d_{out}\times d}$ acts as $Wx$, and
$W_\perp=WQ$ is its null-space component.

Every data-loss gradient with respect to $W$ is $\sum_i\delta_ix_i^\top$ (any loss, depth and
batch), so $G\,Q=0$, and the coupled step $W_{t+1}=(1-\mu\,\mathrm{wd})W_t-\mu G_t$
(PyTorch's ``SGD(weight_decay=wd)``, momentum 0; :func:`relubook.core.mlp.sgd_step`) gives

.. math:: W_\perp(t)=(1-\mu\,\mathrm{wd})^t\,W_\perp(0)\quad\text{exactly.}

Per epoch SGD with batch size $B$ takes $\lceil n/B\rceil$ steps and GD one, so after $E$
epochs the factors are $(1-\mu\,\mathrm{wd})^{E\lceil n/B\rceil}$ and $(1-\mu\,\mathrm{wd})^E$.

This module holds the objects of that law: the upsampled digits whose span leaves a null
space (:func:`upsampled_digits`), the projector (:func:`null_space`), the null-space norm of
a stack of weights (:func:`null_norm`), the factor a step really applies in a given dtype
(:func:`applied_factor`), the deviation from the law (:func:`law_error`), and an epoch loop
that keeps every example of every epoch (:func:`train_epochs`, PyTorch ``DataLoader``'s
default ``drop_last=False``: $\lceil n/B\rceil$ steps, the last batch possibly smaller).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from ..core.data import digits_arrays
from ..core.mlp import (
    StackedMLP,
    cross_entropy,
    loss_and_grads,
    per_network,
    sgd_step,
    squared_error,
)

__all__ = [
    "NullSpace",
    "applied_factor",
    "gd_least_squares",
    "law_error",
    "mixed_head",
    "null_norm",
    "null_space",
    "relative_step",
    "steps_per_epoch",
    "train_epochs",
    "upsample",
    "upsampled_digits",
]


class NullSpace(NamedTuple):
    r"""The null space of a data matrix $X$ ``(n, d)``.

    ``Q`` the projector $I-P_X$ ``(d, d)``; ``row_basis`` an orthonormal basis of the span of
    the rows ``(d, r)``; ``rank`` $r$; ``singular`` the singular values of $X$ ``(min(n, d),)``;
    ``tol`` the absolute cut below which a singular value counts as zero.
    """

    Q: torch.Tensor
    row_basis: torch.Tensor
    rank: int
    singular: np.ndarray
    tol: float


def upsample(images: np.ndarray | torch.Tensor, factor: int = 2) -> torch.Tensor:
    r"""Bilinear upsampling of square images by an integer ``factor`` (float64).

    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``; a linear map of
    the pixels, so the upsampled images span a space of the same dimension as the originals.

    Shape:
        - images: ``(n, s * s)``
        - Output: ``(n, (factor s) ** 2)``
    """
    x = torch.as_tensor(np.asarray(images), dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"images must be (n, s*s), got shape {tuple(x.shape)}")
    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise ValueError(f"{x.shape[1]} pixels are not a square image")
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    up = torch.nn.functional.interpolate(x.view(-1, 1, side, side), scale_factor=int(factor),
                                         mode="bilinear", align_corners=False)
    return up.reshape(x.shape[0], -1)


def upsampled_digits(factor: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    r"""scikit-learn's 1,797 digits upsampled from 8×8 to (8·factor)², pixels over 16.

    Returns float64 inputs ``(1797, (8 factor)^2)`` in $[0, 1]$ and integer labels ``(1797,)``.
    With ``factor = 2`` every pixel is a multiple of $1/256$ (bilinear weights are multiples
    of $1/16$ and the raw pixels integers up to 16), so the inputs are exact in float32 too.
    """
    x, y = digits_arrays()
    return upsample(x, factor) / 16.0, torch.as_tensor(y)


def null_space(X: torch.Tensor | np.ndarray, rtol: float | None = None) -> NullSpace:
    r"""The projector $Q=I-P_X$ onto the null space of the rows of $X$, from a float64 SVD.

    A singular value counts as zero below ``rtol`` $\sigma_1$; by default
    ``rtol = max(n, d)`` times float64's machine epsilon (NumPy's ``matrix_rank`` rule), right
    for data that are exact in float64.
    """
    x = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    x = x.detach().to("cpu", torch.float64)
    if x.ndim != 2 or min(x.shape) == 0:
        raise ValueError(f"X must be a non-empty (n, d) matrix, got shape {tuple(x.shape)}")
    n, d = x.shape
    if rtol is None:
        rtol = max(n, d) * float(np.finfo(np.float64).eps)
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol}")
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    tol = float(rtol * s[0])
    r = int((s > tol).sum())
    basis = vh[:r].T.contiguous()
    Q = torch.eye(d, dtype=torch.float64) - basis @ basis.T
    return NullSpace(Q, basis, r, s.numpy(), tol)


def null_norm(W: torch.Tensor, ns: NullSpace) -> np.ndarray:
    r"""$\|W_\perp\|_F=\|WQ\|_F$ for every matrix of a stack, in float64.

    Computed as $\sqrt{\|W\|_F^2-\|WV_r\|_F^2}$ would lose digits when $W_\perp$ is small, so
    it is the norm of $WQ$ itself.

    Shape:
        - W: ``(..., d_out, d)``
        - Output: ``W.shape[:-2]``
    """
    w = W.detach().to("cpu", torch.float64)
    return torch.linalg.matrix_norm(w @ ns.Q).numpy()


def applied_factor(lr, wd, n: int, dtype: torch.dtype) -> np.ndarray:
    r"""The factor $1-\mu\,\mathrm{wd}$ that :func:`relubook.core.mlp.sgd_step` applies, per network.

    Measured by one step on a tensor of ones with a zero gradient, in ``dtype``, with the same
    per-network ``lr`` and ``wd`` as training; in float32 it is $1-\mu\,\mathrm{wd}$ rounded,
    which over thousands of steps differs visibly from the float64 value.

    Shape:
        - Output: ``(n,)`` float64
    """
    p = torch.ones(n, 1, 1, dtype=dtype)
    like = p.reshape(-1)
    sgd_step([p], [torch.zeros_like(p)], per_network(lr, n, like), per_network(wd, n, like))
    return p.reshape(-1).double().numpy()


def law_error(norms: np.ndarray, steps: np.ndarray, factor: np.ndarray) -> np.ndarray:
    r"""$\bigl|\,\|W_\perp(t)\|/(c^t\|W_\perp(0)\|)-1\bigr|$ at every logged step.

    ``norms`` ``(C, T)`` logged at ``steps`` ``(T,)`` (``steps[0] = 0``), ``factor`` $c$
    ``(C,)``. Networks with $W_\perp(0)=0$ give NaN (the law is $0=0$; test them apart).
    """
    norms, steps = np.asarray(norms, float), np.asarray(steps, float)
    if steps[0] != 0:
        raise ValueError("the first logged step must be 0 (the initial norm)")
    pred = norms[:, :1] * np.power(np.asarray(factor, float)[:, None], steps[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(norms / pred - 1)


def steps_per_epoch(n: int, batch_size: int) -> int:
    r"""$\lceil n/B\rceil$: the steps of one epoch that uses every example once."""
    return -(-int(n) // int(batch_size))


def mixed_head(is_ce: Sequence[bool] | torch.Tensor) -> Callable:
    r"""A loss head that is cross-entropy for the networks with ``is_ce`` and MSE for the others.

    The MSE networks fit one-hot targets (as many classes as outputs) with
    :func:`relubook.core.mlp.squared_error`; the labels ``y`` are integers for both. Returns ``head(out, y) -> (loss, delta)`` for
    :func:`relubook.core.mlp.loss_and_grads`.

    Shape:
        - out: ``(C, b, k)``; y: ``(C, b)`` or ``(b,)``
    """
    mask = torch.as_tensor(is_ce, dtype=torch.bool).reshape(-1)

    def head(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if out.shape[0] != mask.numel():
            raise ValueError(f"{out.shape[0]} networks but {mask.numel()} head flags")
        y = y.expand(out.shape[:-1])
        l_ce, d_ce = cross_entropy(out, y)
        onehot = torch.nn.functional.one_hot(y, out.shape[-1]).to(out.dtype)
        l_se, d_se = squared_error(out, onehot)
        m = mask.to(out.device)
        return torch.where(m, l_ce, l_se), torch.where(m.view(-1, 1, 1), d_ce, d_se)

    return head


@torch.no_grad()
def train_epochs(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, *, lr, wd,
                 batch_size: int, epochs: int,
                 generators: Sequence[torch.Generator] | None = None,
                 head: Callable = cross_entropy,
                 monitor: Callable[[StackedMLP], dict] | None = None,
                 log_steps: Sequence[int] = ()) -> dict[str, np.ndarray]:
    r"""Plain SGD ($B<n$) or GD ($B=n$) with coupled weight decay, in place, for ``epochs``.

    Every epoch each network reshuffles the $n$ examples (its own permutation; GD uses them
    in order) and takes $\lceil n/B\rceil$ steps, the last on the $n-B\lfloor n/B\rfloor$
    remaining examples when $B$ does not divide $n$ (``DataLoader``'s ``drop_last=False``).
    The step is :func:`relubook.core.mlp.sgd_step` on the gradients of
    :func:`relubook.core.mlp.loss_and_grads`. ``generators``: $k$ generators draw the
    permutations of $k$ equal blocks of networks (a block's batches do not depend on the
    others). ``monitor(net)`` returns a dict of per-network arrays; it is called at step 0,
    after every epoch and after every step in ``log_steps``. The result stacks its values
    along a last axis, with ``step`` the logged steps and ``epoch`` the (fractional) epochs.
    """
    n, c = x.shape[0], net.weights[0].shape[0]
    if int(batch_size) != batch_size or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in [1, {n}], got {batch_size}")
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs}")
    full = batch_size == n
    gens = list(generators or [])
    if not full and (not gens or c % len(gens)):
        raise ValueError(f"SGD needs generators that split {c} networks into equal blocks, "
                         f"got {len(gens)}")
    lr_t, wd_t = per_network(lr, c, net.weights[0]), per_network(wd, c, net.weights[0])
    spe = steps_per_epoch(n, batch_size)
    extra = {int(s) for s in log_steps}
    logs: dict[str, list] = {"step": []}

    def log(t: int) -> None:
        if monitor is None:
            return
        logs["step"].append(t)
        for k, v in monitor(net).items():
            logs.setdefault(k, []).append(np.asarray(v))

    log(0)
    t = 0
    for _ in range(int(epochs)):
        if not full:
            u = torch.cat([torch.rand(c // len(gens), n, generator=g) for g in gens])
            perm = torch.argsort(u, dim=1).to(x.device)
        for k in range(spe):
            if full:
                xb, yb = x, y
            else:
                idx = perm[:, k * batch_size:(k + 1) * batch_size]
                xb, yb = x[idx], y[idx]
            _, gws, gbs = loss_and_grads(net, xb, yb, head)
            sgd_step(net.params(), gws + gbs, lr_t, wd_t)
            t += 1
            if t in extra and k < spe - 1:
                log(t)
        log(t)
    out = {k: np.stack(v, -1) if k != "step" else np.asarray(v) for k, v in logs.items()}
    if monitor is not None:
        out["epoch"] = out["step"] / spe
    return out


def relative_step(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> np.ndarray:
    r"""$\|\theta_{t+1}-\theta_t\|/\|\theta_t\|$ per network, over all the given tensors.

    Shape:
        - before[i], after[i]: ``(C, ...)``
        - Output: ``(C,)``
    """
    num = sum(((a - b).double().flatten(1) ** 2).sum(1) for a, b in zip(after, before))
    den = sum((b.double().flatten(1) ** 2).sum(1) for b in before)
    return torch.sqrt(num / den).cpu().numpy()


@torch.no_grad()
def gd_least_squares(W: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, *, lr, wd,
                     steps: int) -> np.ndarray:
    r"""Full-batch GD on $\frac1n\sum_i\frac12\|Wx_i-y_i\|^2$ with coupled weight decay, in place.

    The gradient is $WH-C$ with $H=X^\top X/n$ and $C=Y^\top X/n$ computed once, the same
    gradient as :func:`relubook.core.mlp.squared_error`'s backward pass (up to rounding) at
    a cost independent of $n$; the step is :func:`relubook.core.mlp.sgd_step`. Returns the
    relative step $\|W_{t+1}-W_t\|_F/\|W_t\|_F$ of every step.

    Shape:
        - W: ``(C, k, d)``; X: ``(n, d)``; Y: ``(n, k)``
        - Output: ``(C, steps)``
    """
    if W.ndim != 3:
        raise ValueError(f"W must be a stack (C, k, d), got shape {tuple(W.shape)}")
    n = X.shape[0]
    H = (X.T @ X / n).to(W.dtype)
    C = (Y.T @ X / n).to(W.dtype)
    c = W.shape[0]
    lr_t, wd_t = per_network(lr, c, W), per_network(wd, c, W)
    rel = np.empty((c, int(steps)))
    for t in range(int(steps)):
        before = W.clone()
        sgd_step([W], [W @ H - C], lr_t, wd_t)
        rel[:, t] = relative_step([before], [W])
    return rel

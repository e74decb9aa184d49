"""Local (S)GD on deep ReLU networks, simulated with the K workers stacked on a tensor axis.

Deng, Kamani & Mahdavi (AISTATS 2022) study K workers sharing the objective
:math:`F(W)=\\frac1K\\sum_k f_k(W)`, :math:`f_k(W)=\\frac1{n_k}\\sum_{i\\in S_k}\\tfrac12
\\|f_W(x_i)-y_i\\|^2`. In round r every worker starts from the average :math:`\\bar W^{(r)}`,
takes H local (S)GD steps on its own :math:`f_k`, and the server averages,
:math:`\\bar W^{(r+1)}=\\frac1K\\sum_k W_k`.

Shapes. A network is a list of weight tensors ``W[l]`` of shape ``(*batch, out, in)`` (no
biases, as in the Allen-Zhu--Li--Song framework). The leading ``batch`` axes are
``(G, K)``: G independent *groups* (seeds, values of H, shardings) of K workers each, so
many runs are one tensor program. :func:`local_step` is the one step function; the
simulation (:func:`simulate`) and the ``torch.distributed`` back-end
(:mod:`relubook.topics.local_sgd_dist`, where each process holds ``(1, 1, out, in)``) both call it.

Parameterisations (``param``):

* ``"ntk"`` -- N(0, 1) weights; hidden pre-activations scaled by :math:`\\sqrt{2/\\text{fan\\_in}}`,
  the output by :math:`1/\\sqrt m` (the lazy regime the theory builds on);
* ``"standard"`` -- He initialisation N(0, 2/fan_in) for hidden layers and N(0, 1/fan_in) for
  the output, no multipliers. Both give the same function at initialisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..core import mlp
from ..core.mlp import StackedMLP
from ..core.random import numpy_rng, torch_generator

__all__ = [
    "PARAMS", "SHARDINGS", "separation", "shard", "layer_sizes", "scales", "init_params",
    "init_groups", "network", "forward", "local_step", "average_", "drift",
    "pattern_disagreement", "full_loss", "minibatch_indices", "History", "simulate", "sweep",
    "centralised_gd", "vmap_local_gd",
]

PARAMS = ("ntk", "standard")
SHARDINGS = ("iid", "sorted")


# ----------------------------------------------------------------------------- data

def separation(X: torch.Tensor) -> float:
    """:math:`\\delta=\\min_{i\\ne j}\\|x_i-x_j\\|`, the separability margin of the theory."""
    D = torch.cdist(X.double(), X.double())
    D.fill_diagonal_(float("inf"))
    return float(D.min())


def shard(X: torch.Tensor, Y: torch.Tensor, K: int, mode: str = "iid",
          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Split (X, Y) into K equal shards: ``(K, n/K, d)`` and ``(K, n/K, c)``.

    ``mode="iid"`` shuffles with ``seed`` before splitting; ``mode="sorted"`` sorts by label
    (ties in data order), so each worker sees only a few classes (heterogeneous shards).
    """
    if mode not in SHARDINGS:
        raise ValueError(f"unknown sharding {mode!r}; valid: {', '.join(SHARDINGS)}")
    n = X.shape[0]
    if not isinstance(K, int) or K < 1 or n % K:
        raise ValueError(f"K={K!r} must be a positive int dividing n={n}")
    if mode == "iid":
        order = numpy_rng(int(seed)).permutation(n)
    else:
        order = np.argsort(Y.argmax(1).numpy(), kind="stable")
    order = torch.as_tensor(order)
    return X[order].reshape(K, n // K, -1), Y[order].reshape(K, n // K, -1)


# ----------------------------------------------------------------------------- model

def layer_sizes(d: int, m: int, c: int, depth: int = 3) -> list[tuple[int, int]]:
    """``(out, in)`` of each of the ``depth`` weight matrices: d -> m -> ... -> m -> c."""
    if depth < 2:
        raise ValueError(f"depth must be >= 2 (at least one hidden layer), got {depth}")
    dims = [d] + [m] * (depth - 1) + [c]
    return [(dims[i + 1], dims[i]) for i in range(depth)]


def scales(sizes: Sequence[tuple[int, int]], param: str = "ntk") -> list[float]:
    """Forward multipliers :math:`a_l`: :math:`\\sqrt{2/\\text{fan\\_in}}` (hidden) and
    :math:`1/\\sqrt m` (output) for ``"ntk"``, all 1 for ``"standard"``."""
    if param not in PARAMS:
        raise ValueError(f"unknown parameterisation {param!r}; valid: {', '.join(PARAMS)}")
    if param == "standard":
        return [1.0] * len(sizes)
    return [math.sqrt(2.0 / fi) for _, fi in sizes[:-1]] + [1.0 / math.sqrt(sizes[-1][1])]


def init_params(sizes: Sequence[tuple[int, int]], batch: Sequence[int] = (), param: str = "ntk",
                seed: int = 0, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Initial weights, one draw per ``seed`` broadcast over the leading ``batch`` axes.

    ``"ntk"``: N(0, 1); ``"standard"``: the same draws times :math:`\\sqrt{2/\\text{fan\\_in}}`
    (hidden) and :math:`\\sqrt{1/\\text{fan\\_in}}` (output), so both compute the same
    function at initialisation. The draw is made in float64 and then cast, so float32 and
    float64 runs start from the same point.
    """
    a = scales(sizes, "ntk")
    b = scales(sizes, param)
    g = torch_generator(int(seed))
    out = []
    for (o, i), al, bl in zip(sizes, a, b):
        w = torch.randn(o, i, generator=g, dtype=torch.float64) * (al / bl)
        out.append(w.to(dtype).expand(*batch, o, i).contiguous())
    return out


def init_groups(sizes: Sequence[tuple[int, int]], seeds: Sequence[int], K: int,
                param: str = "ntk", dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Weights of shape ``(G, K, out, in)``: group g starts from the draw of ``seeds[g]``,
    identical on its K workers."""
    per = [init_params(sizes, (K,), param, s, dtype) for s in seeds]
    return [torch.stack([p[l] for p in per]) for l in range(len(sizes))]


def network(W: Sequence[torch.Tensor], a: Sequence[float]) -> StackedMLP:
    """The weights ``W`` (no biases) and multipliers ``a`` as a :class:`StackedMLP` (no copy)."""
    return StackedMLP(list(W), [], tuple(float(v) for v in a))


def forward(W: Sequence[torch.Tensor], a: Sequence[float], X: torch.Tensor) -> torch.Tensor:
    """:math:`f_W(x)=a_L W_L\\,\\sigma(a_{L-1}W_{L-1}\\cdots\\sigma(a_1W_1x))` on ``X``
    of shape ``(*batch, b, d)``; returns ``(*batch, b, c)``."""
    return mlp.forward(network(W, a), X)


def local_step(W: list[torch.Tensor], a: Sequence[float], X: torch.Tensor, Y: torch.Tensor,
               lr: float) -> torch.Tensor:
    """One local (S)GD step :math:`W\\leftarrow W-\\eta\\nabla f_k(W)` on the batch (X, Y), in
    place, for every worker along the leading axes at once, with
    :math:`f_k=\\frac1b\\sum_i\\tfrac12\\|f_W(x_i)-y_i\\|^2` and the explicit backward pass of
    :mod:`relubook.core.mlp`. Returns the pre-step losses (shape ``batch``).

    This is the one step function of both back-ends.
    """
    loss, grads, _ = mlp.loss_and_grads(network(W, a), X, Y, mlp.squared_error)
    mlp.sgd_step(W, grads, lr)
    return loss


def average_(W: list[torch.Tensor], groups: torch.Tensor | None = None) -> None:
    """Server averaging :math:`\\bar W=\\frac1K\\sum_k W_k` over axis 1 (workers), in place,
    for all groups or only the indices ``groups``."""
    K = W[0].shape[1]
    for w in W:
        if groups is None:
            w.copy_((w.sum(1, keepdim=True) / K).expand_as(w))
        else:
            sub = w[groups]
            w[groups] = (sub.sum(1, keepdim=True) / K).expand_as(sub)


# ----------------------------------------------------------------------------- diagnostics

def drift(W: Sequence[torch.Tensor]) -> torch.Tensor:
    """Relative drift :math:`\\max_{k,l}\\|W_{k,l}-\\bar W_l\\|_F/\\|\\bar W_l\\|_F`, per group
    (``W[l]`` of shape ``(G, K, out, in)``; returns shape ``(G,)``)."""
    out = None
    for w in W:
        bar = w.mean(1, keepdim=True)
        rel = (w - bar).flatten(2).norm(dim=2) / bar.flatten(2).norm(dim=2)
        m = rel.amax(1)
        out = m if out is None else torch.maximum(out, m)
    return out


def pattern_disagreement(W: Sequence[torch.Tensor], a: Sequence[float],
                         X: torch.Tensor) -> torch.Tensor:
    """Fraction of (sample, hidden unit) pairs whose ReLU pattern :math:`\\mathbf 1[z>0]`
    differs between worker k's model and the average :math:`\\bar W`, on worker k's own
    shard ``X`` of shape ``(G, K, n_k, d)``; maximum over workers, shape ``(G,)``."""
    bar = [w.mean(1, keepdim=True).expand_as(w) for w in W]
    zk = mlp.forward(network(W, a), X, keep=True)[1].pre
    zb = mlp.forward(network(bar, a), X, keep=True)[1].pre
    diff = sum(((p > 0) != (q > 0)).sum((-1, -2)) for p, q in zip(zk, zb))
    total = sum(z.shape[-1] * z.shape[-2] for z in zk)
    return (diff.to(torch.float64) / total).amax(1)


def full_loss(W: Sequence[torch.Tensor], a: Sequence[float], X: torch.Tensor,
              Y: torch.Tensor) -> torch.Tensor:
    """:math:`F=\\frac1K\\sum_k f_k` of each group's averaged model, shape ``(G,)``."""
    bar = [w.mean(1, keepdim=True) for w in W]
    out = forward(bar, a, X)
    r = out - Y
    return (0.5 * (r * r).sum((-1, -2)) / X.shape[-2]).mean(1)


# ----------------------------------------------------------------------------- simulation

def minibatch_indices(n_k: int, batch: int, steps: int, seed: int, worker: int) -> np.ndarray:
    """Indices (steps, batch) of worker ``worker``'s local mini-batches: each step draws
    ``batch`` of its ``n_k`` samples without replacement, from ``default_rng([seed, worker])``
    (the same stream in both back-ends)."""
    if not 1 <= batch <= n_k:
        raise ValueError(f"batch must be in [1, {n_k}], got {batch}")
    rng = numpy_rng(int(seed), int(worker))
    return np.stack([rng.permutation(n_k)[:batch] for _ in range(steps)])


@dataclass
class History:
    """What :func:`simulate` records, per group g (lists of length G).

    ``loss[g][r]`` is :math:`F(\\bar W^{(r)})` after r rounds (``r = 0`` is the
    initialisation); ``drift[g][r]`` and ``disagreement[g][r]`` are measured at the end of the
    local phase of round r+1, just before averaging.
    """

    H: list[int]
    seed: list[int] = field(default_factory=list)
    loss: list[list[float]] = field(default_factory=list)
    drift: list[list[float]] = field(default_factory=list)
    disagreement: list[list[float]] = field(default_factory=list)

    def pick(self, H: int) -> list[int]:
        """Indices of the groups that ran with ``H`` local steps (one per seed)."""
        out = [g for g, h in enumerate(self.H) if h == H]
        if not out:
            raise ValueError(f"no group ran with H={H}; H values: {sorted(set(self.H))}")
        return out

    def final_loss(self) -> np.ndarray:
        return np.array([l[-1] for l in self.loss])

    def loss_after_rounds(self, R: int) -> np.ndarray:
        return np.array([l[R] for l in self.loss])

    def max_drift(self) -> np.ndarray:
        return np.array([max(d) for d in self.drift])

    def max_disagreement(self) -> np.ndarray:
        return np.array([max(d) for d in self.disagreement])


def simulate(W: list[torch.Tensor], a: Sequence[float], X: torch.Tensor, Y: torch.Tensor, *,
             lr: float, H: int | Sequence[int], T: int, batch: int | None = None,
             seeds: Sequence[int] | None = None, track: bool = True) -> History:
    """Run Local (S)GD for ``T`` local steps on all groups and workers at once (in place).

    Parameters
    ----------
    W
        Weights ``(G, K, out, in)`` (from :func:`init_groups`); modified in place.
    a
        Forward multipliers (:func:`scales`).
    X, Y
        Shards ``(G, K, n_k, d)`` and ``(G, K, n_k, c)`` (a leading 1 broadcasts over groups).
    lr
        Step size :math:`\\eta`.
    H
        Local steps per round, one int or one per group; every H must divide ``T``.
    batch
        Local mini-batch size (Local SGD) or ``None`` for full local batches (Local GD).
    seeds
        Mini-batch seed of each group (Local SGD only); default 0.
    track
        Record drift and pattern disagreement before each averaging.
    """
    G, K = W[0].shape[:2]
    Hs = [int(H)] * G if isinstance(H, (int, np.integer)) else [int(h) for h in H]
    if len(Hs) != G or any(h < 1 or T % h for h in Hs):
        raise ValueError(f"H={H!r} needs one positive divisor of T={T} per group (G={G})")
    if X.shape[:2] not in ((G, K), (1, K)) or Y.shape[:-1] != X.shape[:-1]:
        raise ValueError(f"X, Y must be (G or 1, K={K}, n_k, ·), got {tuple(X.shape)}, {tuple(Y.shape)}")
    Xg, Yg = X.expand(G, *X.shape[1:]), Y.expand(G, *Y.shape[1:])
    hist = History(Hs)
    hist.loss = [[v] for v in full_loss(W, a, Xg, Yg).tolist()]
    hist.drift = [[] for _ in range(G)]
    hist.disagreement = [[] for _ in range(G)]
    idx = None
    if batch is not None:
        seeds = [0] * G if seeds is None else list(seeds)
        idx = torch.as_tensor(np.stack([
            np.stack([minibatch_indices(X.shape[2], batch, T, s, k) for k in range(K)])
            for s in seeds]))                                   # (G, K, T, batch)
    for t in range(T):
        if idx is None:
            xb, yb = Xg, Yg
        else:
            it = idx[:, :, t, :, None]
            xb = torch.take_along_dim(Xg, it, dim=2)
            yb = torch.take_along_dim(Yg, it, dim=2)
        local_step(W, a, xb, yb, lr)
        ending = [g for g in range(G) if (t + 1) % Hs[g] == 0]
        if not ending:
            continue
        sel = None if len(ending) == G else torch.tensor(ending)
        Ws = W if sel is None else [w[sel] for w in W]
        Xs, Ys = (Xg, Yg) if sel is None else (Xg[sel], Yg[sel])
        if track:
            dr, dis = drift(Ws).tolist(), pattern_disagreement(Ws, a, Xs).tolist()
        loss = full_loss(Ws, a, Xs, Ys).tolist()
        average_(W, sel)
        for j, g in enumerate(ending):
            hist.loss[g].append(loss[j])
            if track:
                hist.drift[g].append(dr[j])
                hist.disagreement[g].append(dis[j])
    return hist


def sweep(X: torch.Tensor, Y: torch.Tensor, *, width: int, Hs: Sequence[int],
          seeds: Sequence[int], K: int = 4, T: int = 256, lr: float = 20.0, param: str = "ntk",
          sharding: str = "iid", batch: int | None = None, depth: int = 3,
          track: bool = True) -> History:
    """Local (S)GD for every (seed, H) pair at once: one group per pair, batched.

    Seed s fixes the initialisation, the i.i.d. shard assignment and the mini-batches.
    ``X, Y`` are the whole data set ``(n, d)``, ``(n, c)``; the other arguments are those of
    :func:`shard`, :func:`init_groups` and :func:`simulate`. ``History.H`` and
    ``History.seed`` label the groups.
    """
    groups = [(int(h), int(s)) for s in seeds for h in Hs]
    if not groups:
        raise ValueError("sweep needs at least one H and one seed")
    shards = {s: shard(X, Y, K, sharding, s) for s in seeds}
    Xs = torch.stack([shards[s][0] for _, s in groups])
    Ys = torch.stack([shards[s][1] for _, s in groups])
    sizes = layer_sizes(X.shape[1], width, Y.shape[1], depth)
    W = init_groups(sizes, [s for _, s in groups], K, param, X.dtype)
    hist = simulate(W, scales(sizes, param), Xs, Ys, lr=lr, H=[h for h, _ in groups], T=T,
                    batch=batch, seeds=[s for _, s in groups], track=track)
    hist.seed = [s for _, s in groups]
    return hist


def centralised_gd(W: list[torch.Tensor], a: Sequence[float], X: torch.Tensor,
                   Y: torch.Tensor, lr: float, T: int) -> list[torch.Tensor]:
    """Full-batch GD on all n samples (``X`` of shape ``(n, d)``), the reference for H = 1.

    ``W`` holds unbatched ``(out, in)`` weights; returns the trained copies.
    """
    W = [w.clone() for w in W]
    for _ in range(T):
        local_step(W, a, X, Y, lr)
    return W


# ----------------------------------------------------------------------------- vmap route

def vmap_local_gd(W: Sequence[torch.Tensor], a: Sequence[float], X: torch.Tensor, Y: torch.Tensor,
                  *, lr: float, H: int, T: int) -> list[torch.Tensor]:
    """Local GD through ``torch.func``: the per-worker gradient is ``vmap(grad(loss))`` over
    the K stacked states, autograd instead of the explicit back-propagation of
    :func:`local_step`. An independent check of the simulation.

    ``W[l]`` has shape ``(K, out, in)``; ``X, Y`` shape ``(K, n_k, ·)``. Returns the final
    ``(K, out, in)`` weights (all equal after the last round).
    """
    from torch.func import grad, vmap

    def loss_fn(Ws: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r = forward(Ws, a, x) - y
        return 0.5 * (r * r).sum() / x.shape[0]

    gfn = vmap(grad(loss_fn))
    state = tuple(w.clone() for w in W)
    for t in range(T):
        g = gfn(state, X, Y)
        state = tuple(w - lr * gw for w, gw in zip(state, g))
        if (t + 1) % H == 0:
            state = tuple(v.mean(0, keepdim=True).expand_as(v) for v in state)
    return list(state)

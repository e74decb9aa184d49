"""A batch of ReLU MLPs as one set of tensors, with a hand-written backward pass.

A stack of networks shares one architecture :math:`d_0\\to d_1\\to\\dots\\to d_L`. Layer
:math:`l` has weights :math:`W_l` of shape ``(*batch, d_l, d_{l-1})`` (``torch.nn.Linear``'s
layout), optional biases :math:`b_l` of shape ``(*batch, d_l)`` and a fixed multiplier
:math:`a_l` (1 in the standard parameterisation, :math:`\\sqrt{2/d_{l-1}}` and
:math:`1/\\sqrt m` in the NTK one):

.. math:: z_l=a_l\\,W_l h_{l-1}+b_l,\\qquad h_l=\\sigma(z_l)\\ (l<L),\\qquad f(x)=z_L.

The leading ``batch`` axes index independent networks (configurations, seeds, workers), so a
sweep is one tensor program. :func:`backward` back-propagates :math:`\\delta_L=\\partial
\\mathcal L/\\partial z_L` from a loss head (:func:`cross_entropy`, :func:`squared_error`),
with :math:`\\sigma'(z)=\\mathbf 1[z>0]`; :func:`sgd_step` is PyTorch's
``SGD(lr, weight_decay=wd, momentum=0)`` step per network (coupled weight decay),

.. math:: p\\leftarrow(1-\\mu\\,\\mathrm{wd})\\,p-\\mu\\,g .

Shape:
    inputs ``(N, d_0)`` shared by all networks or ``(*batch, N, d_0)``; outputs
    ``(*batch, N, d_L)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from .init import uniform_fan_in

__all__ = [
    "StackedMLP",
    "Cache",
    "init_stacked_mlp",
    "forward",
    "backward",
    "leaky_relu",
    "cross_entropy",
    "squared_error",
    "loss_and_grads",
    "per_network",
    "sgd_step",
    "accuracy",
    "train",
]


@dataclass
class StackedMLP:
    """Parameters of a batch of ReLU MLPs.

    Parameters
    ----------
    weights
        ``weights[l]`` of shape ``(*batch, d_{l+1}, d_l)``.
    biases
        ``biases[l]`` of shape ``(*batch, d_{l+1})``, or empty for networks without biases.
    scales
        Multipliers :math:`a_l` (one float per layer), or empty for all ones.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor] = field(default_factory=list)
    scales: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("a network needs at least one layer")
        if self.biases and len(self.biases) != len(self.weights):
            raise ValueError(f"{len(self.biases)} biases for {len(self.weights)} layers")
        if self.scales and len(self.scales) != len(self.weights):
            raise ValueError(f"{len(self.scales)} scales for {len(self.weights)} layers")

    @property
    def depth(self) -> int:
        """Number of layers :math:`L` (weight matrices)."""
        return len(self.weights)

    @property
    def batch_shape(self) -> torch.Size:
        """The leading axes that index the networks."""
        return self.weights[0].shape[:-2]

    @property
    def n_nets(self) -> int:
        """Number of networks (the product of :attr:`batch_shape`)."""
        return int(np.prod(self.batch_shape, dtype=np.int64))

    def scale(self, l: int) -> float:
        return float(self.scales[l]) if self.scales else 1.0

    def params(self) -> list[torch.Tensor]:
        """Weights then biases, the order of :func:`backward`'s gradients."""
        return list(self.weights) + list(self.biases)

    def clone(self) -> "StackedMLP":
        return StackedMLP([w.clone() for w in self.weights], [b.clone() for b in self.biases],
                          self.scales)

    def select(self, idx: slice | torch.Tensor) -> "StackedMLP":
        """The networks ``idx`` of the first batch axis (views for a slice)."""
        return StackedMLP([w[idx] for w in self.weights], [b[idx] for b in self.biases],
                          self.scales)


@dataclass
class Cache:
    """What :func:`forward` keeps for :func:`backward`: the layer inputs :math:`h_{l-1}` and the
    hidden pre-activations :math:`z_l` (``l < L``)."""

    inputs: list[torch.Tensor]
    pre: list[torch.Tensor]


def init_stacked_mlp(n_nets: int, widths: Sequence[int], generator: torch.Generator,
                     dtype: torch.dtype = torch.float32,
                     device: str | torch.device = "cpu") -> StackedMLP:
    """``n_nets`` MLPs with ``nn.Linear``'s default law :math:`U(\\pm1/\\sqrt{d_{in}})`.

    ``widths`` are :math:`(d_0, d_1, \\dots, d_L)`, input to output. Each layer's weights
    and biases are one float64 draw of shape ``(n_nets, d_out, d_in + 1)`` (bias last).
    """
    if n_nets < 1:
        raise ValueError(f"n_nets must be >= 1, got {n_nets}")
    if len(widths) < 2 or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(f"widths must be at least two positive integers, got {list(widths)}")
    ws, bs = [], []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        u = uniform_fan_in((n_nets, d_out, d_in + 1), d_in, generator).to(device=device, dtype=dtype)
        ws.append(u[..., :d_in].contiguous())
        bs.append(u[..., d_in].contiguous())
    return StackedMLP(ws, bs)


def _layer(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, a: float) -> torch.Tensor:
    if h.dtype != w.dtype:                       # e.g. real features into complex weights
        h = h.to(w.dtype)
    if b is not None and a == 1.0 and h.ndim == 3 and w.ndim == 3 and h.shape[0] == w.shape[0]:
        return torch.baddbmm(b.unsqueeze(-2), h, w.transpose(-1, -2))
    z = torch.matmul(h, w.transpose(-1, -2))
    if a != 1.0:
        z = z * a
    return z if b is None else z + b.unsqueeze(-2)


def forward(net: StackedMLP, x: torch.Tensor, *,
            act: Callable[[torch.Tensor], torch.Tensor] = torch.relu,
            keep: bool = False) -> torch.Tensor | tuple[torch.Tensor, Cache]:
    """The outputs :math:`f(x)=z_L` of every network.

    Parameters
    ----------
    x
        ``(N, d_0)`` shared by all networks, or ``(*batch, N, d_0)``.
    act
        The hidden activation (ReLU; :func:`backward` assumes ReLU, autograd does not).
    keep
        Also return the :class:`Cache` for :func:`backward`.

    Shape:
        returns ``(*batch, N, d_L)``.
    """
    h, inputs, pre = x, [], []
    L = net.depth
    for l, w in enumerate(net.weights):
        if keep:
            inputs.append(h)
        z = _layer(h, w, net.biases[l] if net.biases else None, net.scale(l))
        if l < L - 1:
            if keep:
                pre.append(z)
            h = act(z)
        else:
            h = z
    return (h, Cache(inputs, pre)) if keep else h


def backward(net: StackedMLP, cache: Cache, delta: torch.Tensor,
             negative_slope: torch.Tensor | None = None
             ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Gradients of a loss from :math:`\\delta_L=\\partial\\mathcal L/\\partial z_L` (ReLU or
    leaky-ReLU nets).

    .. math:: \\nabla_{W_l}\\mathcal L=a_l\\,\\delta_l^\\top h_{l-1},\\quad
              \\nabla_{b_l}\\mathcal L=\\textstyle\\sum_n\\delta_{l,n},\\quad
              \\delta_{l-1}=a_l\\,\\delta_l W_l\\odot\\phi'_\\alpha(z_{l-1}),\\quad
              \\phi'_\\alpha(z)=\\mathbf 1[z>0]+\\alpha\\,\\mathbf 1[z\\le0].

    Parameters
    ----------
    negative_slope
        None for ReLU (:math:`\\alpha=0`), else :math:`\\alpha` per network, of the networks'
        batch shape: the backward pass of ``forward(..., act=lambda z: leaky_relu(z, alpha))``.

    Returns the weight gradients (shaped like ``net.weights``) and the bias gradients (like
    ``net.biases``; empty without biases). A shared input ``(N, d_0)`` gives first-layer
    gradients with the batch axes of ``delta``.
    """
    L = net.depth
    gws: list[torch.Tensor] = [None] * L  # type: ignore[list-item]
    gbs: list[torch.Tensor] = [None] * L if net.biases else []  # type: ignore[list-item]
    for l in range(L - 1, -1, -1):
        if net.biases:
            gbs[l] = delta.sum(-2)
        a = net.scale(l)
        if a != 1.0:
            delta = delta * a
        gws[l] = torch.matmul(delta.transpose(-1, -2), cache.inputs[l])
        if l > 0:
            z = cache.pre[l - 1]
            if negative_slope is None:
                delta = torch.matmul(delta, net.weights[l]) * (z > 0)
            else:
                slope = torch.where(z > 0, torch.ones((), dtype=z.dtype),
                                    _batch_view(negative_slope, z))
                delta = torch.matmul(delta, net.weights[l]) * slope
    return gws, gbs


def _batch_view(alpha: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``alpha`` of the networks' batch shape, viewed to broadcast against ``(*batch, N, d)``."""
    return alpha.reshape(alpha.shape + (1,) * (like.ndim - alpha.ndim))


def leaky_relu(z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    r""":math:`\phi_\alpha(z)=\max(z,\alpha z)` with one :math:`\alpha\in[0,1]` per network.

    Shape:
        ``z``: ``(*batch, N, d)``; ``alpha``: ``batch`` (the networks' batch shape).
    """
    return torch.maximum(z, _batch_view(alpha, z) * z)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of each network on its batch and :math:`\\partial\\mathcal L/\\partial z_L`.

    ``logits`` ``(*batch, N, k)`` and integer labels ``y`` ``(*batch, N)`` or ``(N,)``; returns
    the losses ``(*batch,)`` and :math:`(\\operatorname{softmax}(z)-e_y)/N`.
    """
    if y.ndim == 0 or y.shape[-1] != logits.shape[-2] or y.ndim > logits.ndim - 1:
        raise ValueError(f"labels {tuple(y.shape)} do not match logits {tuple(logits.shape)}: "
                         "need (*batch, N) or (N,) labels for (*batch, N, k) logits")
    y = y.expand(logits.shape[:-1])
    logp = torch.log_softmax(logits, -1)
    loss = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(-1)
    delta = logp.exp()
    delta.scatter_add_(-1, y.unsqueeze(-1), torch.full_like(delta[..., :1], -1.0))
    delta /= logits.shape[-2]
    return loss, delta


def squared_error(out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:math:`\\frac1N\\sum_n\\tfrac12\\|f(x_n)-y_n\\|^2` per network and its :math:`\\delta_L=r/N`."""
    if target.shape[-2:] != out.shape[-2:]:
        raise ValueError(f"targets {tuple(target.shape)} do not match outputs {tuple(out.shape)}")
    r = out - target
    n = out.shape[-2]
    return 0.5 * (r * r).sum((-1, -2)) / n, r / n


def loss_and_grads(net: StackedMLP, x: torch.Tensor, y: torch.Tensor,
                   head: Callable = cross_entropy
                   ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """The loss of each network (shape ``batch``) and its weight and bias gradients.

    The weight gradient of layer :math:`l` is :math:`a_l\\sum_n\\delta_{l,n}h_{l-1,n}^\\top`:
    a sum of :math:`N` rank-one matrices.
    """
    out, cache = forward(net, x, keep=True)
    loss, delta = head(out, y)
    gws, gbs = backward(net, cache, delta)
    return loss, gws, gbs


def per_network(v: torch.Tensor | float | Sequence[float], n: int, like: torch.Tensor) -> torch.Tensor:
    """One value, or one per network, as a tensor ``(n,)`` of ``like``'s dtype and device."""
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"need one value or one per network ({n}), got {t.numel()}")
    return t


def sgd_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
             lr: float | torch.Tensor, wd: float | torch.Tensor = 0.0) -> None:
    """In place: :math:`p\\leftarrow(1-\\mu\\,\\mathrm{wd})\\,p-\\mu\\,g` for every parameter.

    ``lr`` and ``wd`` are floats (every network alike) or tensors ``(n,)`` with one value per
    network along the first batch axis.
    """
    if not isinstance(lr, torch.Tensor) and not isinstance(wd, torch.Tensor):
        for p, g in zip(params, grads):
            if wd:
                p.mul_(1 - lr * wd)
            p.sub_(g, alpha=lr)
        return
    for p, g in zip(params, grads):
        n = p.shape[0]
        lr_t = torch.as_tensor(lr, dtype=p.dtype, device=p.device).reshape(-1).expand(n)
        wd_t = torch.as_tensor(wd, dtype=p.dtype, device=p.device).reshape(-1).expand(n)
        shape = (-1,) + (1,) * (p.ndim - 1)
        p.mul_((1 - lr_t * wd_t).view(shape)).sub_(lr_t.view(shape) * g)


@torch.no_grad()
def accuracy(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, chunk: int = 64) -> np.ndarray:
    """Accuracy of every network on ``(x, y)``, shape ``(n_nets,)`` (in chunks of networks)."""
    out = []
    for i in range(0, net.weights[0].shape[0], chunk):
        logits = forward(net.select(slice(i, i + chunk)), x)
        out.append((logits.argmax(-1) == y).float().mean(-1))
    return torch.cat(out).cpu().numpy().astype(float)


@torch.no_grad()
def train(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, *, lr, wd, batch_size: int,
          steps: int, generator: torch.Generator | Sequence[torch.Generator],
          log_every: int | None = None, head: Callable = cross_entropy,
          monitor: Callable[[int, StackedMLP], dict] | None = None) -> dict[str, np.ndarray]:
    """Mini-batch SGD on the networks of ``net`` (one batch axis), in place, for ``steps`` steps.

    Each network reshuffles the training set every epoch (its own permutation) and takes
    :math:`\\lfloor N/B\\rfloor` batches per epoch (the last, incomplete batch is dropped).
    ``lr`` and ``wd`` are one value or one per network. ``generator`` draws the permutations;
    a list of :math:`k` generators draws them for :math:`k` equal blocks of networks (so a
    block's batches do not depend on the other blocks). Every ``log_every`` steps (and at
    steps 0 and ``steps``) ``monitor(step, net)`` returns a dict of per-network arrays; the
    result stacks them along a last axis, with ``"step"`` the logged steps.
    """
    n, c = x.shape[0], net.weights[0].shape[0]
    if int(batch_size) != batch_size or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in [1, {n}], got {batch_size}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    lr_t, wd_t = per_network(lr, c, net.weights[0]), per_network(wd, c, net.weights[0])
    if torch.any(lr_t <= 0) or torch.any(wd_t < 0):
        raise ValueError("need lr > 0 and wd >= 0")
    gens = [generator] if isinstance(generator, torch.Generator) else list(generator)
    if not gens or c % len(gens):
        raise ValueError(f"{len(gens)} generators cannot split {c} networks into equal blocks")
    per_epoch = n // batch_size
    logs: dict[str, list] = {"step": []}

    def log(t: int) -> None:
        if monitor is None:
            return
        logs["step"].append(t)
        for k, v in monitor(t, net).items():
            logs.setdefault(k, []).append(np.asarray(v))

    log(0)
    perm = None
    for t in range(steps):
        k = t % per_epoch
        if k == 0:
            u = torch.cat([torch.rand(c // len(gens), n, generator=g) for g in gens])
            perm = torch.argsort(u, dim=1).to(x.device)
        idx = perm[:, k * batch_size:(k + 1) * batch_size]
        _, gws, gbs = loss_and_grads(net, x[idx], y[idx], head)
        sgd_step(net.params(), gws + gbs, lr_t, wd_t)
        if log_every and (t + 1) % log_every == 0 and t + 1 < steps:
            log(t + 1)
    log(steps)
    return {k: np.stack(v, -1) if k != "step" else np.asarray(v) for k, v in logs.items()}

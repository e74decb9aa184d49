r"""Leaky-ReLU networks of five shapes, trained as one batch, and the entropy of their layers.

Chapter 18 (Kulathunga et al., 2021) varies the slope of the leaky ReLU

.. math:: \phi_\alpha(z)=\max(z,\alpha z),\qquad 0\le\alpha\le1,

from ReLU (:math:`\alpha=0`) to the identity (:math:`\alpha=1`, a linear network), in MLPs
with three hidden layers of base width :math:`w` and one of five *shapes* (:data:`SHAPES`),
and reads the entropy of each hidden layer's outputs.

* :func:`hidden_widths` turns a shape and a base width into the three hidden widths.
* The activation with one :math:`\alpha` per network is :func:`relubook.core.mlp.leaky_relu`;
  its hand-written backward pass is ``core.mlp.backward(..., negative_slope=alpha)``.
* :func:`padded_group` puts networks of different hidden widths into one
  :class:`~relubook.core.mlp.StackedMLP` by zero-padding; :func:`train_step` is one SGD step
  of such a group. A padded unit has zero incoming and outgoing weights and bias, so its
  output :math:`\phi_\alpha(0)=0` and every gradient that reaches it are exactly zero: it
  stays zero through training and the padded networks compute what the unpadded ones would.
* :func:`histogram_entropy` (plug-in entropy of equal-width bins on each row's min–max range)
  and :func:`kde_entropy` (leave-one-out Gaussian kernel estimate of the differential entropy
  of standardised values) are the two estimators; :func:`zero_fraction` and
  :func:`dead_fraction` count ReLU's exact zeros and dead units.
* :func:`mnist1d_split` generates MNIST-1D offline with the pinned ``mnist1d`` package.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import torch

from relubook.core.data import Digits
from relubook.core.init import uniform_fan_in
from relubook.core.mlp import StackedMLP, backward, cross_entropy, forward, leaky_relu, sgd_step

__all__ = [
    "SHAPES",
    "PaddedGroup",
    "dead_fraction",
    "hidden_outputs",
    "hidden_widths",
    "histogram_entropy",
    "kde_entropy",
    "mnist1d_split",
    "padded_group",
    "train_step",
    "zero_fraction",
]

#: The five shapes: multipliers of the base width ``w`` for the three hidden layers
#: (the book's choice; the paper's exact shapes were not available).
SHAPES: dict[str, tuple[float, float, float]] = {
    "rectangle": (1.0, 1.0, 1.0),
    "expanding": (0.5, 1.0, 2.0),
    "contracting": (2.0, 1.0, 0.5),
    "diamond": (0.5, 2.0, 0.5),
    "hourglass": (2.0, 0.5, 2.0),
}


def hidden_widths(shape: str, width: int) -> tuple[int, int, int]:
    """The hidden widths :math:`(d_1,d_2,d_3)` of ``shape`` at base width ``width``.

    ``width`` must be an even integer ``>= 2`` (the shapes halve it).
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")
    if isinstance(width, bool) or int(width) != width or width < 2 or width % 2:
        raise ValueError(f"width must be an even integer >= 2, got {width!r}")
    return tuple(int(m * width) for m in SHAPES[shape])  # type: ignore[return-value]


class PaddedGroup:
    """Networks of one group, zero-padded to common hidden widths, with one α each.

    Attributes
    ----------
    net
        The :class:`StackedMLP`, batch shape ``(S, C)``: ``S`` seeds (the leading axis: the
        networks of one seed see the same mini-batches) and ``C`` configurations.
    alpha
        ``(S, C)`` leaky slopes.
    masks
        ``masks[l]`` of shape ``(C, d_l)``: 1 for the real units of hidden layer ``l``.
    configs
        The ``C`` configurations ``(shape, width, alpha)``.
    """

    def __init__(self, net: StackedMLP, alpha: torch.Tensor, masks: list[torch.Tensor],
                 configs: list[tuple[str, int, float]]):
        self.net, self.alpha, self.masks, self.configs = net, alpha, masks, configs


def padded_group(archs: Sequence[tuple[str, int]], alphas: Sequence[float], d_in: int,
                 d_out: int, rngs: Sequence[Sequence[np.random.Generator | torch.Generator]],
                 dtype: torch.dtype = torch.float32) -> PaddedGroup:
    r"""The networks ``archs`` × ``alphas`` × seeds, padded to the largest width of each layer.

    Architecture ``i`` ``(shape, width)`` of seed ``s`` is drawn once, by ``rngs[s][i]``, from
    ``nn.Linear``'s law :math:`U(\pm1/\sqrt{d_{in}})` with its real fan-in (weights and bias
    of a layer as one draw, bias last, as :func:`relubook.core.mlp.init_stacked_mlp`), then
    copied for every :math:`\alpha`: networks that differ only in :math:`\alpha` start from
    the same weights (paired comparisons). Padded rows, columns and biases are zero.

    Shape:
        weights ``(S, C, d_{l+1}, d_l)`` with ``S = len(rngs)`` and
        ``C = len(archs) * len(alphas)`` (architecture-major: configuration ``i * len(alphas)
        + j`` is architecture ``i`` with ``alphas[j]``).
    """
    if not archs or not alphas or not rngs:
        raise ValueError("need at least one architecture, one alpha and one seed")
    if any(len(r) != len(archs) for r in rngs):
        raise ValueError(f"need one generator per architecture ({len(archs)}) for every seed")
    if any(not 0.0 <= a <= 1.0 for a in alphas):
        raise ValueError(f"alphas must lie in [0, 1], got {list(alphas)}")
    hid = [hidden_widths(s, w) for s, w in archs]
    pad = [max(h[l] for h in hid) for l in range(3)]
    dims = [d_in, *pad, d_out]
    S, A = len(rngs), len(alphas)
    C = len(archs) * A
    ws = [torch.zeros(S, C, dims[l + 1], dims[l], dtype=torch.float64) for l in range(4)]
    bs = [torch.zeros(S, C, dims[l + 1], dtype=torch.float64) for l in range(4)]
    for s, row in enumerate(rngs):
        for i, (h, g) in enumerate(zip(hid, row)):
            real = [d_in, *h, d_out]
            sl = slice(i * A, (i + 1) * A)
            for l in range(4):
                u = torch.as_tensor(uniform_fan_in((real[l + 1], real[l] + 1), real[l], g))
                ws[l][s, sl, :real[l + 1], :real[l]] = u[:, :real[l]]
                bs[l][s, sl, :real[l + 1]] = u[:, real[l]]
    masks = [torch.zeros(C, pad[l], dtype=dtype) for l in range(3)]
    for i, h in enumerate(hid):
        for l in range(3):
            masks[l][i * A:(i + 1) * A, :h[l]] = 1.0
    alpha = torch.tensor([a for _ in archs for a in alphas], dtype=dtype).expand(S, C).clone()
    net = StackedMLP([w.to(dtype) for w in ws], [b.to(dtype) for b in bs])
    configs = [(s, w, float(a)) for s, w in archs for a in alphas]
    return PaddedGroup(net, alpha, masks, configs)


def train_step(group: PaddedGroup, x: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor:
    r"""One SGD step of every network of ``group`` on its seed's mini-batch; returns the losses.

    Shape:
        ``x``: ``(S, B, d_0)`` (one mini-batch per seed); ``y``: ``(S, B)``; returns ``(S, C)``.
    """
    net = group.net
    alpha = group.alpha
    out, cache = forward(net, x.unsqueeze(1), act=lambda z: leaky_relu(z, alpha), keep=True)
    loss, delta = cross_entropy(out, y.unsqueeze(1))
    gws, gbs = backward(net, cache, delta, negative_slope=alpha)
    sgd_step(net.params(), gws + gbs, lr)
    return loss


@torch.no_grad()
def hidden_outputs(group: PaddedGroup, x: torch.Tensor
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and hidden outputs :math:`h_l=\\phi_\\alpha(z_l)` of every network on ``x``.

    Shape:
        ``x``: ``(N, d_0)``; logits ``(S, C, N, d_L)``; ``h[l]``: ``(S, C, N, d_l)`` (padded
        units are exactly 0).
    """
    alpha = group.alpha
    out, cache = forward(group.net, x, act=lambda z: leaky_relu(z, alpha), keep=True)
    return out, cache.inputs[1:]


def _pool(h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten ``(*batch, N, d)`` to ``(*batch, N*d)`` values and a matching 0/1 weight."""
    w = mask.unsqueeze(-2).expand(h.shape[:-2] + h.shape[-2:])
    return h.reshape(h.shape[:-2] + (-1,)), w.reshape(h.shape[:-2] + (-1,)).to(h.dtype)


def histogram_entropy(h: torch.Tensor, mask: torch.Tensor | None = None,
                      bins: int = 50) -> torch.Tensor:
    r"""Plug-in entropy :math:`H=-\sum_b p_b\log_2p_b` (bits) of a layer's pooled outputs.

    All outputs of the layer (every input, every real unit) are pooled and cut into ``bins``
    equal bins spanning their own minimum to maximum (so :math:`H` does not change under
    :math:`h\mapsto ah+c`, :math:`a\ne0`); the maximum falls in the last bin. A layer whose
    outputs are all equal has :math:`H=0`.

    Shape:
        ``h``: ``(*batch, N, d)``; ``mask``: broadcastable to ``(*batch, d)`` (1 for real
        units), all ones when omitted; returns ``batch``.
    """
    if int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if mask is None:
        mask = torch.ones(h.shape[-1], dtype=h.dtype)
    mask = mask.expand(h.shape[:-2] + h.shape[-1:])
    v, w = _pool(h.double(), mask.double())
    big = torch.finfo(torch.float64).max
    lo = torch.where(w > 0, v, big).amin(-1, keepdim=True)
    hi = torch.where(w > 0, v, -big).amax(-1, keepdim=True)
    span = (hi - lo).clamp_min(1e-300)
    idx = ((v - lo) / span * bins).floor().clamp(0, bins - 1).long()
    counts = torch.zeros(v.shape[:-1] + (bins,), dtype=torch.float64).scatter_add_(-1, idx, w)
    p = counts / counts.sum(-1, keepdim=True)
    plogp = torch.where(p > 0, p * torch.log2(p.clamp_min(1e-300)), torch.zeros_like(p))
    return (-plogp.sum(-1)).to(h.dtype)


def kde_entropy(h: torch.Tensor, generator: torch.Generator, mask: torch.Tensor | None = None,
                n_points: int = 1000) -> torch.Tensor:
    r"""Leave-one-out Gaussian kernel estimate of the differential entropy (bits) of a layer.

    The pooled outputs (as in :func:`histogram_entropy`) are subsampled: ``n_points`` of the
    real ones, drawn without replacement by ``generator`` (the same positions for every
    network with the same number of real units; all of them when there are fewer), then
    standardised (minus their mean, over their standard deviation), and

    .. math:: \hat H=-\frac1n\sum_i\log_2\hat p_{-i}(u_i),\qquad
              \hat p_{-i}(u)=\frac1{(n-1)\,b\sqrt{2\pi}}\sum_{j\ne i}e^{-(u-u_j)^2/2b^2},

    with Silverman's bandwidth :math:`b=1.06\,n^{-1/5}` (unit variance). No bins: an exact
    zero shared by many outputs (ReLU) shows as a narrow peak of high density, hence a low
    :math:`\hat H`. Like :func:`histogram_entropy` it does not change under
    :math:`h\mapsto ah+c`. A layer whose outputs are all equal gets
    :math:`\log_2(b\sqrt{2\pi})` (the kernel's own entropy minus :math:`\tfrac12\log_2e`).

    Shape:
        ``h``: ``(*batch, N, d)``; ``mask`` as in :func:`histogram_entropy`; returns ``batch``.
    """
    if int(n_points) != n_points or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    if mask is None:
        mask = torch.ones(h.shape[-1], dtype=h.dtype)
    mask = mask.expand(h.shape[:-2] + h.shape[-1:])
    v, w = _pool(h.double(), mask.double())
    n_real = w.sum(-1).long()
    order = torch.argsort(-w, dim=-1, stable=True)   # real values first, in their order
    v = torch.gather(v, -1, order)
    flat_v, flat_n = v.reshape(-1, v.shape[-1]), n_real.reshape(-1)
    flat_out = torch.empty(flat_n.shape, dtype=torch.float64)
    for m in torch.unique(flat_n).tolist():
        rows = torch.nonzero(flat_n == m).squeeze(-1)
        n = min(int(n_points), m)
        pick = torch.randperm(m, generator=generator)[:n]
        vals = flat_v[rows][:, pick]
        sd = vals.std(-1, keepdim=True)
        u = torch.where(sd > 0, (vals - vals.mean(-1, keepdim=True)) / sd.clamp_min(1e-300),
                        torch.zeros_like(vals))
        bw = 1.06 * n ** -0.2
        chunk = max(1, 2_000_000 // (n * n))             # rows per (rows, n, n) kernel block
        for i in range(0, len(rows), chunk):
            ui = u[i:i + chunk]
            e = -0.5 * ((ui.unsqueeze(-1) - ui.unsqueeze(-2)) / bw) ** 2
            e.diagonal(dim1=-2, dim2=-1).fill_(-math.inf)      # leave one out
            log_dens = torch.logsumexp(e, -1) - math.log((n - 1) * bw * math.sqrt(2 * math.pi))
            flat_out[rows[i:i + chunk]] = -log_dens.mean(-1) / math.log(2)
    return flat_out.reshape(n_real.shape).to(h.dtype)


def zero_fraction(h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of a layer's pooled real outputs that are exactly 0; shape ``batch``."""
    if mask is None:
        mask = torch.ones(h.shape[-1], dtype=h.dtype)
    mask = mask.expand(h.shape[:-2] + h.shape[-1:]).to(h.dtype)
    zeros = ((h == 0).to(h.dtype) * mask.unsqueeze(-2)).sum((-1, -2))
    return zeros / (mask.sum(-1) * h.shape[-2])


def dead_fraction(h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of a layer's real units whose output is 0 on every input; shape ``batch``."""
    if mask is None:
        mask = torch.ones(h.shape[-1], dtype=h.dtype)
    mask = mask.expand(h.shape[:-2] + h.shape[-1:]).to(h.dtype)
    dead = (h == 0).all(-2).to(h.dtype) * mask
    return dead.sum(-1) / mask.sum(-1)


def mnist1d_split(dtype: torch.dtype = torch.float32, num_samples: int = 5000,
                  data_seed: int = 42) -> Digits:
    """MNIST-1D generated offline by the pinned ``mnist1d`` package (never its download path).

    ``mnist1d.data.make_dataset(get_dataset_args())`` with ``num_samples`` sequences of
    length 40 (the package's defaults: 5000, of which 4000 train and 1000 test, data seed 42).
    The package seeds Python's and NumPy's global generators; their states are restored
    afterwards, so the call leaves no trace on global random state. Returns the split as a
    :class:`relubook.core.data.Digits` (inputs ``(N, 40)``, labels ``(N,)``).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:  # pragma: no cover
        raise ImportError("MNIST-1D needs the mnist1d package: pip install mnist1d==0.0.2.post1"
                          ) from e
    args = get_dataset_args()
    args.num_samples, args.seed = int(num_samples), int(data_seed)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)

    def t(a, dt):
        return torch.as_tensor(np.asarray(a), dtype=dt)

    return Digits(t(d["x"], dtype), t(d["y"], torch.long), t(d["x_test"], dtype),
                  t(d["y_test"], torch.long))

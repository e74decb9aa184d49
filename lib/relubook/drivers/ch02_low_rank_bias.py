"""Chapter 2's driver: grids of small ReLU MLPs trained by SGD with weight decay, in one program.

Every (seed, (lr, wd)) pair of a grid is one network of a :class:`relubook.core.mlp.StackedMLP`;
the networks of one batch size :math:`B` train together (:func:`relubook.core.mlp.train`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..core.data import Digits
from ..core.mlp import StackedMLP, accuracy, init_stacked_mlp, train
from ..core.random import torch_generator
from ..core.ranks import normalised_spectrum

__all__ = ["train_grid"]


def train_grid(data: Digits, widths: Sequence[int], settings: Sequence[tuple[float, float]], *,
               seeds: Sequence[int], batch_size: int, steps: int, log_every: int,
               hidden: Sequence[int] = (1, 2, 3)) -> dict:
    """Train one network per (seed, (lr, wd)) pair at batch size $B$, all in one tensor program.

    Network ``i * len(settings) + j`` has seed ``seeds[i]`` (its initialisation and batch
    order come from ``torch.Generator().manual_seed(seeds[i])``, so they do not depend on the
    other seeds or on the grid's size beyond ``settings``) and ``(lr, wd) = settings[j]``.
    Every ``log_every`` steps the normalised singular values of the weights ``hidden`` and
    their Frobenius norms are recorded.

    Returns a dict of arrays: ``lr``, ``wd``, ``seed`` ``(C,)``; ``step`` ``(T,)``;
    ``spectrum`` ``(C, L, k, T)``; ``fro`` ``(C, L, T)``; ``train_acc``, ``test_acc`` ``(C,)``;
    and ``net``, the trained :class:`StackedMLP`.
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
            "test_acc": accuracy(net, data.x_test, data.y_test), "net": net}

"""Initialising deep fixed-width ReLU networks: He versus "convergent" (near-identity) weights.

Xu & Zhang (2024) suggest their convergence conditions (:math:`W_k\\to I`, :math:`b_k\\to0`,
summably) for initialising deep networks. Three initialisations of the square layers
:math:`W_k\\in\\mathbb R^{m\\times m}`, :math:`k=1,\\dots,L`, all with :math:`b_k=0`:

* ``he``: :math:`W_k` with i.i.d. :math:`\\mathcal N(0, 2/m)` entries (He et al., 2015);
* ``convergent``: :math:`W_k=I+G_k/(\\sqrt m\\,k^2)`, summable perturbations of the identity;
* ``identity_noise``: :math:`W_k=I+0.1\\,G_k/\\sqrt m`, a perturbation that does not decay.

:math:`G_k` has i.i.d. standard Gaussian entries. The statistic studied at initialisation is
:math:`z=\\log(\\|\\mathcal N_L(x)\\|/\\|\\sigma(x)\\|)` for Gaussian inputs :math:`x`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core.data import Digits
from ..core.random import numpy_rng

__all__ = ["INITS", "square_layer", "log_norm_ratio", "train_deep_mlps"]

#: The initialisations compared.
INITS = ("he", "convergent", "identity_noise")


def square_layer(kind: str, k: int, m: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of the weight :math:`W_k` (``k`` is 1-based) of initialisation ``kind``.

    Returns ``(size, m, m)`` float64.
    """
    if kind not in INITS:
        raise ValueError(f"unknown initialisation {kind!r}; valid: {', '.join(INITS)}")
    if k < 1 or m < 1 or size < 1:
        raise ValueError(f"k, m and size must be positive, got k={k}, m={m}, size={size}")
    G = rng.standard_normal((size, m, m))
    if kind == "he":
        return G * np.sqrt(2.0 / m)
    scale = 1.0 / (np.sqrt(m) * k**2) if kind == "convergent" else 0.1 / np.sqrt(m)
    return np.eye(m) + scale * G


def log_norm_ratio(kind: str, m: int, depths: Sequence[int], draws: int,
                   rng: np.random.Generator) -> np.ndarray:
    """The log output norm :math:`z` at each depth ``L`` of ``depths``.

    :math:`z=\\log(\\|\\mathcal N_L(x)\\|_2/\\|\\sigma(x)\\|_2)`.

    ``draws`` independent networks (biases zero), each with its own Gaussian input, run as one
    batched product; depths are read off one pass (the networks are nested). A network whose
    output is exactly zero gives :math:`z=-\\infty` (counted by the caller, never dropped).

    Returns ``(len(depths), draws)``.
    """
    depths = [int(d) for d in depths]
    if not depths or min(depths) < 1 or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be distinct positive integers, got {depths}")
    if draws < 1:
        raise ValueError(f"draws must be positive, got {draws}")
    x = rng.standard_normal((draws, m, 1))
    ref = np.linalg.norm(np.maximum(x, 0.0), axis=(1, 2))
    y = x
    out = np.empty((len(depths), draws))
    want = {d: i for i, d in enumerate(depths)}
    with np.errstate(divide="ignore"):
        for k in range(1, max(depths) + 1):
            y = np.maximum(square_layer(kind, k, m, draws, rng) @ y, 0.0)
            if k in want:
                out[want[k]] = np.log(np.linalg.norm(y, axis=(1, 2)) / ref)
    return out


def train_deep_mlps(data: Digits, *, inits: Sequence[str], depth: int, width: int,
                    seeds: Sequence[int], steps: int, batch_size: int, lr: float,
                    eval_every: int) -> dict:
    """Train deep ReLU MLPs, one per (initialisation, seed), as one batched program (float32).

    Architecture: input layer :math:`\\mathbb R^{d}\\to\\mathbb R^m` (He), ``depth`` square
    ReLU layers initialised by ``init`` (biases zero), linear read-out to the classes
    (entries :math:`\\mathcal N(0, 1/m)`), as a :class:`relubook.core.mlp.StackedMLP`. Adam
    (:func:`relubook.core.training.adam`) on the cross-entropy; every network sees the same
    mini-batches (drawn from ``seeds[0]``); the networks are independent (the summed loss
    separates). Tensors live on the device of ``data``.

    Returns
    -------
    ``{"inits", "seeds", "steps", "loss" (B, steps), "eval_steps", "test_acc" (B, E),
    "train_acc" (B, E)}`` with ``B = len(inits) * len(seeds)`` ordered init-major.
    """
    import torch

    from ..core import mlp, training

    if depth < 1 or width < 1 or steps < 1 or batch_size < 1 or eval_every < 1 or lr <= 0:
        raise ValueError("depth, width, steps, batch_size, eval_every and lr must be positive")
    for kd in inits:
        if kd not in INITS:
            raise ValueError(f"unknown initialisation {kd!r}; valid: {', '.join(INITS)}")
    Xt, yt, Xv, yv = data.x_train, data.y_train, data.x_test, data.y_test
    dev = Xt.device
    d, m = Xt.shape[1], width
    classes = int(max(int(yt.max()), int(yv.max()))) + 1
    nets = [(kd, s) for kd in inits for s in seeds]
    B = len(nets)

    def param(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32, device=dev).requires_grad_(True)

    w_in, ws, w_out = [], [[] for _ in range(depth)], []
    for kd, s in nets:
        rng = numpy_rng(int(s), INITS.index(kd), depth)
        w_in.append(rng.standard_normal((m, d)) * np.sqrt(2.0 / d))
        for k in range(depth):
            ws[k].append(square_layer(kd, k + 1, m, 1, rng)[0])
        w_out.append(rng.standard_normal((classes, m)) / np.sqrt(m))
    weights = [param(np.stack(w_in))] + [param(np.stack(w)) for w in ws] + [param(np.stack(w_out))]
    biases = [param(np.zeros((B, w.shape[1]))) for w in weights]
    net = mlp.StackedMLP(weights, biases)

    order = numpy_rng(int(seeds[0]) if len(seeds) else 0)
    loss_hist = np.empty((B, steps))
    ev_steps, test_acc, train_acc = [], [], []
    state = {"perm": order.permutation(len(Xt)), "pos": 0}

    def accuracy(xx: torch.Tensor, yy: torch.Tensor) -> np.ndarray:
        return (mlp.forward(net, xx).argmax(-1) == yy).float().mean(-1).cpu().numpy()

    def losses(t: int):
        if state["pos"] + batch_size > len(Xt):
            state["perm"], state["pos"] = order.permutation(len(Xt)), 0
        idx = torch.as_tensor(state["perm"][state["pos"]:state["pos"] + batch_size], device=dev)
        state["pos"] += batch_size
        out = mlp.forward(net, Xt[idx])
        per_net = torch.nn.functional.cross_entropy(
            out.reshape(-1, classes), yt[idx].repeat(B), reduction="none").reshape(B, -1).mean(1)
        return per_net, None

    def record(t: int, per_net: torch.Tensor, _aux) -> None:
        loss_hist[:, t] = per_net.cpu().numpy()

    def after(t: int) -> None:
        if (t + 1) % eval_every == 0 or t + 1 == steps:
            with torch.no_grad():
                ev_steps.append(t + 1)
                test_acc.append(accuracy(Xv, yv))
                train_acc.append(accuracy(Xt, yt))

    training.adam(net.params(), losses, steps, lr, record=record, after=after)
    return {"inits": [kd for kd, _ in nets], "seeds": [s for _, s in nets], "steps": steps,
            "loss": loss_hist, "eval_steps": np.array(ev_steps),
            "test_acc": np.stack(test_acc, 1), "train_acc": np.stack(train_acc, 1)}

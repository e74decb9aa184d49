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

KINDS = ("he", "convergent", "identity_noise")


def square_layer(kind: str, k: int, m: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws of the weight :math:`W_k` (``k`` is 1-based) of initialisation ``kind``.

    Returns ``(size, m, m)`` float64.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown initialisation {kind!r}; valid: {', '.join(KINDS)}")
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


def train_deep_mlps(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                    kinds: Sequence[str], depth: int, width: int, seeds: Sequence[int],
                    steps: int, batch: int, lr: float, eval_every: int,
                    device: "torch.device | str" = "cpu") -> dict:  # noqa: F821
    """Train deep ReLU MLPs, one per (kind, seed), as one batched PyTorch program (float32).

    Architecture: input layer :math:`\\mathbb R^{d}\\to\\mathbb R^m` (He), ``depth`` square
    ReLU layers initialised by ``kind`` (biases zero), linear read-out to the classes
    (entries :math:`\\mathcal N(0, 1/m)`). Adam on the cross-entropy; every network sees the
    same minibatches; the networks are independent (the summed loss separates).

    Returns
    -------
    ``{"kinds", "seeds", "steps", "loss" (B, steps), "eval_steps", "test_acc" (B, E),
    "train_acc" (B, E)}`` with ``B = len(kinds) * len(seeds)`` ordered kind-major.
    """
    import torch

    if depth < 1 or width < 1 or steps < 1 or batch < 1 or eval_every < 1 or lr <= 0:
        raise ValueError("depth, width, steps, batch, eval_every and lr must be positive")
    for kd in kinds:
        if kd not in KINDS:
            raise ValueError(f"unknown initialisation {kd!r}; valid: {', '.join(KINDS)}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be (N, d) with len(y) rows, got {X.shape} and {len(y)}")
    dev = torch.device(device)
    d, m = X.shape[1], width
    classes = int(max(np.max(y), np.max(y_test))) + 1
    nets = [(kd, s) for kd in kinds for s in seeds]
    B = len(nets)

    def param(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32, device=dev).requires_grad_(True)

    w_in, ws, w_out = [], [[] for _ in range(depth)], []
    for kd, s in nets:
        rng = np.random.default_rng((int(s), KINDS.index(kd), depth))
        w_in.append(rng.standard_normal((m, d)) * np.sqrt(2.0 / d))
        for k in range(depth):
            ws[k].append(square_layer(kd, k + 1, m, 1, rng)[0])
        w_out.append(rng.standard_normal((classes, m)) / np.sqrt(m))
    W_in, b_in = param(np.stack(w_in)), param(np.zeros((B, 1, m)))
    Ws = [param(np.stack(w)) for w in ws]
    bs = [param(np.zeros((B, 1, m))) for _ in range(depth)]
    W_out, b_out = param(np.stack(w_out)), param(np.zeros((B, 1, classes)))
    params = [W_in, b_in, *Ws, *bs, W_out, b_out]
    opt = torch.optim.Adam(params, lr=lr)

    def logits(xb: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.matmul(xb, W_in.transpose(1, 2)) + b_in)        # (B, n, m)
        for Wk, bk in zip(Ws, bs):
            h = torch.relu(torch.baddbmm(bk, h, Wk.transpose(1, 2)))
        return torch.baddbmm(b_out, h, W_out.transpose(1, 2))                 # (B, n, C)

    Xt = torch.tensor(X, dtype=torch.float32, device=dev)
    yt = torch.tensor(np.asarray(y), dtype=torch.long, device=dev)
    Xv = torch.tensor(np.asarray(X_test), dtype=torch.float32, device=dev)
    yv = torch.tensor(np.asarray(y_test), dtype=torch.long, device=dev)

    def accuracy(xx: torch.Tensor, yy: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return (logits(xx).argmax(-1) == yy).float().mean(-1).cpu().numpy()

    order = np.random.default_rng(int(seeds[0]) if len(seeds) else 0)
    loss_hist = np.empty((B, steps))
    ev_steps, test_acc, train_acc = [], [], []
    perm, pos = order.permutation(len(X)), 0
    for t in range(steps):
        if pos + batch > len(X):
            perm, pos = order.permutation(len(X)), 0
        idx = torch.as_tensor(perm[pos:pos + batch], device=dev)
        pos += batch
        out = logits(Xt[idx])
        per_net = torch.nn.functional.cross_entropy(
            out.reshape(-1, classes), yt[idx].repeat(B), reduction="none").reshape(B, -1).mean(1)
        opt.zero_grad(set_to_none=True)
        per_net.sum().backward()
        opt.step()
        loss_hist[:, t] = per_net.detach().cpu().numpy()
        if (t + 1) % eval_every == 0 or t + 1 == steps:
            ev_steps.append(t + 1)
            test_acc.append(accuracy(Xv, yv))
            train_acc.append(accuracy(Xt, yt))
    return {"kinds": [kd for kd, _ in nets], "seeds": [s for _, s in nets], "steps": steps,
            "loss": loss_hist, "eval_steps": np.array(ev_steps),
            "test_acc": np.stack(test_acc, 1), "train_acc": np.stack(train_acc, 1)}

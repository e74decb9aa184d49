"""Many small ReLU MLPs trained at once by plain SGD with per-network hyper-parameters.

A stack of $C$ networks is one set of tensors: weights $W_l$ of shape ``(C, d_l, d_{l-1})``
and biases $b_l$ of shape ``(C, d_l)``. Network $c$ has its own learning rate $\\mu_c$,
weight decay $\\mathrm{wd}_c$, initialisation and mini-batch order; one step is a few
``torch.bmm`` calls with a hand-written backward pass (no autograd graph). The SGD step is
PyTorch's ``SGD(lr=mu, weight_decay=wd, momentum=0)``,

$$W_{t+1}=(1-\\mu\\,\\mathrm{wd})\\,W_t-\\mu\\,G_t,\\qquad G_t=\\nabla_W L_{\\tilde S_t}(W_t),$$

i.e. the paper's step with $\\lambda=\\mathrm{wd}/2$. Networks sharing a batch size $B$ are
trained together; different $B$ go in separate calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Digits",
    "load_digits_split",
    "StackedMLP",
    "init_stacked_mlp",
    "forward",
    "loss_and_grads",
    "sgd_step",
    "accuracy",
    "train",
    "unroll_identity",
    "make_torch_mlp",
    "linear_gradient_ranks",
]


@dataclass(frozen=True)
class Digits:
    """scikit-learn's 8x8 digits, standardised with the training statistics."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(n_test: int = 360, split_seed: int = 0, dtype: torch.dtype = torch.float32,
                      device: str | torch.device = "cpu") -> Digits:
    """The 1,797 digits split into ``1797 - n_test`` training and ``n_test`` test images.

    Pixels are standardised with the training mean and standard deviation (plus 1e-6, since
    some pixels are always blank). The split depends on ``split_seed`` only.
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}), got {n_test}")
    perm = np.random.default_rng(split_seed).permutation(len(y))
    tr, te = perm[n_test:], perm[:n_test]
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    x = (x - mu) / sd

    def t(a: np.ndarray, dt: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dt, device=device)

    return Digits(t(x[tr], dtype), t(y[tr], torch.long), t(x[te], dtype), t(y[te], torch.long))


@dataclass
class StackedMLP:
    """Parameters of $C$ ReLU MLPs: ``weights[l]`` is ``(C, d_{l+1}, d_l)``, ``biases[l]`` ``(C, d_{l+1})``."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor] = field(default_factory=list)

    @property
    def n_configs(self) -> int:
        return self.weights[0].shape[0]

    def clone(self) -> "StackedMLP":
        return StackedMLP([w.clone() for w in self.weights], [b.clone() for b in self.biases])


def init_stacked_mlp(n_configs: int, widths: Sequence[int], generator: torch.Generator,
                     dtype: torch.dtype = torch.float32,
                     device: str | torch.device = "cpu") -> StackedMLP:
    """$C$ MLPs with ``nn.Linear``'s default initialisation, $U(-1/\\sqrt{d_{in}}, 1/\\sqrt{d_{in}})$.

    ``widths`` are $(d_0, d_1, \\dots, d_L)$, input to output.
    """
    if n_configs < 1:
        raise ValueError(f"n_configs must be >= 1, got {n_configs}")
    if len(widths) < 2 or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(f"widths must be at least two positive integers, got {list(widths)}")
    ws, bs = [], []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        bound = 1 / np.sqrt(d_in)
        u = torch.rand(n_configs, d_out, d_in + 1, generator=generator, dtype=torch.float64)
        u = ((2 * u - 1) * bound).to(device=device, dtype=dtype)
        ws.append(u[..., :d_in].contiguous())
        bs.append(u[..., d_in].contiguous())
    return StackedMLP(ws, bs)


def forward(net: StackedMLP, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits ``(C, N, d_L)`` of inputs ``x`` (``(N, d_0)`` shared or ``(C, N, d_0)``), and the
    pre-activations $z_l$ (kept for the backward pass)."""
    h = x.expand(net.n_configs, *x.shape) if x.ndim == 2 else x
    zs = []
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        zs.append(z)
        h = torch.relu(z) if l < len(net.weights) - 1 else z
    return h, zs


def loss_and_grads(net: StackedMLP, x: torch.Tensor, y: torch.Tensor
                   ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Mean cross-entropy of each network on its batch, and its gradients.

    ``x`` is ``(C, B, d_0)`` and ``y`` ``(C, B)`` (each network its own batch). Returns the
    losses ``(C,)`` and the gradients, shaped like ``net.weights`` and ``net.biases``. The
    weight gradient of layer $l$ is $\\frac1B\\sum_i\\delta_i f_i^\\top$: rank $\\le B$ (claim C1).
    """
    if x.ndim != 3 or y.shape != x.shape[:2]:
        raise ValueError(f"need x (C, B, d) and y (C, B), got {tuple(x.shape)} and {tuple(y.shape)}")
    logits, zs = forward(net, x)
    n_b = x.shape[1]
    logp = torch.log_softmax(logits, -1)
    loss = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(-1)
    delta = logp.exp()
    delta.scatter_add_(-1, y.unsqueeze(-1), torch.full_like(delta[..., :1], -1.0))
    delta /= n_b
    gws: list[torch.Tensor] = [None] * len(net.weights)  # type: ignore[list-item]
    gbs: list[torch.Tensor] = [None] * len(net.weights)  # type: ignore[list-item]
    for l in range(len(net.weights) - 1, -1, -1):
        h_prev = x if l == 0 else torch.relu(zs[l - 1])
        gws[l] = torch.bmm(delta.transpose(1, 2), h_prev)
        gbs[l] = delta.sum(1)
        if l > 0:
            delta = torch.bmm(delta, net.weights[l]) * (zs[l - 1] > 0)
    return loss, gws, gbs


def _per_config(v: torch.Tensor | float | Sequence[float], n: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"need one value or one per network ({n}), got {t.numel()}")
    return t


def sgd_step(net: StackedMLP, gws: list[torch.Tensor], gbs: list[torch.Tensor],
             lr: torch.Tensor, wd: torch.Tensor) -> None:
    """In place: $p\\leftarrow(1-\\mu_c\\mathrm{wd}_c)\\,p-\\mu_c\\,g$ for every parameter (biases included)."""
    decay = 1 - lr * wd
    for p, g in zip(net.weights + net.biases, gws + gbs):
        shape = (-1,) + (1,) * (p.ndim - 1)
        p.mul_(decay.view(shape)).sub_(lr.view(shape) * g)


@torch.no_grad()
def accuracy(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, chunk: int = 64) -> np.ndarray:
    """Accuracy ``(C,)`` of every network on ``(x, y)`` (computed in chunks of networks)."""
    out = []
    for i in range(0, net.n_configs, chunk):
        sub = StackedMLP([w[i:i + chunk] for w in net.weights], [b[i:i + chunk] for b in net.biases])
        logits, _ = forward(sub, x)
        out.append((logits.argmax(-1) == y).float().mean(-1))
    return torch.cat(out).cpu().numpy().astype(float)


@torch.no_grad()
def train(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, *, lr, wd, batch_size: int,
          steps: int, generator: torch.Generator | Sequence[torch.Generator],
          log_every: int | None = None,
          monitor: Callable[[int, StackedMLP], dict] | None = None) -> dict[str, np.ndarray]:
    """Train the $C$ networks of ``net`` in place for ``steps`` SGD steps of batch size $B$.

    Each network reshuffles the training set every epoch (its own permutation) and takes
    $\\lfloor N/B\\rfloor$ batches per epoch (the last, incomplete batch is dropped). ``lr``
    and ``wd`` are one value or one per network. ``generator`` draws the permutations; a
    list of $k$ generators draws them for $k$ equal blocks of networks (so a block's
    batches do not depend on the other blocks). Every ``log_every`` steps (and at steps 0
    and ``steps``) ``monitor(step, net)`` returns a dict of per-network arrays; the result
    stacks them along a last axis, with ``"step"`` the logged steps.
    """
    n, c = x.shape[0], net.n_configs
    if int(batch_size) != batch_size or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer in [1, {n}], got {batch_size}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    lr_t, wd_t = _per_config(lr, c, net.weights[0]), _per_config(wd, c, net.weights[0])
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
        _, gws, gbs = loss_and_grads(net, x[idx], y[idx])
        sgd_step(net, gws, gbs, lr_t, wd_t)
        if log_every and (t + 1) % log_every == 0 and t + 1 < steps:
            log(t + 1)
    log(steps)
    return {k: np.stack(v, -1) if k != "step" else np.asarray(v) for k, v in logs.items()}


@torch.no_grad()
def unroll_identity(net: StackedMLP, x: torch.Tensor, y: torch.Tensor, *, layer: int, lr: float,
                    wd: float, batch_size: int, steps: int, generator: torch.Generator) -> dict:
    """Check the unrolled SGD step on one network (``net`` with $C=1$, ideally float64).

    Runs $n$ = ``steps`` SGD steps, keeps $W_{T-n}$ and the mini-batch gradients
    $G_{T-j}$ of weight ``layer``, and compares $W_T$ with

    $$(1-\\mu\\,\\mathrm{wd})^n W_{T-n}-\\mu\\sum_{j=1}^{n}(1-\\mu\\,\\mathrm{wd})^{j-1}G_{T-j}.$$

    Returns the relative residual, the numerical rank of the gradient sum (float64 SVD,
    rtol 1e-10), ``n*B`` and the old-memory term $(1-\\mu\\,\\mathrm{wd})^n\\|W_{T-n}\\|_F/\\|W_T\\|_F$.
    """
    if net.n_configs != 1:
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
        sgd_step(net, gws, gbs, lr_t, wd_t)
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
        g = torch.Generator().manual_seed(int(s))
        nets.append(init_stacked_mlp(len(settings), widths, g, device=data.x_train.device))
        gens.append(g)
    net = StackedMLP([torch.cat(ws) for ws in zip(*(n.weights for n in nets))],
                     [torch.cat(bs) for bs in zip(*(n.biases for n in nets))])
    lr = np.tile([float(a) for a, _ in settings], len(seeds))
    wd = np.tile([float(b) for _, b in settings], len(seeds))

    def monitor(t: int, net: StackedMLP) -> dict:
        from .ranks import normalised_spectrum

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

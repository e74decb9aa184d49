"""The INR chapter's experiments: every model of a task trained on one budget, scored once.

A *task* is an image (the truth), its data (the truth seen through a forward operator) and
that operator: ``representation`` (identity), ``ct`` (Radon transform, few angles) or ``sr``
(×4 box average). :func:`compare` trains BW-ReLU (one batched run over its c values) and each
baseline with the same iterations, schedule, seed, depth and coordinates, each with its own
documented learning rate (:data:`LR`), and scores the last iterate with PSNR and SSIM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..topics import bw_inr as inr
from ..topics import images

__all__ = ["LR", "WIRE", "TASKS", "NAMES", "settings", "Result", "score", "compare", "table",
           "best", "pick", "EqualFit", "equal_fit", "selection_check", "plot_grid"]

#: Per-model Adam learning rates (BW: the paper; baselines: their own recommended values).
LR = {"bw": 3e-3, "relu": 1e-3, "pe": 1e-3, "siren": 1e-3, "wire": 5e-3, "gauss": 1e-3}
#: WIRE's (ω0, σ0) per task: WIRE's own recommendations (representation, CT) and the
#: relu-inrs command recorded for SR (which also uses lr 1e-2).
WIRE = {"representation": (20.0, 30.0), "ct": (10.0, 10.0), "sr": (8.0, 6.0)}
TASKS = tuple(WIRE)
NAMES = {"bw": "BW-ReLU", "relu": "ReLU", "pe": "ReLU+PE", "siren": "SIREN", "wire": "WIRE",
         "gauss": "Gauss"}


def settings(kind: str, task: str, width: int, side: int, cs: Sequence[float] = (1.0,),
             layers: int = 3) -> tuple[inr.Spec, float]:
    """The architecture and learning rate of model ``kind`` on ``task`` (images side ``side``)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {TASKS}")
    lr = LR[kind] if kind in LR else None
    if lr is None:
        raise ValueError(f"unknown model {kind!r}; valid: {tuple(LR)}")
    om, sg = 30.0, 10.0                                  # SIREN ω0; Gauss σ0 ("scale")
    if kind == "wire":
        om, sg = WIRE[task]
        lr = 1e-2 if task == "sr" else lr
    freqs = inr.nyquist_freqs(side) if kind == "pe" else 0
    return inr.Spec(kind, width, layers, tuple(cs) if kind == "bw" else (1.0,), freqs, om, sg), lr


@dataclass
class Result:
    """One trained model scored against the truth (PSNR/SSIM of the raw last iterate)."""

    name: str
    kind: str
    c: float | None
    image: np.ndarray
    psnr: float
    ssim: float
    curve: np.ndarray | None = None          # image PSNR per iteration
    loss: np.ndarray | None = None           # data loss per iteration
    pn: np.ndarray | None = None             # path norm per iteration (BW)
    seconds: float = 0.0
    flops: float = 0.0                       # per training step, this model alone
    n_params: int = 0
    lr: float | None = None
    extra: dict = field(default_factory=dict)


def score(name: str, image: np.ndarray, truth: np.ndarray, kind: str = "classical") -> Result:
    """A :class:`Result` for a non-trained reconstruction (FBP, bicubic)."""
    image = np.asarray(image, np.float64).reshape(truth.shape)
    return Result(name, kind, None, image, images.psnr(image, truth), images.ssim(image, truth))


def compare(task: str, kinds: Sequence[str], truth: np.ndarray, data: torch.Tensor, *,
            operator: Callable[[torch.Tensor], torch.Tensor] | None, iters: int, width: int,
            cs: Sequence[float] = (1.0,), seed: int = 0, horizon: int | None = None,
            track_norm: bool = False, device: torch.device | str = "cpu") -> list[Result]:
    """Train every model of ``kinds`` on (``data``, ``operator``) and score it against ``truth``.

    BW-ReLU is trained once for all of ``cs`` (a batch of networks with the same init).
    Returns one :class:`Result` per network, in the order of ``kinds`` (and of ``cs``).
    """
    truth = np.asarray(truth, np.float64)
    if truth.ndim != 3:
        raise ValueError(f"truth must be (H, W, C), got shape {truth.shape}")
    height, width_px, channels = truth.shape
    out = []
    for kind in kinds:
        spec, lr = settings(kind, task, width, max(height, width_px), cs)
        f = inr.fit(spec, (height, width_px, channels), data, iters=iters, lr=lr, horizon=horizon,
                    operator=operator, truth=torch.as_tensor(truth), seed=seed,
                    track_norm=track_norm and kind == "bw", device=device)
        for i in range(spec.n):
            c = spec.c[i] if kind == "bw" else None
            name = NAMES[kind] + (f" c={c:g}" if c is not None else "")
            out.append(Result(name, kind, c, f.image[i], images.psnr(f.image[i], truth),
                              images.ssim(f.image[i], truth), f.psnr[:, i], f.loss[:, i],
                              None if f.pn is None else f.pn[:, i], f.seconds / spec.n,
                              f.flops_per_step / spec.n, f.n_params, lr))
    return out


def table(results: Sequence[Result], digits: int = 2) -> str:
    """A plain-text PSNR/SSIM table."""
    rows = [f"{'model':<16}{'PSNR (dB)':>10}{'SSIM':>8}"]
    for r in results:
        rows.append(f"{r.name:<16}{r.psnr:>10.{digits}f}{r.ssim:>8.3f}")
    return "\n".join(rows)


def best(results: Sequence[Result], kinds: Sequence[str]) -> float:
    """Highest PSNR among results of the given kinds (−inf if none ran)."""
    vals = [r.psnr for r in results if r.kind in kinds]
    return max(vals) if vals else float("-inf")


def pick(results: Sequence[Result], kind: str, c: float | None = None) -> Result:
    """The result of model ``kind`` (and scale ``c`` for BW)."""
    for r in results:
        if r.kind == kind and (c is None or r.c == c):
            return r
    raise KeyError(f"no result for {kind!r} (c={c})")


@dataclass
class EqualFit:
    """Outcome of the equal-fit sweep for one c: the first iteration whose data loss reaches
    the target (None if it missed within the cap), and PSNR/PN there (else at the cap)."""

    c: float
    reached: bool
    iteration: int
    loss: float
    psnr: float
    pn: float


def equal_fit(result_per_c: Sequence[Result], target: float) -> list[EqualFit]:
    """Stop each run where its data loss first falls to ``target`` (the paper's stopping rule,
    applied to recorded histories); runs that never reach it are read at their last iterate."""
    out = []
    for r in result_per_c:
        if r.loss is None or r.pn is None or r.curve is None:
            raise ValueError("equal_fit needs loss, path-norm and PSNR histories")
        hit = np.flatnonzero(r.loss <= target)
        t = int(hit[0]) if len(hit) else len(r.loss) - 1
        out.append(EqualFit(float(r.c), bool(len(hit)), t, float(r.loss[t]), float(r.curve[t]),
                            float(r.pn[t])))
    return out


def selection_check(fits: Sequence[EqualFit]) -> tuple[bool, float | None, float | None]:
    """K5: among the c that reached the target, is argmin PN equal to argmax PSNR or its
    neighbour in the grid of those c? Returns (passed, c of min PN, c of max PSNR)."""
    ok = [f for f in fits if f.reached]
    if not ok:
        return False, None, None
    cs = [f.c for f in ok]
    i_pn = int(np.argmin([f.pn for f in ok]))
    i_ps = int(np.argmax([f.psnr for f in ok]))
    return abs(i_pn - i_ps) <= 1, cs[i_pn], cs[i_ps]


def plot_grid(truth: np.ndarray, results: Sequence[Result], title: str, err_max: float = 0.25):
    """Reconstructions (top row) and absolute-error maps (bottom row), truth first.
    Images are shown clipped to [0, 1] for display only; errors on the raw output."""
    import matplotlib.pyplot as plt

    n = len(results) + 1
    fig, ax = plt.subplots(2, n, figsize=(1.9 * n, 4.1), squeeze=False)
    gray = truth.shape[-1] == 1
    show = lambda x: np.clip(x[..., 0] if gray else x, 0, 1)  # noqa: E731
    ax[0, 0].imshow(show(truth), cmap="gray" if gray else None, vmin=0, vmax=1)
    ax[0, 0].set_title("ground truth", fontsize=9)
    ax[1, 0].axis("off")
    im = None
    for j, r in enumerate(results, start=1):
        ax[0, j].imshow(show(r.image), cmap="gray" if gray else None, vmin=0, vmax=1)
        ax[0, j].set_title(f"{r.name}\n{r.psnr:.1f} dB, SSIM {r.ssim:.2f}", fontsize=8)
        err = np.abs(r.image - truth).mean(-1)
        im = ax[1, j].imshow(err, cmap="inferno", vmin=0, vmax=err_max)
    for a in ax.ravel():
        a.set_xticks([]), a.set_yticks([])
    ax[1, 1].set_ylabel("|error|", fontsize=9)
    cb = fig.colorbar(im, ax=ax[1, :].tolist(), shrink=0.8)
    cb.set_label("|error| (intensity)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig

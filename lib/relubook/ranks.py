"""Rank measures of weight matrices, and the low-rank bound of Galanti et al.

Every function accepts one matrix ``(m, n)`` or a stack ``(..., m, n)`` (NumPy array or
torch tensor) and works in float64. Notation: $W$ a weight matrix, $\\sigma_1\\ge\\sigma_2\\ge\\dots$
its singular values, $\\|W\\|_F$ its Frobenius norm, $B$ the batch size, $\\mu$ the learning
rate, $\\lambda$ the paper's weight-decay coefficient and ``wd`` $=2\\lambda$ PyTorch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "singular_values",
    "normalised_spectrum",
    "thresholded_rank",
    "eps_rank",
    "eps_rank_of_spectrum",
    "stable_rank",
    "theorem_rank_bound",
    "old_memory",
]


def _as_matrices(W: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(W) if not isinstance(W, torch.Tensor) else W)
    if t.ndim < 2:
        raise ValueError(f"expected a matrix or a stack of matrices (..., m, n), got shape {tuple(t.shape)}")
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"empty matrix of shape {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float64)


def singular_values(W: Any) -> np.ndarray:
    """Singular values $\\sigma_1\\ge\\dots\\ge\\sigma_{\\min(m,n)}$, shape ``(..., min(m, n))``."""
    return torch.linalg.svdvals(_as_matrices(W)).numpy()


def normalised_spectrum(W: Any) -> np.ndarray:
    """Singular values of $W/\\|W\\|_F$ (they satisfy $\\sum_i\\sigma_i^2=1$); zeros for $W=0$."""
    s = singular_values(W)
    fro = np.sqrt((s**2).sum(-1, keepdims=True))
    return np.divide(s, fro, out=np.zeros_like(s), where=fro > 0)


def thresholded_rank(W: Any, tol: float = 1e-3) -> np.ndarray:
    """The official code's rank: the number of singular values of $W/\\|W\\|_F$ above ``tol``.

    The threshold is absolute after Frobenius normalisation, so the result depends on
    ``tol`` (report it with every rank). Returns an int array of shape ``W.shape[:-2]``.
    """
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    return (normalised_spectrum(W) > tol).sum(-1)


def eps_rank(W: Any, eps: float) -> np.ndarray:
    """The theorem's $\\varepsilon$-rank: the least rank of a matrix within Frobenius distance
    $\\varepsilon$ of $W/\\|W\\|_F$.

    By Eckart--Young it is the least $k$ with $\\sum_{i>k}\\sigma_i^2\\le\\varepsilon^2\\|W\\|_F^2$.
    Returns an int array of shape ``W.shape[:-2]`` (0 for $\\varepsilon\\ge1$ or $W=0$).
    """
    return eps_rank_of_spectrum(normalised_spectrum(W), eps)


def eps_rank_of_spectrum(s: np.ndarray, eps: float) -> np.ndarray:
    """:func:`eps_rank` from a normalised spectrum ``s`` (``(..., k)``, decreasing, $\\sum s_i^2=1$)."""
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    s2 = np.asarray(s, dtype=float) ** 2
    # tail[k] = sum_{i >= k} s_i^2 (0-based): the squared error of the best rank-k approximation
    tail = np.flip(np.cumsum(np.flip(s2, -1), -1), -1)
    tail = np.concatenate([tail, np.zeros(tail.shape[:-1] + (1,))], -1)
    return (tail > eps**2 * (1 + 1e-12)).sum(-1)


def stable_rank(W: Any) -> np.ndarray:
    """Stable rank $\\|W\\|_F^2/\\|W\\|_2^2$ (between 1 and the rank; 0 for $W=0$)."""
    s = singular_values(W)
    top = s[..., 0] ** 2
    return np.divide((s**2).sum(-1), top, out=np.zeros_like(top), where=top > 0)


def theorem_rank_bound(batch_size: int, lr: float, weight_decay: float, eps: float,
                       uses_per_example: int = 1) -> float:
    """Galanti et al.'s bound on the $\\varepsilon$-rank of $W_T/\\|W_T\\|$ after long training,

    $$\\frac{m\\,B\\,\\log(2/\\varepsilon)}{2\\mu\\lambda}=\\frac{m\\,B\\,\\log(2/\\varepsilon)}{\\mu\\,\\mathrm{wd}},$$

    with PyTorch's ``weight_decay`` $\\mathrm{wd}=2\\lambda$ and $m$ = ``uses_per_example``
    (1 for a fully connected layer). ``inf`` when ``weight_decay`` is 0.
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

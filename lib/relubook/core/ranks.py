"""Rank measures of weight matrices.

Every function accepts one matrix ``(m, n)`` or a stack ``(..., m, n)`` (NumPy array or
torch tensor) and works in float64. Notation: $W$ a weight matrix, $\\sigma_1\\ge\\sigma_2\\ge\\dots$
its singular values, $\\|W\\|_F$ its Frobenius norm.
"""

from __future__ import annotations

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

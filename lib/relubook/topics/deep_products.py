"""Deep ReLU networks of fixed width as products of matrices (Xu & Zhang, 2024).

Notation of the paper: width :math:`m`, weights :math:`W_k\\in\\mathbb R^{m\\times m}`,
biases :math:`b_k\\in\\mathbb R^m`, and

.. math:: \\mathcal N_n(x)=\\sigma(W_n\\sigma(W_{n-1}\\cdots\\sigma(W_1x+b_1)\\cdots)+b_n).

On the activation domain of the activation matrices :math:`D_k=\\operatorname{diag}(d_k)`,
:math:`d_k\\in\\{0,1\\}^m`, the network is affine,

.. math:: \\mathcal N_n(x)=(D_nW_n\\cdots D_1W_1)\\,x
          +\\sum_{k=1}^n(D_nW_n\\cdots D_{k+1}W_{k+1})D_kb_k,

so its convergence as :math:`n\\to\\infty` is that of an infinite product of matrices.
Everything here is NumPy float64: exactness is the claim.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core import regions
from ..core.random import numpy_rng

__all__ = ["forward", "affine_form", "pattern_ids", "augmented", "diagonal_trajectory",
           "perturbed_identity", "tail_bound", "identify_layer"]

Array = np.ndarray


def _check_net(W: Array, b: Array) -> tuple[Array, Array]:
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if W.ndim != 3 or W.shape[1] != W.shape[2]:
        raise ValueError(f"W must have shape (n, m, m), got {W.shape}")
    if b.shape != W.shape[:2]:
        raise ValueError(f"b must have shape (n, m) = {W.shape[:2]}, got {b.shape}")
    if W.shape[0] < 1:
        raise ValueError("the network needs at least one layer")
    return W, b


def _check_x(x: Array, m: int) -> Array:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != m:
        raise ValueError(f"x must have shape (N, m) with m = {m}, got {x.shape}")
    return x


def _layers(W: Array, b: Array) -> tuple[list[Array], list[Array]]:
    return list(W), list(b)


def forward(W: Array, b: Array, x: Array, *, return_patterns: bool = False
            ) -> Array | tuple[Array, Array]:
    """The network :math:`\\mathcal N_n(x)` by the forward pass.

    Parameters
    ----------
    W, b
        Weights ``(n, m, m)`` and biases ``(n, m)``; layer ``k`` (1-based) is ``W[k-1]``.
    x
        Inputs ``(N, m)``.
    return_patterns
        Also return the activation patterns :math:`d_k(x)` as a boolean array
        ``(N, n, m)``: ``True`` where :math:`(W_k y_{k-1}+b_k)_j>0`.

    Returns
    -------
    ``(N, m)`` outputs, and the patterns if asked for.
    """
    W, b = _check_net(W, b)
    y, pats = regions.forward_patterns(*_layers(W, b), _check_x(x, W.shape[1]))
    return (y, np.stack(pats, axis=1)) if return_patterns else y


def affine_form(W: Array, b: Array, patterns: Array) -> tuple[Array, Array]:
    """The explicit form :math:`\\mathcal N_n(x)=A x+c` given the activation matrices
    (:func:`relubook.core.regions.affine_form` for square layers).

    Parameters
    ----------
    W, b
        Weights ``(n, m, m)`` and biases ``(n, m)``.
    patterns
        Boolean ``(N, n, m)``: the diagonals of :math:`D_1,\\dots,D_n` for each input.

    Returns
    -------
    ``A`` of shape ``(N, m, m)`` and ``c`` of shape ``(N, m)``.
    """
    W, b = _check_net(W, b)
    n, m = b.shape
    d = np.asarray(patterns)
    if d.ndim != 3 or d.shape[1:] != (n, m):
        raise ValueError(f"patterns must have shape (N, {n}, {m}), got {d.shape}")
    return regions.affine_form(*_layers(W, b), [d[:, k] for k in range(n)])


def pattern_ids(patterns: Array) -> Array:
    """An integer label per distinct activation pattern, ``(N,)`` from ``(N, n, m)`` booleans
    (:func:`relubook.core.regions.pattern_ids`)."""
    return regions.pattern_ids(patterns)


def augmented(W: Array, b: Array, patterns: Array) -> Array:
    """The augmented matrices :math:`\\begin{bmatrix}D_kW_k & D_kb_k\\\\0&1\\end{bmatrix}`.

    Their ordered product applied to :math:`[x;1]` is :math:`[\\mathcal N_n(x);1]`: the
    network is an infinite product of :math:`(m+1)\\times(m+1)` matrices.
    Returns ``(N, n, m+1, m+1)``.
    """
    W, b = _check_net(W, b)
    n, m = b.shape
    d = np.asarray(patterns, dtype=np.float64)
    if d.ndim != 3 or d.shape[1:] != (n, m):
        raise ValueError(f"patterns must have shape (N, {n}, {m}), got {d.shape}")
    out = np.zeros((d.shape[0], n, m + 1, m + 1))
    out[:, :, :m, :m] = d[..., None] * W[None]
    out[:, :, :m, m] = d * b[None]
    out[:, :, m, m] = 1.0
    return out


def diagonal_trajectory(w: Array, b: Array, x: Array, checkpoints: Sequence[int]) -> Array:
    """Outputs at the depths ``checkpoints`` of a network with diagonal :math:`W_k`.

    A diagonal network acts coordinate by coordinate, so each coordinate is an independent
    scalar network :math:`y_k=\\sigma(w_ky_{k-1}+b_k)`; many scalar cases run as one width.

    Parameters
    ----------
    w, b
        Diagonals of :math:`W_k` and the biases, both ``(n, m)``.
    x
        Inputs ``(N, m)``.
    checkpoints
        Depths ``1 <= n_j <= n`` at which to record :math:`\\mathcal N_{n_j}(x)`.

    Returns
    -------
    ``(len(checkpoints), N, m)``.
    """
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if w.ndim != 2 or b.shape != w.shape:
        raise ValueError(f"w and b must both have shape (n, m), got {w.shape} and {b.shape}")
    y = _check_x(x, w.shape[1]).copy()
    cps = _check_checkpoints(checkpoints, w.shape[0])
    out = np.empty((len(cps), *y.shape))
    want = {c: i for i, c in enumerate(cps)}
    for k in range(w.shape[0]):
        np.multiply(y, w[k], out=y)
        np.add(y, b[k], out=y)
        np.maximum(y, 0.0, out=y)
        if k + 1 in want:
            out[want[k + 1]] = y
    return out


def _check_checkpoints(checkpoints: Sequence[int], n: int) -> list[int]:
    cps = [int(c) for c in checkpoints]
    if not cps or any(c < 1 or c > n for c in cps):
        raise ValueError(f"checkpoints must be depths in [1, {n}], got {list(checkpoints)}")
    if len(set(cps)) != len(cps):
        raise ValueError("checkpoints must be distinct")
    return cps


def perturbed_identity(ps: Sequence[float], m: int, depth: int, x: Array,
                       seeds: Sequence[int], checkpoints: Sequence[int], base_seed: int = 0
                       ) -> tuple[Array, Array, Array, Array]:
    """Random near-identity networks.

    :math:`W_k=I+G_k/(\\sqrt m\\,k^p)`, :math:`b_k=g_k/(\\sqrt m\\,k^p)`.

    :math:`G_k` and :math:`g_k` are standard Gaussian. Every exponent ``p`` of ``ps`` uses the
    same draws (common random numbers), so the networks of one seed differ only by the decay
    exponent; all ``len(ps) * len(seeds)`` networks run as one batched product, layer by layer,
    with the weights drawn on the fly (never stored).

    Parameters
    ----------
    ps
        Decay exponents :math:`p`.
    m, depth
        Width and number of layers :math:`L`.
    x
        Inputs ``(N, m)``, shared by all networks.
    seeds
        One network per seed; seed ``s`` draws from ``default_rng((base_seed, s))``.
    checkpoints
        Depths at which :math:`\\mathcal N_n(x)` is recorded.

    Returns
    -------
    ys
        ``(len(ps), len(seeds), len(checkpoints), N, m)`` outputs.
    g_norm
        ``(len(seeds), depth)`` spectral norms :math:`\\|G_k\\|_2`, so that
        :math:`\\|W_k-I\\|_2=\\|G_k\\|_2/(\\sqrt m\\,k^p)`.
    gb_norm
        ``(len(seeds), depth)`` Euclidean norms :math:`\\|g_k\\|_2`.
    y1_norm
        ``(len(ps), len(seeds), N)`` norms :math:`\\|\\sigma(W_1x+b_1)\\|_2`.
    """
    ps = np.asarray(ps, dtype=np.float64)
    if ps.ndim != 1 or ps.size == 0:
        raise ValueError("ps must be a non-empty list of exponents")
    if m < 1 or depth < 1:
        raise ValueError(f"m and depth must be positive, got m={m}, depth={depth}")
    x = _check_x(x, m)
    cps = _check_checkpoints(checkpoints, depth)
    want = {c: i for i, c in enumerate(cps)}
    rngs = [numpy_rng(base_seed, int(s)) for s in seeds]
    S, P, N = len(rngs), ps.size, x.shape[0]
    if S == 0:
        raise ValueError("seeds must not be empty")
    y = np.broadcast_to(x.T, (P, S, m, N)).copy()          # columns are inputs
    ys = np.empty((P, S, len(cps), N, m))
    g_norm = np.empty((S, depth))
    gb_norm = np.empty((S, depth))
    y1_norm = None
    eye = np.eye(m)
    for k in range(1, depth + 1):
        G = np.stack([r.standard_normal((m, m)) for r in rngs])          # (S, m, m)
        g = np.stack([r.standard_normal(m) for r in rngs])               # (S, m)
        g_norm[:, k - 1] = np.linalg.svd(G, compute_uv=False)[:, 0]
        gb_norm[:, k - 1] = np.linalg.norm(g, axis=1)
        scale = (1.0 / (np.sqrt(m) * k ** ps))[:, None, None, None]      # (P, 1, 1, 1)
        Wk = eye + scale * G[None]                                       # (P, S, m, m)
        bk = scale[..., 0] * g[None]                                     # (P, S, m)
        y = np.maximum(Wk @ y + bk[..., None], 0.0)
        if k == 1:
            y1_norm = np.linalg.norm(y, axis=2)
        if k in want:
            ys[:, :, want[k]] = np.swapaxes(y, 2, 3)
    return ys, g_norm, gb_norm, y1_norm


def tail_bound(a: Array, beta: Array, y1_norm: Array, ns: Sequence[int]) -> Array:
    """The derived tail bound on :math:`\\|\\mathcal N_L(x)-\\mathcal N_n(x)\\|`.

    .. math:: \\|\\mathcal N_L(x)-\\mathcal N_n(x)\\|\\le\\sum_{n<k\\le L}(M\\|W_k-I\\|+\\|b_k\\|)

    with :math:`M=e^{\\sum_{k=2}^L\\|W_k-I\\|}(\\|\\sigma(W_1x+b_1)\\|+\\sum_{k=2}^L\\|b_k\\|)`,
    which bounds :math:`\\sup_{n\\le L}\\|\\mathcal N_n(x)\\|` (derived, any
    :math:`\\ell^p` norm, operator norm for :math:`W_k-I`).

    Parameters
    ----------
    a, beta
        ``(..., L)``: :math:`\\|W_k-I\\|` and :math:`\\|b_k\\|` for ``k = 1..L``.
    y1_norm
        ``(..., N)``: :math:`\\|\\sigma(W_1x+b_1)\\|` per input.
    ns
        Depths ``1 <= n <= L``.

    Returns
    -------
    ``(..., N, len(ns))`` bounds.
    """
    a = np.asarray(a, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if a.shape != beta.shape or a.ndim < 1:
        raise ValueError(
            f"a and beta must have the same shape (..., L), got {a.shape}, {beta.shape}")
    L = a.shape[-1]
    ns = _check_checkpoints(ns, L)
    y1 = np.asarray(y1_norm, dtype=np.float64)
    M = np.exp(a[..., 1:].sum(-1))[..., None] * (y1 + beta[..., 1:].sum(-1)[..., None])
    # suffix sums S_n = sum_{k>n} a_k (k 1-based) -> index n in a 0-based cumulative array
    zero = np.zeros(a.shape[:-1] + (1,))
    ca = np.concatenate([np.cumsum(a[..., ::-1], -1)[..., ::-1], zero], -1)
    cb = np.concatenate([np.cumsum(beta[..., ::-1], -1)[..., ::-1], zero], -1)
    idx = np.asarray(ns)
    return M[..., None] * ca[..., None, idx] + cb[..., None, idx]


def identify_layer(y_prev: Array, y_next: Array) -> tuple[Array, Array, float]:
    """Least-squares :math:`[W_n-I,\\ b_n]` from :math:`m+1` (or more) trajectories.

    Where ReLU acts as the identity, :math:`Y_n=W_nY_{n-1}+b_n\\mathbf 1^\\top`, so
    :math:`[W_n-I,\\ b_n]\\,B_{n-1}=Y_n-Y_{n-1}` with
    :math:`B_{n-1}=\\begin{bmatrix}Y_{n-1}\\\\\\mathbf 1^\\top\\end{bmatrix}`.

    Parameters
    ----------
    y_prev, y_next
        ``(J, m)``, ``J >= m+1``: :math:`\\mathcal N_{n-1}(x^{(j)})` and
        :math:`\\mathcal N_n(x^{(j)})`.

    Returns
    -------
    ``W - I`` ``(m, m)``, ``b`` ``(m,)`` and :math:`\\sigma_{\\min}(B_{n-1})`.
    """
    yp = np.asarray(y_prev, dtype=np.float64)
    yn = np.asarray(y_next, dtype=np.float64)
    if yp.ndim != 2 or yp.shape != yn.shape or yp.shape[0] < yp.shape[1] + 1:
        raise ValueError(
            f"y_prev and y_next must be (J, m) with J >= m+1, got {yp.shape}, {yn.shape}")
    m = yp.shape[1]
    B = np.vstack([yp.T, np.ones((1, yp.shape[0]))])                  # (m+1, J)
    sol = np.linalg.lstsq(B.T, (yn - yp), rcond=None)[0]              # (m+1, m)
    smin = float(np.linalg.svd(B, compute_uv=False)[-1])
    return sol[:m].T, sol[m], smin

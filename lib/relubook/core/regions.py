"""Activation regions of ReLU networks: patterns, and the affine map on each region.

For weights :math:`W_k` (``(d_k, d_{k-1})``) and biases :math:`b_k`, the activation pattern
of an input is :math:`d_k(x)=\\mathbf 1[W_ky_{k-1}+b_k>0]` with
:math:`y_k=\\sigma(W_ky_{k-1}+b_k)`, :math:`y_0=x`. On the set of inputs sharing a
pattern (an activation region) the network is affine,

.. math:: y_n(x)=(D_nW_n\\cdots D_1W_1)\\,x+\\sum_{k=1}^n(D_nW_n\\cdots D_{k+1}W_{k+1})D_kb_k,

:math:`D_k=\\operatorname{diag}(d_k)`. Every layer here is ReLU (the output too), NumPy
float64. A network is a sequence of layers: a list of matrices, or an array ``(n, m, m)`` for
square layers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["forward_patterns", "affine_form", "pattern_ids"]

Array = np.ndarray


def _layers(W: Sequence[Array], b: Sequence[Array]) -> tuple[list[Array], list[Array]]:
    Ws = [np.asarray(w, dtype=np.float64) for w in W]
    bs = [np.asarray(v, dtype=np.float64) for v in b]
    if not Ws or len(Ws) != len(bs):
        raise ValueError(f"need as many biases as layers (>= 1), got {len(Ws)} and {len(bs)}")
    for k, (w, v) in enumerate(zip(Ws, bs)):
        if w.ndim != 2 or v.shape != (w.shape[0],):
            raise ValueError(f"layer {k + 1}: W must be (out, in) and b (out,), got "
                             f"{w.shape} and {v.shape}")
        if k and w.shape[1] != Ws[k - 1].shape[0]:
            raise ValueError(f"layer {k + 1} takes {w.shape[1]} inputs but layer {k} gives "
                             f"{Ws[k - 1].shape[0]}")
    return Ws, bs


def forward_patterns(W: Sequence[Array], b: Sequence[Array], x: Array
                     ) -> tuple[Array, list[Array]]:
    """Outputs :math:`y_n(x)` ``(N, d_n)`` and the patterns: a list of boolean ``(N, d_k)``.

    A network whose outputs overflow float64 reports ``inf`` (divergence), never NaN from
    the ``inf * 0`` of exact zero weights.
    """
    Ws, bs = _layers(W, b)
    y = np.asarray(x, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != Ws[0].shape[1]:
        raise ValueError(f"x must have shape (N, {Ws[0].shape[1]}), got {y.shape}")
    pats = []
    for w, v in zip(Ws, bs):
        pre = _affine(y, w, v)
        pats.append(pre > 0)
        y = np.maximum(pre, 0.0)
    return y, pats


def _affine(y: Array, w: Array, v: Array) -> Array:
    """``y @ w.T + v``, with exact zeros of ``w`` contributing 0 even where ``y`` overflowed to
    ``inf`` (so a diverging network reports ``inf``, not the NaN of ``inf * 0``)."""
    if np.all(np.isfinite(y)):
        return y @ w.T + v
    with np.errstate(invalid="ignore", over="ignore"):
        terms = y[:, None, :] * w[None, :, :]
        terms[:, w == 0] = 0.0
        return terms.sum(-1) + v


def affine_form(W: Sequence[Array], b: Sequence[Array], patterns: Sequence[Array]
                ) -> tuple[Array, Array]:
    """The affine map :math:`y_n(x)=Ax+c` on the region of each pattern.

    The suffix products :math:`P_k=D_nW_n\\cdots D_{k+1}W_{k+1}` are accumulated from the
    output side, an order of operations different from the forward pass.

    Parameters
    ----------
    W, b
        The layers.
    patterns
        One boolean array ``(N, d_k)`` per layer (as :func:`forward_patterns` returns).

    Shape:
        returns ``A`` ``(N, d_n, d_0)`` and ``c`` ``(N, d_n)``.
    """
    Ws, bs = _layers(W, b)
    if len(patterns) != len(Ws):
        raise ValueError(f"need one pattern per layer ({len(Ws)}), got {len(patterns)}")
    d = [np.asarray(p, dtype=np.float64) for p in patterns]
    N = d[0].shape[0]
    for k, (p, w) in enumerate(zip(d, Ws)):
        if p.shape != (N, w.shape[0]):
            raise ValueError(f"pattern {k + 1} must have shape ({N}, {w.shape[0]}), got {p.shape}")
    out = Ws[-1].shape[0]
    P = np.broadcast_to(np.eye(out), (N, out, out)).copy()
    c = np.zeros((N, out))
    for k in range(len(Ws) - 1, -1, -1):
        c += np.einsum("nij,nj->ni", P, d[k] * bs[k])            # P_k D_k b_k
        P = P @ (d[k][:, :, None] * Ws[k])                          # P_{k-1} = P_k D_k W_k
    return P, c


def pattern_ids(patterns: Array | Sequence[Array]) -> Array:
    """An integer label per distinct activation pattern, ``(N,)``.

    ``patterns`` is a boolean array ``(N, ...)`` or a list of per-layer ``(N, d_k)`` arrays;
    labels are the ranks of the patterns in lexicographic order (stable across runs).
    """
    if isinstance(patterns, (list, tuple)):
        p = np.concatenate([np.asarray(q, dtype=bool) for q in patterns], axis=1)
    else:
        p = np.asarray(patterns, dtype=bool)
    if p.ndim < 2:
        raise ValueError(f"patterns must have shape (N, ...), got {p.shape}")
    packed = np.packbits(p.reshape(p.shape[0], -1), axis=1)
    _, ids = np.unique(packed, axis=0, return_inverse=True)
    return ids.reshape(-1)

"""The network Jacobian and the empirical neural tangent kernel.

For a network :math:`f_\\theta:\\mathbb R^{d}\\to\\mathbb R^{k}` and inputs :math:`x_1..x_N`,
the Jacobian is :math:`J_{(n,j),p}=\\partial f_j(x_n)/\\partial\\theta_p` and the empirical NTK
is the Gram matrix

.. math:: K=\\frac1N\\,JJ^\\top,

normalised like the loss :math:`\\frac1{2N}\\sum_n\\|f(x_n)-y_n\\|^2`, whose gradient flow
linearised at :math:`\\theta` is :math:`\\dot r=-K r`. :func:`jacobian` differentiates any
function of a parameter dict with ``torch.func`` (exact, float64 where the inputs are).

The closed form (NumPy float64): the two-layer ReLU NTK, both layers trained, :math:`N(0,1)`
initialisation, NTK parameterisation :math:`f(x)=m^{-1/2}\\sum_ra_r\\sigma(w_r\\cdot x/\\sqrt d
+b_r)+c`, is, with the augmented inputs :math:`\\tilde x=(x/\\sqrt d,1)` (with biases) or
:math:`\\tilde x=x/\\sqrt d` (without, :func:`augment`) and :math:`\\theta` the angle between
:math:`\\tilde x` and :math:`\\tilde z`,

.. math:: \\Theta(x,z)=\\tilde x\\cdot\\tilde z\\,\\frac{\\pi-\\theta}{2\\pi}
          +\\|\\tilde x\\|\\|\\tilde z\\|\\,\\frac{\\sin\\theta+(\\pi-\\theta)\\cos\\theta}{2\\pi}
          \\;[+1\\ \\text{for the output bias}]

(:func:`relu_ntk`; :func:`arccos_ntk` is its homogeneous part). The first term comes from the
hidden weights, the second from the output weights. It is the limit, as :math:`m\\to\\infty`,
of the empirical NTK :math:`\\nabla_\\theta f(x)\\cdot\\nabla_\\theta f(z)` of such a network
(the unnormalised Gram :math:`JJ^\\top`, not :func:`ntk_gram`'s :math:`JJ^\\top/N`), and
:func:`ntk_predict` evaluates a kernel machine :math:`\\sum_i\\alpha_i\\Theta(z,x_i)`. Shared by
chapters 13 (extrapolation) and 14 (NN and SVM).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

__all__ = ["arccos_ntk", "augment", "jacobian", "ntk_gram", "ntk_lambda_max",
           "ntk_predict", "relu_ntk"]


def jacobian(fn: Callable[[Mapping[str, torch.Tensor], torch.Tensor], torch.Tensor],
             params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """:math:`J` of ``fn(params, x)`` (outputs ``(N, k)`` or ``(N,)``) with respect to every
    parameter, flattened in the order of ``params``.

    Shape:
        returns ``(N * k, P)`` with ``P`` the total number of parameter entries (``(N, P)``
        for scalar outputs).
    """
    from torch.func import jacrev

    names = list(params)
    jac = jacrev(lambda p: fn(p, x))({n: params[n] for n in names})
    out = fn(params, x)
    rows = out.numel()
    return torch.cat([jac[n].reshape(rows, -1) for n in names], dim=1)


def ntk_gram(J: np.ndarray | torch.Tensor, n_points: int | None = None):
    """:math:`K=JJ^\\top/N` for Jacobians ``(..., N, P)`` (``N`` = ``n_points`` or the rows)."""
    n = J.shape[-2] if n_points is None else n_points
    if isinstance(J, torch.Tensor):
        return J @ J.transpose(-1, -2) / n
    J = np.asarray(J)
    return np.einsum("...np,...mp->...nm", J, J) / n


def ntk_lambda_max(J: np.ndarray | torch.Tensor) -> np.ndarray:
    """Largest eigenvalue of :math:`JJ^\\top/N` for each Jacobian of a stack ``(..., N, P)``."""
    K = ntk_gram(J)
    if isinstance(K, torch.Tensor):
        K = K.detach().cpu().numpy()
    return np.linalg.eigvalsh(K)[..., -1]


# ----------------------------------------------------------------------------- closed form

def augment(X: np.ndarray, bias: bool) -> np.ndarray:
    r""":math:`\tilde x=(x/\sqrt d,1)` with biases, :math:`x/\sqrt d` without; ``(N, d[+1])``."""
    X = np.asarray(X, dtype=np.float64)
    Xs = X / math.sqrt(X.shape[-1])
    if not bias:
        return Xs
    return np.concatenate([Xs, np.ones(X.shape[:-1] + (1,))], axis=-1)


def arccos_ntk(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""The degree-one homogeneous part of the two-layer ReLU NTK on (augmented) vectors:
    :math:`a\cdot b\,\frac{\pi-\theta}{2\pi}+\|a\|\|b\|\frac{\sin\theta+(\pi-\theta)\cos\theta}
    {2\pi}`, :math:`\theta=\angle(a,b)` (0 where a vector is 0).

    Shape: ``A`` ``(N, p)``, ``B`` ``(M, p)``; returns ``(N, M)``.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    dot = A @ B.T
    na = np.linalg.norm(A, axis=1)[:, None]
    nb = np.linalg.norm(B, axis=1)[None, :]
    nn_ = na * nb
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(nn_ > 0, dot / nn_, 1.0)
    cos = np.clip(cos, -1.0, 1.0)
    th = np.arccos(cos)
    sin = np.sqrt(np.maximum(1.0 - cos * cos, 0.0))
    return (dot * (np.pi - th) + nn_ * (sin + (np.pi - th) * cos)) / (2 * np.pi)


def relu_ntk(X: np.ndarray, Z: np.ndarray, bias: bool = True) -> np.ndarray:
    r"""The two-layer ReLU NTK :math:`\Theta(x,z)` of the module docstring (closed form),
    ``(N, M)``.

    ``bias=True``: hidden and output biases (:math:`\tilde x=(x/\sqrt d,1)`, plus 1 for the
    output bias); ``bias=False``: the bias-free network (:math:`\tilde x=x/\sqrt d`).
    """
    K = arccos_ntk(augment(X, bias), augment(Z, bias))
    return K + 1.0 if bias else K


def ntk_predict(alpha: np.ndarray, X: np.ndarray, Z: np.ndarray, bias: bool = True,
                chunk: int = 4096) -> np.ndarray:
    r""":math:`f(z)=\sum_i\alpha_i\Theta(z,x_i)` at the points ``Z`` ``(M, d)``, in chunks."""
    Z = np.asarray(Z, dtype=np.float64)
    out = [relu_ntk(Z[i:i + chunk], X, bias) @ alpha for i in range(0, Z.shape[0], chunk)]
    return np.concatenate(out) if out else np.zeros((0,) + np.shape(alpha)[1:])

"""The network Jacobian and the empirical neural tangent kernel.

For a network :math:`f_\\theta:\\mathbb R^{d}\\to\\mathbb R^{k}` and inputs :math:`x_1..x_N`,
the Jacobian is :math:`J_{(n,j),p}=\\partial f_j(x_n)/\\partial\\theta_p` and the empirical NTK
is the Gram matrix

.. math:: K=\\frac1N\\,JJ^\\top,

normalised like the loss :math:`\\frac1{2N}\\sum_n\\|f(x_n)-y_n\\|^2`, whose gradient flow
linearised at :math:`\\theta` is :math:`\\dot r=-K r`. :func:`jacobian` differentiates any
function of a parameter dict with ``torch.func`` (exact, float64 where the inputs are).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch

__all__ = ["jacobian", "ntk_gram", "ntk_lambda_max"]


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

"""Norms of ReLU networks that measure function complexity rather than parameter size.

For layers :math:`W_1,\\dots,W_L` (``W_l`` of shape ``(..., d_l, d_{l-1})``):

* the :math:`\\ell_1` path norm sums the products of absolute weights along every input–output
  path, :math:`\\|\\theta\\|_{\\rm path}=\\mathbf 1^\\top|W_L|\\cdots|W_1|\\mathbf 1`
  (for one hidden layer :math:`\\sum_k|v_k|\\,\\|w_k\\|_1`);
* the layer-wise variation norm sums, over hidden neurons :math:`k` of every layer
  :math:`l<L`, the norm of the neuron's input weights times that of its output weights,
  :math:`\\sum_{l<L}\\sum_k\\|W_l[k,:]\\|_2\\,\\|W_{l+1}[:,k]\\|_2`; for one hidden layer this
  is :math:`\\sum_k|v_k|\\,\\|w_k\\|_2`, the representational cost of a shallow ReLU network
  (Savarese et al. 2019; Ongie et al. 2020) at its balanced rescaling.

Both are invariant under the ReLU rescaling :math:`(w_k, v_k)\\mapsto(\\alpha_k w_k,
v_k/\\alpha_k)`, :math:`\\alpha_k>0`. For one hidden layer the variation norm is also the
smallest weight-decay cost :math:`\\tfrac12(\\|w_k\\|^2+|v_k|^2)` summed over neurons, reached
at the balanced rescaling. Biases are not included in either.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["path_norm", "variation_norm"]


def path_norm(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """:math:`\\mathbf 1^\\top|W_L|\\cdots|W_1|\\mathbf 1` for each network of the batch.

    Shape:
        ``weights[l]`` ``(*batch, d_l, d_{l-1})``; returns ``(*batch,)``.
    """
    if not weights:
        raise ValueError("need at least one layer")
    v = weights[0].abs().sum(-1)                          # (*batch, d_1): |W_1| 1
    for w in weights[1:]:
        v = torch.matmul(w.abs(), v.unsqueeze(-1)).squeeze(-1)
    return v.sum(-1)


def variation_norm(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """:math:`\\sum_{l<L}\\sum_k\\|W_l[k,:]\\|_2\\|W_{l+1}[:,k]\\|_2` for each network.

    Complex weights contribute their moduli. Shape: ``weights[l]`` ``(*batch, d_l, d_{l-1})``;
    returns ``(*batch,)``.
    """
    if len(weights) < 2:
        raise ValueError("the variation norm needs at least one hidden layer (two weight layers)")
    tot = None
    for w_in, w_out in zip(weights[:-1], weights[1:]):
        term = (w_in.norm(dim=-1) * w_out.norm(dim=-2)).sum(-1)
        tot = term if tot is None else tot + term
    return tot

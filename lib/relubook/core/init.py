"""Weight initialisation shared by the chapters.

``torch.nn.Linear``'s default draws weights and biases from
:math:`U(-1/\\sqrt{\\text{fan\\_in}},\\,1/\\sqrt{\\text{fan\\_in}})`; :func:`uniform_fan_in` is that
law and :func:`uniform` the symmetric uniform law it is built on. Both accept a
``torch.Generator`` (a float64 tensor is returned; the caller casts) or a
``numpy.random.Generator`` (a float64 array), so NumPy and torch chapters share one law.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

__all__ = ["uniform", "uniform_fan_in"]


def uniform(shape: Sequence[int], bound: float,
            generator: torch.Generator | np.random.Generator) -> torch.Tensor | np.ndarray:
    """i.i.d. :math:`U(-\\text{bound}, \\text{bound})` entries of the given shape.

    With a ``torch.Generator``: ``(2 u - 1) * bound`` for ``u = torch.rand(shape)`` in float64;
    with a NumPy generator: ``rng.uniform(-bound, bound, shape)``.
    """
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    shape = tuple(int(s) for s in shape)
    if isinstance(generator, torch.Generator):
        return (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * bound
    if isinstance(generator, np.random.Generator):
        return generator.uniform(-bound, bound, shape)
    raise TypeError(f"generator must be a torch.Generator or numpy Generator, got "
                    f"{type(generator).__name__}")


def uniform_fan_in(shape: Sequence[int], fan_in: int,
                   generator: torch.Generator | np.random.Generator) -> torch.Tensor | np.ndarray:
    """``nn.Linear``'s default law :math:`U(\\pm1/\\sqrt{\\text{fan\\_in}})` (weights and biases)."""
    if int(fan_in) != fan_in or fan_in < 1:
        raise ValueError(f"fan_in must be a positive integer, got {fan_in}")
    return uniform(shape, 1 / math.sqrt(fan_in), generator)

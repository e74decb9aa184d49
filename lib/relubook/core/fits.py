"""Fits of measured curves: power laws on log-log axes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["loglog_slope"]


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope :math:`p` of :math:`\\log y = p\\log x + q`.

    ``x`` and ``y`` are 1-D, of the same length ≥ 2, and positive; a ValueError says which
    condition fails.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"need 1-D x and y of the same length >= 2, got shapes {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a log-log fit needs finite, positive x and y")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])

"""Data sets bundled with scikit-learn, prepared the ways the chapters use them.

Every loader reads scikit-learn's 8×8 digits (1,797 images of 64 pixels, values 0–16,
ten classes): nothing is downloaded. :func:`digits_split` gives a train/test split for
classification; :func:`digits_sphere` gives the first ``n`` images centred and scaled to the
unit sphere with one-hot targets (the separable data of the over-parameterisation theory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .random import numpy_rng

__all__ = ["N_CLASSES", "SIX_X", "SIX_Y", "Digits", "digits_arrays", "digits_split", "digits_sphere",
           "six_points"]

#: Classes of the digits data set.
N_CLASSES = 10
#: Inputs of the six-point 1-D data set shared by chapters 10–12.
SIX_X = (-1.0, -0.6, -0.1, 0.3, 0.7, 1.0)
#: Targets of the six-point data set: its linear interpolant has alternating slope changes and
#: TV(f') = 67/3 ≈ 22.33.
SIX_Y = (0.0, 1.0, -0.5, 0.8, -0.2, 0.5)
SCALINGS = ("standardise", "max")


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits: inputs ``(N, 64)``, integer labels ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The raw digits: pixels ``(1797, 64)`` float64 in [0, 16] and labels ``(1797,)`` int64."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.astype(np.float64), y.astype(np.int64)


def digits_split(n_test: int = 360, seed: int = 0, *, stratify: bool = False,
                 scaling: str = "standardise", dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> Digits:
    """The digits split into ``1797 - n_test`` training and ``n_test`` test images.

    Parameters
    ----------
    n_test
        Test images, in ``(0, 1797)``.
    seed
        The split's seed (the split depends on nothing else). Without ``stratify`` the split is
        ``default_rng(seed).permutation``; with it, scikit-learn's
        ``train_test_split(stratify=y, random_state=seed)`` (class proportions kept).
    scaling
        ``"standardise"``: each pixel minus the training mean, over the training standard
        deviation plus 1e-6 (some pixels are always blank); ``"max"``: pixels / 16, in [0, 1].
    """
    x, y = digits_arrays()
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}), got {n_test}")
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; valid: {', '.join(SCALINGS)}")
    if stratify:
        from sklearn.model_selection import train_test_split

        xtr, xte, ytr, yte = train_test_split(x, y, test_size=n_test, random_state=seed,
                                              stratify=y)
    else:
        perm = numpy_rng(seed).permutation(len(y))
        tr, te = perm[n_test:], perm[:n_test]
        xtr, xte, ytr, yte = x[tr], x[te], y[tr], y[te]
    if scaling == "standardise":
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    else:
        xtr, xte = xtr / 16.0, xte / 16.0

    def t(a: np.ndarray, dt: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dt, device=device)

    return Digits(t(xtr, dtype), t(ytr, torch.long), t(xte, dtype), t(yte, torch.long))


def digits_sphere(n: int = 256, dtype: torch.dtype = torch.float32
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` digits, centred (mean of those ``n``) and scaled to unit norm.

    Returns
    -------
    X, Y
        ``X`` of shape ``(n, 64)`` with :math:`\\|x_i\\|=1`; one-hot ``Y`` of shape ``(n, 10)``.
    """
    x, y = digits_arrays()
    if isinstance(n, bool) or not isinstance(n, int) or not N_CLASSES <= n <= len(y):
        raise ValueError(f"n must be an int in [{N_CLASSES}, {len(y)}], got {n!r}")
    x = x[:n]
    x = x - x.mean(axis=0, keepdims=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return torch.tensor(x, dtype=dtype), torch.tensor(np.eye(N_CLASSES)[y[:n]], dtype=dtype)


def six_points(dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The six-point 1-D data set of chapters 10–12: ``x, y`` of shape ``(6,)``, ``x`` sorted.

    Slopes 2.5, −3, 3.25, −2.5, 7/3; slope changes −5.5, 6.25, −5.75, 29/6 (alternating signs,
    so the minimum-TV(f') interpolant is the linear spline with knots at the 4 interior points).
    """
    return np.array(SIX_X, dtype=dtype), np.array(SIX_Y, dtype=dtype)

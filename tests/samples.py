"""Small random data sets for the unit tests (seeded, no files)."""

import torch


def classification(n: int, d: int, k: int, seed: int = 0, dtype: torch.dtype = torch.float64):
    """``n`` Gaussian inputs in R^d with uniform labels in {0..k-1}: ``(x (n, d), y (n,))``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y

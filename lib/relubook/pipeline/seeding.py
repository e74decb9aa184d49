"""Seeding and determinism: one call before a chapter computes anything."""

from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["seed_everything"]


def seed_everything(seed: int, threads: int = 1) -> np.random.Generator:
    """Seed Python, NumPy and torch, fix the thread count and make torch deterministic.

    Parameters
    ----------
    seed
        The run's seed.
    threads
        ``torch.set_num_threads`` value; one thread is fastest for the small models here.

    Returns
    -------
    A fresh ``numpy.random.Generator`` seeded with ``seed``.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        import torch
    except ImportError:  # torch is optional for NumPy-only chapters
        pass
    else:
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)

"""Where integer seeds become random generators: the one place in the library that does so.

Library functions that draw take a generator (``generator: torch.Generator`` in torch code,
``rng: numpy.random.Generator`` in NumPy code) and never touch global random state. Integer
seeds enter at experiment entry points (a notebook, a driver, a sweep that gives every network
of a batch its own stream) and are turned into generators here, so that a stream is named by
its seed and keys: ``numpy_rng(seed, worker)`` is the same stream wherever it is built.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["torch_generator", "numpy_rng"]


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed`` (an int in ``[0, 2**63)``)."""
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    return torch.Generator(device=device).manual_seed(int(seed))


def numpy_rng(seed: int, *keys: int) -> np.random.Generator:
    """A NumPy generator for the stream named by ``seed`` and ``keys``.

    ``numpy_rng(s)`` equals ``default_rng(s)``; keys name sub-streams (a worker, a layer)
    through NumPy's ``SeedSequence(seed, spawn_key=keys)``, so every key tuple, zeros
    included, gives its own stream. (``default_rng((s, 0))`` would not: NumPy drops trailing
    zero words of the entropy, so it equals ``default_rng(s)``.)
    """
    parts = (seed, *keys)
    if any(not _is_int(p) or p < 0 for p in parts):
        raise ValueError(f"seed and keys must be non-negative ints, got {parts!r}")
    if not keys:
        return np.random.default_rng(int(seed))
    return np.random.default_rng(np.random.SeedSequence(int(seed),
                                                        spawn_key=tuple(int(k) for k in keys)))


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

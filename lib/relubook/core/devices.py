"""The compute device: a GPU when present, else the CPU."""

from __future__ import annotations

import os

__all__ = ["default_device"]



def default_device() -> "torch.device":  # noqa: F821
    """``cuda`` if available (and ``RELUBOOK_DEVICE`` does not say otherwise), else ``cpu``."""
    import torch

    want = os.environ.get("RELUBOOK_DEVICE")
    if want:
        return torch.device(want)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

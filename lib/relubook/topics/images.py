"""Offline stand-in images (scikit-image) and the image metrics PSNR and SSIM."""

from __future__ import annotations

import numpy as np

__all__ = ["STAND_INS", "stand_in", "disc_mask", "psnr", "ssim"]


#: Stand-in images: name -> what it replaces in the paper.
STAND_INS = {"camera": "cameraman (signal representation)",
             "phantom": "chest CT slice (CT reconstruction)",
             "astronaut": "butterfly (super-resolution)"}


def stand_in(name: str, size: int) -> np.ndarray:
    """A scikit-image picture resized (anti-aliased) to ``size×size``, float32 in [0, 1],
    shape ``(size, size, C)`` (C = 1 or 3). ``phantom`` is masked to the inscribed disc."""
    from skimage import data
    from skimage.transform import resize

    if name not in STAND_INS:
        raise ValueError(f"unknown stand-in image {name!r}; valid: {tuple(STAND_INS)}")
    if size < 4:
        raise ValueError(f"size must be >= 4, got {size}")
    if name == "camera":
        img = data.camera() / 255.0
    elif name == "astronaut":
        img = data.astronaut() / 255.0
    else:
        img = data.shepp_logan_phantom()
    out = resize(img, (size, size), anti_aliasing=True).astype(np.float32)
    if name == "phantom":
        out = out * disc_mask(size)
    out = np.clip(out, 0.0, 1.0)
    return out[..., None] if out.ndim == 2 else out


def disc_mask(size: int) -> np.ndarray:
    """1 inside the disc of radius S//2 about pixel (S//2, S//2): the region where
    scikit-image's ``radon(circle=True)`` requires the image to live."""
    c = size // 2
    y, x = np.mgrid[:size, :size]
    return (((x - c) ** 2 + (y - c) ** 2) <= c ** 2).astype(np.float32)


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    """PSNR = 10·log10(1/MSE) for images in [0, 1] (no clipping of ``x``)."""
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    if x.shape != ref.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {ref.shape}")
    mse = float(np.mean((x - ref) ** 2))
    return float("inf") if mse == 0 else -10.0 * np.log10(mse)


def ssim(x: np.ndarray, ref: np.ndarray) -> float:
    """scikit-image's SSIM with ``data_range=1`` (channels on the last axis)."""
    from skimage.metrics import structural_similarity

    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    if x.shape != ref.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {ref.shape}")
    if x.ndim == 3 and x.shape[-1] == 1:
        x, ref = x[..., 0], ref[..., 0]
    kw = {"channel_axis": 2} if x.ndim == 3 else {}
    return float(structural_similarity(x, ref, data_range=1.0, **kw))

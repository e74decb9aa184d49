"""Forward operators of the INR chapter: a differentiable Radon transform (CT), filtered
back-projection (the classical CT baseline) and the ×s box-average operator of super-resolution.

The Radon transform rotates the image once per angle θ (bilinear, zero padding, about the
centre) and sums over rows, as the paper's CT code does; here in plain torch: the sampling
grid comes from ``affine_grid``, and the bilinear samples summed over rows are applied as one
precomputed sparse matrix (or by ``grid_sample``), so that gradients flow to the image. The sinogram has shape
``(n_angles, S)`` per image and follows scikit-image's ``radon`` orientation.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["angles", "Radon", "radon_gap", "fbp", "box_down", "bicubic_up",
           "measurements_per_pixel"]



def angles(n_angles: int) -> np.ndarray:
    """``n_angles`` projection angles in degrees, ``linspace(0, 180, n, endpoint=False)``."""
    if n_angles < 1:
        raise ValueError(f"need at least one angle, got {n_angles}")
    return np.linspace(0.0, 180.0, n_angles, endpoint=False)


class Radon:
    """Differentiable parallel-beam Radon transform of square ``S×S`` images.

    ``Radon(S, theta)(img)`` maps images ``(..., S, S)`` to sinograms ``(..., n_angles, S)``:
    entry ``[a, j]`` is the sum over rows of the image rotated by ``theta[a]`` degrees,
    evaluated at column ``j``, rotating about pixel ``(S//2, S//2)``: scikit-image's convention,
    so that it agrees with ``skimage.transform.radon(circle=True)`` up to float rounding.

    ``method="sparse"`` (default) applies the transform as one sparse matrix, built once from
    the same sampling grid and bilinear weights as ``grid_sample`` (zero padding, summed over
    rows), with its transpose for the gradient: the same linear map, several times faster on
    a CPU than ``method="grid"``, which calls ``grid_sample`` every time.
    """

    def __init__(self, size: int, theta: Sequence[float], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, method: str = "sparse"):
        if size < 2:
            raise ValueError(f"image size must be >= 2, got {size}")
        th = torch.as_tensor(np.deg2rad(np.asarray(theta, dtype=np.float64)))
        if th.ndim != 1 or len(th) == 0:
            raise ValueError("theta must be a non-empty 1-D sequence of angles in degrees")
        cos, sin = torch.cos(th), torch.sin(th)
        # rotation about pixel (S//2, S//2), scikit-image's centre, in affine_grid's normalised
        # coordinates u = 2p/(S-1) - 1: output u samples the input at R(u - u0) + u0, with
        # R = [[cos, sin], [-sin, cos]] as in skimage's warp (so sinograms agree with its radon)
        u0 = 2 * (size // 2) / (size - 1) - 1
        tx = u0 - (cos + sin) * u0
        ty = u0 - (-sin + cos) * u0
        M = torch.stack([torch.stack([cos, sin, tx], 1), torch.stack([-sin, cos, ty], 1)], 1)
        if method not in ("sparse", "grid"):
            raise ValueError(f"unknown method {method!r}; valid: 'sparse', 'grid'")
        self.size, self.n_angles, self.method = size, len(th), method
        grid64 = F.affine_grid(M, [len(th), 1, size, size], align_corners=True)
        self.grid = grid64.to(dtype=dtype, device=device)
        if method == "sparse":
            A = _bilinear_matrix(grid64, size)
            with warnings.catch_warnings():           # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self._A = A.to(dtype=dtype, device=device).to_sparse_csr()
                self._At = A.t().coalesce().to(dtype=dtype, device=device).to_sparse_csr()

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        S = self.size
        if img.shape[-2:] != (S, S):
            raise ValueError(f"Radon expects images (..., {S}, {S}), got {tuple(img.shape)}")
        lead = img.shape[:-2]
        if self.method == "sparse":
            x = img.reshape(-1, S * S).to(self.grid.dtype).t()          # (S², m)
            sino = _SparseApply.apply(x, self._A, self._At)               # (nA·S, m)
            return sino.t().reshape(*lead, self.n_angles, S)
        x = img.reshape(1, -1, S, S).to(self.grid.dtype).expand(self.n_angles, -1, S, S)
        rot = F.grid_sample(x, self.grid, mode="bilinear", padding_mode="zeros",
                            align_corners=True)                  # (nA, m, S, S)
        sino = rot.sum(dim=2)                                    # sum over rows: (nA, m, S)
        return sino.permute(1, 0, 2).reshape(*lead, self.n_angles, S)


def _bilinear_matrix(grid: torch.Tensor, size: int) -> torch.Tensor:
    """The sparse ``(nA·S, S²)`` matrix of "bilinear sample at ``grid``, zero padding, sum over
    rows": ``grid`` is ``affine_grid``'s ``(nA, S, S, 2)`` (x, y) in [−1, 1], corners aligned."""
    nA = grid.shape[0]
    S = size
    g = grid.to(torch.float64)
    px, py = (g[..., 0] + 1) * (S - 1) / 2, (g[..., 1] + 1) * (S - 1) / 2    # (nA, rows, cols)
    x0, y0 = torch.floor(px), torch.floor(py)
    wx, wy = px - x0, py - y0
    row = (torch.arange(nA).view(nA, 1, 1) * S + torch.arange(S).view(1, 1, S)).expand(nA, S, S)
    rows, cols, vals = [], [], []
    for dy, dx, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                      (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        xi, yi = (x0 + dx).long(), (y0 + dy).long()
        ok = (xi >= 0) & (xi < S) & (yi >= 0) & (yi < S) & (w != 0)
        rows.append(row[ok])
        cols.append((yi * S + xi)[ok])
        vals.append(w[ok])
    idx = torch.stack([torch.cat(rows), torch.cat(cols)])
    return torch.sparse_coo_tensor(idx, torch.cat(vals), (nA * S, S * S),
                                   check_invariants=False).coalesce()


class _SparseApply(torch.autograd.Function):
    """y = A x with the precomputed transpose for the backward pass (both CSR)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, A: torch.Tensor, At: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.At = At
        return torch.sparse.mm(A, x.contiguous())

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        return torch.sparse.mm(ctx.At, g.contiguous()), None, None


def radon_gap(image: np.ndarray, theta: Sequence[float]) -> float:
    """max |R(image) − skimage.radon(image)| / max |skimage.radon(image)|, in float64: how far
    :class:`Radon` is from scikit-image's ``radon(circle=True)`` on a square image that vanishes
    outside its inscribed disc (rounding only, when the rotation centre and orientation agree)."""
    from skimage.transform import radon

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"radon_gap needs a square 2-D image, got shape {image.shape}")
    theta = np.asarray(theta, dtype=np.float64)
    ours = Radon(image.shape[0], theta, dtype=torch.float64)(torch.from_numpy(image)).numpy()
    ref = radon(image, theta=theta, circle=True).T
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def fbp(image: np.ndarray, theta: Sequence[float]) -> np.ndarray:
    """Filtered back-projection (ramp filter) from scikit-image's own ``radon`` of ``image`` at
    ``theta``: the classical CT reference (not an INR; its own discretisation)."""
    from skimage.transform import iradon, radon

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"fbp needs a square 2-D image, got shape {image.shape}")
    sino = radon(image, theta=np.asarray(theta), circle=True)
    return iradon(sino, theta=np.asarray(theta), filter_name="ramp",
                  output_size=image.shape[0], circle=True)


def box_down(img: torch.Tensor, factor: int) -> torch.Tensor:
    """The ×``factor`` super-resolution forward model: ``factor×factor`` box averages.

    ``img`` has shape ``(..., H, W, C)`` with H, W multiples of ``factor``; returns
    ``(..., H/factor, W/factor, C)``."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    *lead, H, W, C = img.shape
    if H % factor or W % factor:
        raise ValueError(f"image {H}x{W} is not a multiple of the factor {factor}")
    x = img.reshape(-1, H, W, C).permute(0, 3, 1, 2)
    y = F.avg_pool2d(x, factor)
    return y.permute(0, 2, 3, 1).reshape(*lead, H // factor, W // factor, C)


def bicubic_up(img: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic ×``factor`` up-sampling of an ``(h, w, C)`` image (``align_corners=False``)."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    x = torch.as_tensor(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)[None]
    y = F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)
    return y[0].permute(1, 2, 0).numpy()


def measurements_per_pixel(n_angles: int, size: int) -> float:
    """Sinogram entries per unknown inside the inscribed disc: nA·S / (π S²/4)."""
    return n_angles * size / (math.pi * size ** 2 / 4)

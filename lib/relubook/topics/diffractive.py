r"""Diffractive deep neural networks (D2NN): phase masks and angular-spectrum propagation.

A scalar field :math:`U\in\mathbb C^{N\times N}` with pixel pitch :math:`\Delta` travels a
distance :math:`z` through free space by the angular-spectrum method,

.. math:: U_z=\mathcal F^{-1}\big[\mathcal F[U]\cdot H_z\big],\qquad
          H_z(f_x,f_y)=\exp\!\Big(i2\pi z\sqrt{\lambda^{-2}-f_x^2-f_y^2}\Big)
          \ \text{for}\ f_x^2+f_y^2<\lambda^{-2},\ 0\ \text{otherwise},

on the FFT grid of a zero-padded window of :math:`M=N+2p` pixels (frequencies spaced
:math:`1/(M\Delta)`; :func:`transfer_function`, :func:`propagate`). The field is placed in the
first :math:`N\times N` pixels of the window and the same pixels are read back, which equals
centred padding by :math:`p` on each side (propagation commutes with circular shifts). Light
that leaves the :math:`N\times N` aperture is lost, as at a finite mask; light wraps around
the window only if it travels more than :math:`2p` pixels sideways, which
:meth:`Geometry.max_shift_px` bounds (the steepest plane wave on the grid,
:math:`\sin\theta=\lambda\sqrt2/(2\Delta)`, moves :math:`z\tan\theta` sideways).

A phase mask multiplies the field by :math:`e^{i\varphi}` with a trainable
:math:`\varphi\in\mathbb R^{N\times N}`. The multi-task network of :func:`forward` (the book's
reading of Li et al., Sci. Rep. 2021) has ``S`` shared masks, then a 50/50 split of the field
into ``T`` branches (amplitude :math:`1/\sqrt T` each), each with its own mask and detector
plane. Detectors are square regions; a region's signal is its summed intensity
:math:`\sum|U|^2` (:func:`detector_masks`, :func:`region_powers`), and the logits are the
signals as fractions of the plane's detected power, times a temperature (:func:`logits`).

Free propagation conserves energy (:math:`|H_z|=1` on propagating frequencies), is reciprocal
(its kernel is even, so the propagation matrix is symmetric: the field at :math:`b` from a point
source at :math:`a` equals the field at :math:`a` from a source at :math:`b`), composes
(:math:`H_{z_1}H_{z_2}=H_{z_1+z_2}`), and spreads a Gaussian beam of waist :math:`w_0` as
:math:`w(z)=w_0\sqrt{1+(z/z_R)^2}`, :math:`z_R=\pi w_0^2/\lambda` (paraxial closed form:
:func:`gaussian_width`, measured by :func:`beam_width`).

Task data on the grid: :func:`embed` puts an image patch at the grid's centre; :func:`upsample`
enlarges 8×8 digits by pixel repetition; :func:`draw_shapes` renders the book's synthetic
second task, ten classes of procedurally drawn shapes (:data:`SHAPES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "PITCH",
    "SHAPES",
    "WAVELENGTH",
    "Geometry",
    "beam_width",
    "class_layout",
    "detector_masks",
    "draw_shapes",
    "embed",
    "forward",
    "gaussian_field",
    "gaussian_width",
    "logits",
    "propagate",
    "region_powers",
    "torchoptics_propagate",
    "transfer_function",
    "upsample",
]

#: Wavelength (m): 532 nm, the green laser of the group's D2NN framework's examples.
WAVELENGTH = 532e-9
#: Pixel pitch of the masks (m): 36 µm, as in the same examples.
PITCH = 36e-6

#: The ten classes of the synthetic second task.
SHAPES = ("disc", "ring", "square", "frame", "triangle", "plus", "cross", "hbar", "vbar",
          "two dots")


@dataclass(frozen=True)
class Geometry:
    r"""The optical geometry: ``n`` × ``n`` masks of pitch ``pitch`` (m), ``distance`` (m)
    between successive planes, wavelength ``wavelength`` (m), and ``pad`` zero pixels on each
    side of the propagation window (``n_fft = n + 2 pad``)."""

    n: int
    pad: int
    distance: float
    pitch: float = PITCH
    wavelength: float = WAVELENGTH

    def __post_init__(self) -> None:
        if not (isinstance(self.n, int) and self.n >= 2 and isinstance(self.pad, int)
                and self.pad >= 0):
            raise ValueError(f"need an int n >= 2 and pad >= 0, got n={self.n!r}, "
                             f"pad={self.pad!r}")
        if not (self.distance > 0 and self.pitch > 0 and self.wavelength > 0):
            raise ValueError("distance, pitch and wavelength must be positive")
        if self.wavelength >= math.sqrt(2) * self.pitch:
            raise ValueError("the pitch must exceed wavelength/sqrt(2): otherwise part of the "
                             "grid's spectrum is evanescent")

    @property
    def n_fft(self) -> int:
        return self.n + 2 * self.pad

    def max_shift_px(self) -> float:
        r"""Sideways travel, in pixels, of the steepest plane wave on the grid over one
        ``distance``: :math:`z\tan\theta/\Delta` with :math:`\sin\theta=\lambda/(\sqrt2\Delta)`
        (the grid's corner frequency). Wrap-around is impossible while it is at most ``2 pad``.
        """
        s = self.wavelength / (math.sqrt(2) * self.pitch)
        return self.distance * s / math.sqrt(1 - s * s) / self.pitch

    def fresnel_number(self) -> float:
        r""":math:`(N\Delta)^2/(\lambda z)` of the mask aperture over one ``distance``."""
        return (self.n * self.pitch) ** 2 / (self.wavelength * self.distance)


def transfer_function(n_fft: int, pitch: float, wavelength: float, z: float,
                      dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    r"""The angular-spectrum transfer function :math:`H_z(f_x,f_y)` on the FFT grid.

    Computed in float64 (the phase :math:`2\pi z/\lambda` is of order :math:`10^5` rad) and
    cast to ``dtype``; evanescent frequencies (:math:`f_x^2+f_y^2\ge\lambda^{-2}`) are zero.

    Shape:
        - Output: ``(n_fft, n_fft)``, in ``torch.fft.fftfreq`` order (axis 0: y, axis 1: x).
    """
    f = torch.fft.fftfreq(n_fft, d=pitch, dtype=torch.float64)
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    arg = wavelength ** -2 - fx ** 2 - fy ** 2
    phase = 2 * math.pi * z * torch.sqrt(arg.clamp(min=0.0))
    h = torch.where(arg > 0, torch.polar(torch.ones_like(phase), phase),
                    torch.zeros((), dtype=torch.complex128))
    return h.to(dtype)


def propagate(u: torch.Tensor, h: torch.Tensor, crop: bool = True) -> torch.Tensor:
    r"""Free-space propagation :math:`U\mapsto\mathcal F^{-1}[\mathcal F[U]\,H]` of a batch of
    fields, zero-padded to ``h``'s window.

    Parameters
    ----------
    u
        Complex fields, ``(..., N, N)`` with ``N`` at most the window ``M``.
    h
        A transfer function from :func:`transfer_function`, ``(M, M)``.
    crop
        Return the ``N × N`` aperture (the light outside it is lost); with ``crop=False`` the
        whole ``M × M`` window (a unitary map when nothing is evanescent).

    Shape:
        - u: ``(..., N, N)``
        - Output: ``(..., N, N)``, or ``(..., M, M)`` without ``crop``
    """
    n, m = u.shape[-1], h.shape[-1]
    if u.shape[-2] != n or h.shape[-2] != m or n > m:
        raise ValueError(f"need square fields no larger than the window, got {tuple(u.shape)} "
                         f"and a window of {tuple(h.shape)}")
    out = torch.fft.ifft2(torch.fft.fft2(u, s=(m, m)) * h)
    return out[..., :n, :n] if crop else out


def forward(x: torch.Tensor, shared: torch.Tensor, branch: torch.Tensor, h: torch.Tensor,
            propagated: bool = False) -> torch.Tensor:
    r"""Detector-plane intensities of a batch of multi-task D2NNs.

    :math:`U_0=x` (amplitude, phase 0); :math:`U\leftarrow P(U)\,e^{i\varphi_s}` for each
    shared mask :math:`s=1..S`; then :math:`U\leftarrow P(U)/\sqrt T` is split into ``T``
    branches, each :math:`|P(U\,e^{i\psi_t})|^2` at its detector plane (``P``:
    :func:`propagate` by the layer distance, the same between every pair of planes).

    Parameters
    ----------
    x
        Input amplitudes (real or complex), shared by every network ``(B, N, N)`` or one batch
        per network ``(n_nets, B, N, N)``; with ``propagated=True``, already propagated to the
        first mask (that step has no parameters, so a data set can be propagated once).
    shared, branch
        Phases (rad) of the shared masks and of the branch masks.

    Shape:
        - x: ``(B, N, N)`` or ``(n_nets, B, N, N)``
        - shared: ``(n_nets, S, N, N)``
        - branch: ``(n_nets, T, N, N)``
        - Output: ``(n_nets, B, T, N, N)``, real
    """
    if shared.dim() != 4 or branch.dim() != 4 or shared.shape[0] != branch.shape[0]:
        raise ValueError(f"shared and branch phases must be (n_nets, layers, N, N) with the "
                         f"same n_nets, got {tuple(shared.shape)} and {tuple(branch.shape)}")
    u = x if x.is_complex() else x.to(h.dtype)
    if not propagated:
        u = propagate(u, h)
    if u.dim() == 3:
        u = u.unsqueeze(0)
    for s in range(shared.shape[1]):
        if s > 0:
            u = propagate(u, h)
        u = u * torch.polar(torch.ones_like(shared[:, s, None]), shared[:, s, None])
    t = branch.shape[1]
    u = propagate(u, h).unsqueeze(2) * (1.0 / math.sqrt(t))
    u = u * torch.polar(torch.ones_like(branch[:, None]), branch[:, None])
    u = propagate(u, h)
    return u.real ** 2 + u.imag ** 2


def class_layout(n_classes: int = 10) -> list[tuple[float, float]]:
    r"""Centres ``(row, col)`` of the class regions, as fractions of the plane's side: the
    3-4-3 layout of the original D2NN for ten classes (rows at 0.3, 0.5, 0.7)."""
    if n_classes != 10:
        raise ValueError(f"the 3-4-3 layout has 10 regions, got n_classes={n_classes}")
    rows = ((0.3, (0.3, 0.5, 0.7)), (0.5, (0.2, 0.4, 0.6, 0.8)), (0.7, (0.3, 0.5, 0.7)))
    return [(r, c) for r, cols in rows for c in cols]


def detector_masks(n: int, size: int, centres: list[tuple[float, float]],
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Indicator masks of square detector regions of ``size`` pixels centred at ``centres``
    (fractions of the side, as from :func:`class_layout`); regions must not overlap.

    Shape:
        - Output: ``(R, n, n)`` with ``R = len(centres)``
    """
    masks = torch.zeros(len(centres), n, n, dtype=dtype)
    for k, (r, c) in enumerate(centres):
        r0, c0 = round(r * n - size / 2), round(c * n - size / 2)
        if r0 < 0 or c0 < 0 or r0 + size > n or c0 + size > n:
            raise ValueError(f"region {k} at ({r}, {c}) of size {size} leaves the {n}-pixel plane")
        masks[k, r0:r0 + size, c0:c0 + size] = 1
    if masks.sum(0).max() > 1:
        raise ValueError("detector regions overlap: use a smaller size")
    return masks


def region_powers(intensity: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    r"""Summed intensity :math:`\sum_{(i,j)\in R_k}|U_{ij}|^2` in each region :math:`R_k`.

    Shape:
        - intensity: ``(..., N, N)``
        - masks: ``(R, N, N)``
        - Output: ``(..., R)``
    """
    return intensity.flatten(-2) @ masks.flatten(-2).to(intensity.dtype).mT


def logits(powers: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""``temperature`` × each region's share of the detected power,
    :math:`\tau\,I_k/\sum_jI_j` (scale-free: the absolute power of an intensity detector
    carries no class information)."""
    return temperature * powers / powers.sum(-1, keepdim=True).clamp(min=1e-30)


def embed(patch: torch.Tensor, n: int) -> torch.Tensor:
    """Patches ``(..., p, p)`` placed at the centre of ``n × n`` zero planes."""
    p = patch.shape[-1]
    if patch.shape[-2] != p or p > n:
        raise ValueError(f"need square patches no larger than {n}, got {tuple(patch.shape)}")
    out = patch.new_zeros(*patch.shape[:-2], n, n)
    o = (n - p) // 2
    out[..., o:o + p, o:o + p] = patch
    return out


def upsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Pixel repetition: each pixel of ``(..., h, w)`` becomes a ``factor × factor`` block."""
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    return images.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


def _shape_mask(c: int, qx: np.ndarray, qy: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    r = np.hypot(qx, qy)
    box = np.maximum(np.abs(qx), np.abs(qy))
    if c == 0:
        return r <= 0.8
    if c == 1:
        return np.abs(r - 0.65) <= t
    if c == 2:
        return box <= 0.65
    if c == 3:
        return np.abs(box - 0.65) <= t
    if c == 4:  # apex up (row index grows downwards)
        return (qy <= 0.65) & (qy >= -0.75) & (np.abs(qx) <= 0.8 * (qy + 0.75) / 1.4)
    if c in (5, 6):
        if c == 6:
            qx, qy = (qx - qy) / math.sqrt(2), (qx + qy) / math.sqrt(2)
        return ((np.abs(qx) <= t) & (np.abs(qy) <= 0.8)) | ((np.abs(qy) <= t)
                                                          & (np.abs(qx) <= 0.8))
    if c == 7:
        return (np.abs(qy) <= 1.5 * t) & (np.abs(qx) <= 0.8)
    if c == 8:
        return (np.abs(qx) <= 1.5 * t) & (np.abs(qy) <= 0.8)
    if c == 9:
        return (np.hypot(qx - 0.45, qy) <= 0.3) | (np.hypot(qx + 0.45, qy) <= 0.3)
    raise ValueError(f"unknown shape class {c}; valid: 0..{len(SHAPES) - 1}")


def draw_shapes(labels: np.ndarray, size: int, rng: np.random.Generator, *,
                supersample: int = 4, noise: float = 0.05) -> np.ndarray:
    r"""Images of the shapes of :data:`SHAPES` (class ``labels[i]``), ``size × size``, in [0, 1].

    Each shape is drawn in coordinates :math:`q=R_{-\theta}(p-c)/s` of the patch
    :math:`p\in[-1,1]^2`, with a random scale :math:`s\in[0.6,0.95]`, centre offset
    :math:`c\in[-0.12,0.12]^2`, rotation :math:`\theta\in[-15°,15°]` and stroke half-width
    :math:`t\in[0.12,0.2]`; rendered on a ``supersample``-times finer grid and averaged
    (anti-aliasing); then Gaussian pixel noise of standard deviation ``noise`` is added and
    the result clipped to [0, 1].

    Shape:
        - labels: ``(n,)`` ints in ``0..9``
        - Output: ``(n, size, size)`` float64
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n and (labels.min() < 0 or labels.max() >= len(SHAPES)):
        raise ValueError(f"unknown shape class in labels; valid: 0..{len(SHAPES) - 1}")
    k = size * supersample
    g = (np.arange(k) + 0.5) / k * 2 - 1
    py, px = np.meshgrid(g, g, indexing="ij")
    s = rng.uniform(0.6, 0.95, n)[:, None, None]
    cx, cy = (a[:, None, None] for a in rng.uniform(-0.12, 0.12, (2, n)))
    th = np.radians(rng.uniform(-15, 15, n))[:, None, None]
    t = rng.uniform(0.12, 0.2, n)[:, None, None]
    out = np.empty((n, size, size))
    for c in range(len(SHAPES)):       # one class at a time, all its images at once
        for idx in np.array_split(np.flatnonzero(labels == c), max(1, (labels == c).sum() // 64)):
            if idx.size == 0:
                continue
            dx, dy = (px - cx[idx]) / s[idx], (py - cy[idx]) / s[idx]
            qx = np.cos(th[idx]) * dx + np.sin(th[idx]) * dy
            qy = -np.sin(th[idx]) * dx + np.cos(th[idx]) * dy
            img = _shape_mask(c, qx, qy, t[idx] / s[idx]).astype(np.float64)
            out[idx] = img.reshape(-1, size, supersample, size, supersample).mean((2, 4))
    out += noise * rng.standard_normal(out.shape)
    return np.clip(out, 0.0, 1.0)


def gaussian_field(n: int, pitch: float, w0: float, dtype: torch.dtype = torch.complex128
                   ) -> torch.Tensor:
    r"""A Gaussian beam at its waist, :math:`U=\exp(-r^2/w_0^2)`, centred on an ``n × n``
    grid (pixel centres at :math:`(i-(n-1)/2)\Delta`)."""
    x = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * pitch
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    return torch.exp(-r2 / w0 ** 2).to(dtype)


def beam_width(intensity: torch.Tensor, pitch: float) -> torch.Tensor:
    r"""The second-moment beam radius :math:`w=2\sqrt{\langle(x-\bar x)^2\rangle}` along the
    last axis (for :math:`I\propto e^{-2x^2/w^2}`, :math:`\langle x^2\rangle=w^2/4`).

    Shape:
        - intensity: ``(..., n, n)``
        - Output: ``(...)``
    """
    n = intensity.shape[-1]
    x = torch.arange(n, dtype=intensity.dtype) * pitch
    p = intensity.sum(-2)
    tot = p.sum(-1)
    mean = (p * x).sum(-1) / tot
    var = (p * (x - mean[..., None]) ** 2).sum(-1) / tot
    return 2 * var.sqrt()


def gaussian_width(z, w0: float, wavelength: float):
    r"""The paraxial Gaussian beam radius :math:`w_0\sqrt{1+(z/z_R)^2}`,
    :math:`z_R=\pi w_0^2/\lambda`."""
    zr = math.pi * w0 ** 2 / wavelength
    return w0 * np.sqrt(1 + (np.asarray(z, dtype=np.float64) / zr) ** 2)


def torchoptics_propagate(u: torch.Tensor, geometry: Geometry, z: float | None = None
                          ) -> torch.Tensor:
    r"""The same propagation by ``torchoptics`` (``Field.propagate_to_z``, method ``"ASM"``,
    ``asm_pad = pad``): the independent implementation the book compares with.

    Its data are cast to torchoptics' default dtype (complex128 unless changed globally).

    Shape:
        - u: ``(..., N, N)``
        - Output: ``(..., N, N)``
    """
    try:
        import torchoptics
    except ImportError as err:  # pragma: no cover
        raise ImportError("torchoptics is needed here: pip install torchoptics==1.0.2") from err
    z = geometry.distance if z is None else z
    field = torchoptics.Field(u, wavelength=geometry.wavelength,
                              spacing=(geometry.pitch, geometry.pitch), z=0)
    out = field.propagate_to_z(z, propagation_method="ASM",
                               asm_pad=(geometry.pad, geometry.pad))
    return out.data

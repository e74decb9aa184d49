"""Implicit neural representations with ReLUs only (Shenouda, Zhou & Nowak, 2024).

The BW-ReLU activation is the second-order B-spline wavelet written with 7 ReLUs,

.. math:: \\psi(t)=\\sum_{j=0}^{6} a_j\\,\\sigma(t-k_j),\\quad
          a=\\tfrac16(1,-8,23,-32,23,-8,1),\\quad k=(0,\\tfrac12,1,\\tfrac32,2,\\tfrac52,3),

and a BW neuron is :math:`v\\,\\psi(c(w^\\top x+b))` with one global scale ``c``.
:func:`psi_relu` is that 7-ReLU sum; :func:`psi` evaluates the identical piecewise-linear
function by a table look-up (one index, one fused multiply-add), which is what training uses.

Every model here is a *batch* of ``n`` independent networks with the same architecture,
stored as a :class:`relubook.core.mlp.StackedMLP` (weights ``(n, fan_out, fan_in)``, as
``torch.nn.Linear``); the forward pass is batched matrix products, so sweeps over ``c`` are
one tensor program. ``kind`` is one of :data:`MODELS`: ``bw`` (BW-ReLU), ``relu``, ``pe``
(ReLU + positional encoding), ``siren``,
``wire`` (complex Gabor wavelet), ``gauss``. Definitions follow the paper's code (which copies
the WIRE repository's baselines): ``L`` nonlinear layers, then one linear layer.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..core import mlp
from ..core.init import uniform, uniform_fan_in
from ..core.mlp import StackedMLP
from ..core.norms import variation_norm
from ..core.random import torch_generator
from ..core.training import adam, exp_decay

__all__ = [
    "A", "KNOTS", "SLOPES", "KNOT_VALUES", "MODELS", "psi_relu", "interval_index", "psi",
    "psi_moment", "psi_identities", "COMPILE_MIN_ELEMENTS", "compile_mode", "fused_activation",
    "Spec", "nyquist_freqs", "positional_encoding", "INR", "path_norm", "train_flops", "Fit",
    "fit", "grid", "gemm_gflops", "Shallow1D", "tv_derivative", "fit_1d",
]

#: ψ's ReLU coefficients a_j and knots k_j (fixed, never learned).
A = (1 / 6, -8 / 6, 23 / 6, -32 / 6, 23 / 6, -8 / 6, 1 / 6)
KNOTS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
#: Slopes of ψ on its 8 intervals (−∞,0], (0,½], …, (5/2,3], (3,∞).
SLOPES = (0.0, 1 / 6, -7 / 6, 8 / 3, -8 / 3, 7 / 6, -1 / 6, 0.0)
#: ψ at the knots.
KNOT_VALUES = (0.0, 1 / 12, -1 / 2, 5 / 6, -1 / 2, 1 / 12, 0.0)

#: The INR families compared.
MODELS = ("bw", "relu", "pe", "siren", "wire", "gauss")

_TABLES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _tables(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (dtype, str(device))
    if key not in _TABLES:
        right = (0.0,) + KNOT_VALUES[1:] + (0.0,)      # ψ at each interval's right knot
        _TABLES[key] = (torch.tensor(SLOPES, dtype=dtype, device=device),
                        torch.tensor(right, dtype=dtype, device=device))
    return _TABLES[key]


def psi_relu(t: torch.Tensor) -> torch.Tensor:
    """ψ(t) as the paper defines it: Σ_j a_j σ(t − k_j) (7 ReLUs)."""
    out = torch.zeros_like(t)
    for a, k in zip(A, KNOTS):
        out = out + a * torch.relu(t - k)
    return out


def interval_index(t: torch.Tensor) -> torch.Tensor:
    """Index i ∈ {0..7} of the interval of ψ holding ``t``: i = clamp(⌈2t⌉, 0, 7).

    Identical to ``torch.bucketize(t, KNOTS, right=False)`` because the knots are j/2: an exact
    knot belongs to the interval on its *left*, as in the ReLU sum (σ'(0) = 0).
    """
    return torch.ceil(2 * t).clamp_(0, 7).long()


class _ScaledPsi(torch.autograd.Function):
    """ψ(c·h) by table look-up, c of shape ``(n, 1, 1)`` (one per network, h is ``(n, …)``).

    With z = c·h and i its interval, ψ(z) = slope[i]·(z − k_i) + ψ(k_i), k_i the interval's
    right knot: two ``gather``s from tables of 8 entries and one fused multiply-add. Anchoring
    at the knot makes ψ exact (0 at t = 3, the knot values) despite fused rounding; only
    ψ'(z) is kept for the backward pass.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        slope, right = _tables(h.dtype, h.device)
        lead = h.shape[:-1] + (8,)
        z = h * c
        i_f = (z * 2).ceil_().clamp_(0, 7)               # interval index, as floats
        i = i_f.long()
        z.add_(i_f, alpha=-0.5)                          # z - k_i (k_i = i/2: its right knot)
        s = torch.gather(slope.expand(lead), -1, i)
        ctx.save_for_backward(s, c)
        return torch.addcmul(torch.gather(right.expand(lead), -1, i), s, z)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        s, c = ctx.saved_tensors
        return (g * s).mul_(c), None


def psi(t: torch.Tensor, c: float | torch.Tensor = 1.0) -> torch.Tensor:
    """ψ(c·t) through the piecewise-linear form (values and gradients equal :func:`psi_relu`).

    Parameters
    ----------
    t
        Pre-activations, any shape, floating point.
    c
        The scale c > 0: a float or a tensor broadcastable to ``t`` (one c per network).
    """
    if not torch.is_floating_point(t):
        raise ValueError(f"psi needs a floating-point tensor, got {t.dtype}")
    c = torch.as_tensor(c, dtype=t.dtype, device=t.device)
    if bool((c <= 0).any()):
        raise ValueError("the scale c must be positive")
    if c.numel() != 1:
        raise ValueError("psi takes one scalar c; INR handles one c per network")
    return _ScaledPsi.apply(t.reshape(1, 1, -1), c.reshape(1, 1, 1)).reshape(t.shape)


def psi_moment(p: int, center: float = 0.0) -> float:
    r"""The moment :math:`\int_{\mathbb R}(t-t_0)^p\,\psi(t)\,dt`, exactly (up to float64 rounding).

    ψ is linear on each of its 6 pieces between the knots and zero outside [0, 3], so the
    integrand is a polynomial of degree p + 1 on each piece, which Gauss–Legendre quadrature
    with ⌈(p + 2)/2⌉ nodes per piece integrates exactly. Closed forms: ∫ψ = ∫tψ = 0 (two
    vanishing moments) and ∫(t − 3/2)²ψ = −1/24.

    Parameters
    ----------
    p
        The order p ≥ 0.
    center
        The point t_0 about which the moment is taken.
    """
    if int(p) != p or p < 0:
        raise ValueError(f"the order p must be a non-negative integer, got {p!r}")
    nodes, weights = np.polynomial.legendre.leggauss(int(p) // 2 + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(KNOTS):
        t = 0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)          # interior points only
        y = psi(torch.as_tensor(t, dtype=torch.float64)).numpy()
        total += 0.5 * (hi - lo) * float(np.sum(weights * (t - center) ** int(p) * y))
    return total


def psi_identities(n_grid: int = 50_001) -> dict[str, float]:
    """The measured gaps of ψ's exact identities (float64), for the chapter's checks.

    On a grid of ``n_grid`` points of [−1, 4] plus the knots: the largest difference between
    :func:`psi_relu` and :func:`psi` in values and in gradients, the largest |ψ| outside
    (0, 3), the largest |ψ(3 − t) − ψ(t)|, the largest error of the knot values; the moments
    ∫ψ, ∫tψ and ∫(t − 3/2)²ψ (:func:`psi_moment`); Σ|a_j|, Σa_j and Σa_j k_j.

    Returns
    -------
    dict
        ``value_gap``, ``grad_gap``, ``outside_max``, ``symmetry_gap``, ``knot_gap``,
        ``moment0``, ``moment1``, ``moment2_centered``, ``sum_abs_a``, ``sum_a``, ``sum_ak``.
    """
    if n_grid < 2:
        raise ValueError(f"n_grid must be >= 2, got {n_grid}")
    knots = torch.tensor(KNOTS, dtype=torch.float64)
    t = torch.cat([torch.linspace(-1, 4, n_grid, dtype=torch.float64), knots])
    ta, tb = t.clone().requires_grad_(), t.clone().requires_grad_()
    ya, yb = psi_relu(ta), psi(tb)
    ya.sum().backward()
    yb.sum().backward()
    y = yb.detach()
    a, k = np.asarray(A), np.asarray(KNOTS)
    return {
        "value_gap": float((ya.detach() - y).abs().max()),
        "grad_gap": float((ta.grad - tb.grad).abs().max()),
        "outside_max": float(y[(t <= 0) | (t >= 3)].abs().max()),
        "symmetry_gap": float((psi(3 - t) - y).abs().max()),
        "knot_gap": float((psi(knots) - torch.tensor(KNOT_VALUES, dtype=torch.float64))
                          .abs().max()),
        "moment0": psi_moment(0),
        "moment1": psi_moment(1),
        "moment2_centered": psi_moment(2, 1.5),
        "sum_abs_a": float(np.abs(a).sum()),
        "sum_a": float(a.sum()),
        "sum_ak": float((a * k).sum()),
    }


# --------------------------------------------------------------------------------------------
# Fused activations (torch.compile), with an eager fallback
# --------------------------------------------------------------------------------------------
# Every hidden activation is one elementwise kernel forward and one backward once inductor
# fuses it; eager PyTorch makes one pass over the (n, P, width) tensor per operation (the
# 7-ReLU sum: about 20 forward). The fused forms compute the same definitions: BW is the
# 7-ReLU sum itself. Set RELUBOOK_COMPILE=0 to use the eager forms (the table look-up for BW).

_COMPILE = {"mode": None, "reason": "", "small": False}

#: Activations on fewer elements than this run eagerly: compiling costs about ten seconds per
#: process (even with inductor's on-disk cache), which small tensors never win back
#: (measured: break-even near 2^18 elements on 2 cores; the chapter's smoke sizes are below).
COMPILE_MIN_ELEMENTS = 2 ** 20


def compile_mode() -> str:
    """How this process evaluated the activations: ``"compiled"`` (torch.compile, inductor,
    for tensors of at least :data:`COMPILE_MIN_ELEMENTS` elements), ``"eager (<why>)"`` or
    ``"not yet used"``."""
    mode = _COMPILE["mode"]
    if mode is None:
        return ("eager (every tensor below the compile threshold)" if _COMPILE["small"]
                else "not yet used")
    if mode == "compiled":
        return "compiled" + (" (small tensors eager)" if _COMPILE["small"] else "")
    return f"eager ({_COMPILE['reason']})"


def _bw7(z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    t = z * c
    out = A[0] * torch.relu(t)
    for a, k in zip(A[1:], KNOTS[1:]):
        out = out + a * torch.relu(t - k)
    return out


def _sine(z: torch.Tensor, omega0: torch.Tensor) -> torch.Tensor:
    return torch.sin(omega0 * z)


def _gauss(z: torch.Tensor, sigma0: torch.Tensor) -> torch.Tensor:
    return torch.exp(-(sigma0 * z) ** 2)


def _gabor(a: torch.Tensor, b: torch.Tensor, omega0: torch.Tensor, sigma0: torch.Tensor):
    # exp(j w0 z - |s0 z|^2) for z = a + jb, in real arithmetic: (real part, imaginary part)
    mag = torch.exp(-((a * a + b * b) * sigma0 ** 2 + omega0 * b))
    ph = omega0 * a
    return mag * torch.cos(ph), mag * torch.sin(ph)


def _gabor_real(a: torch.Tensor, omega0: torch.Tensor, sigma0: torch.Tensor):
    mag = torch.exp(-(a * a) * sigma0 ** 2)
    ph = omega0 * a
    return mag * torch.cos(ph), mag * torch.sin(ph)


def _gabor_block(z: torch.Tensor, omega0: torch.Tensor, sigma0: torch.Tensor) -> torch.Tensor:
    # z = [Re | Im] along the last axis -> [Re | Im] of the Gabor wavelet
    a, b = z.chunk(2, dim=-1)
    return torch.cat(_gabor(a, b, omega0, sigma0), dim=-1)


def _gabor_real_block(a: torch.Tensor, omega0: torch.Tensor, sigma0: torch.Tensor
                      ) -> torch.Tensor:
    return torch.cat(_gabor_real(a, omega0, sigma0), dim=-1)


_EAGER = {"bw": lambda z, c: _ScaledPsi.apply(z, c), "siren": _sine, "gauss": _gauss,
          "wire": _gabor, "wire_real": _gabor_real, "wire_block": _gabor_block,
          "wire_real_block": _gabor_real_block}
_DEFS = dict(_EAGER, bw=_bw7)
_FUSED: dict[str, Callable] = {}


def _use_compile() -> bool:
    if _COMPILE["mode"] == "eager":
        return False
    if os.environ.get("RELUBOOK_COMPILE", "1") == "0":
        _COMPILE.update(mode="eager", reason="RELUBOOK_COMPILE=0")
        return False
    return True


def fused_activation(name: str) -> Callable:
    """The activation ``name`` (``bw``, ``siren``, ``gauss``, ``wire``, ``wire_real``,
    ``wire_block``, ``wire_real_block``) as one fused kernel (``torch.compile(dynamic=True)``), or eagerly where compiling fails.

    Tensors of fewer than :data:`COMPILE_MIN_ELEMENTS` elements take the eager form (compiling
    would not pay). The first large call compiles (seconds, once per process; inductor caches
    the kernels on disk). If compiling fails (no C compiler, an unsupported platform) the process switches to
    the eager forms with a warning, and :func:`compile_mode` says why.
    Arguments: ``bw(z, c)``, ``siren(z, omega0)``, ``gauss(z, sigma0)``,
    ``wire(re z, im z, omega0, sigma0)`` and ``wire_real(z, omega0, sigma0)`` (both return the
    real and imaginary parts), ``wire_block(z, omega0, sigma0)`` (``z = [Re | Im]`` along the
    last axis, returns the same layout) and ``wire_real_block(z, omega0, sigma0)`` (real ``z``,
    returns ``[Re | Im]``); scalars are 0-d tensors of ``z``'s dtype, ``c`` is ``(n, 1, 1)``.
    """
    if name not in _DEFS:
        raise ValueError(f"unknown activation {name!r}; valid: {tuple(_DEFS)}")
    if name in _FUSED:
        return _FUSED[name]
    eager = _EAGER[name]
    compiled: list[Callable] = []

    def call(*args):
        if args[0].numel() < COMPILE_MIN_ELEMENTS:
            _COMPILE["small"] = True
            return eager(*args)
        if not _use_compile():
            return eager(*args)
        try:
            if not compiled:
                compiled.append(torch.compile(_DEFS[name], dynamic=True, fullgraph=True))
            out = compiled[0](*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure: fall back, loudly
            reason = f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0]}"
            _COMPILE.update(mode="eager", reason=reason[:300])
            warnings.warn(f"{reason[:300]}; using the eager activations", RuntimeWarning,
                          stacklevel=2)
            return eager(*args)
        _COMPILE["mode"] = "compiled"
        return out

    _FUSED[name] = call
    return call


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """Architecture of one INR family.

    ``c`` is BW's scale (one per network of the batch), ``freqs`` the PE's F,
    ``omega0``/``sigma0`` SIREN's/WIRE's/Gauss's ω0 and σ0.
    """

    kind: str
    width: int
    layers: int = 3
    c: tuple[float, ...] = (1.0,)
    freqs: int = 0
    omega0: float = 30.0
    sigma0: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in MODELS:
            raise ValueError(f"unknown INR kind {self.kind!r}; valid: {MODELS}")
        if self.width < 2 or self.layers < 1:
            raise ValueError(f"need width >= 2 and layers >= 1, got {self.width}, {self.layers}")
        if any(ci <= 0 for ci in self.c):
            raise ValueError(f"the scales c must be positive, got {self.c}")
        if self.freqs < 0:
            raise ValueError(f"freqs must be >= 0, got {self.freqs}")

    @property
    def n(self) -> int:
        """Number of networks in the batch (one per c for BW, else 1)."""
        return len(self.c) if self.kind == "bw" else 1

    @property
    def hidden(self) -> int:
        """Hidden width: ⌊w/√2⌋ for WIRE (complex weights, same real parameter count)."""
        return int(self.width / math.sqrt(2)) if self.kind == "wire" else self.width


def nyquist_freqs(n_samples: int) -> int:
    """PE frequencies F = ⌊log2(N/4)⌋ (the "Nyquist" rule of the WIRE/relu-inrs code)."""
    if n_samples < 4:
        raise ValueError(f"need N >= 4 samples for positional encoding, got {n_samples}")
    return int(math.floor(math.log2(n_samples / 4)))


def positional_encoding(x: torch.Tensor, freqs: int) -> torch.Tensor:
    """γ(x) = [x, sin(2^i π x_j), cos(2^i π x_j)]_{i<F}: shape (P, d(1+2F))."""
    parts = [x]
    for i in range(freqs):
        parts += [torch.sin((2 ** i) * math.pi * x), torch.cos((2 ** i) * math.pi * x)]
    return torch.cat(parts, dim=-1)


class INR(nn.Module):
    """A batch of ``spec.n`` coordinate networks x ∈ [−1,1]^d → R^{d_out}.

    ``forward(x)`` maps coordinates of shape ``(P, d)`` to outputs of shape ``(n, P, d_out)``.
    Weights ``W_l`` have shape ``(n, fan_out, fan_in)`` and biases ``(n, fan_out)``; every
    network of the batch starts from the same draw of ``generator`` (seeded by ``seed``).
    """

    def __init__(self, spec: Spec, d_in: int, d_out: int, seed: int = 0,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        super().__init__()
        if d_in < 1 or d_out < 1:
            raise ValueError(f"need d_in, d_out >= 1, got {d_in}, {d_out}")
        self.spec, self.d_in, self.d_out = spec, d_in, d_out
        g = torch_generator(int(seed))
        n, w, L = spec.n, spec.hidden, spec.layers
        first = d_in * (1 + 2 * spec.freqs) if spec.kind == "pe" else d_in
        dims = [first] + [w] * L + [d_out]
        cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for l in range(L + 1):
            fi, fo = dims[l], dims[l + 1]
            cplx = spec.kind == "wire" and l > 0
            bound = 1 / math.sqrt(fi)                       # nn.Linear's default
            if spec.kind == "siren":
                bound = 1 / fi if l == 0 else math.sqrt(6 / fi) / spec.omega0
            # one draw, repeated: every network of the batch (e.g. every c) starts the same;
            # drawn as (fan_in, fan_out), the paper code's order, stored as (fan_out, fan_in)
            W = _uniform((1, fi, fo), bound, g, cplx).transpose(1, 2).repeat(n, 1, 1)
            b = _uniform((1, fo), 1 / math.sqrt(fi), g, cplx).repeat(n, 1)
            self.weights.append(nn.Parameter(W.to(device=device, dtype=cdtype if cplx else dtype)))
            self.biases.append(nn.Parameter(b.to(device=device, dtype=cdtype if cplx else dtype)))
        self.register_buffer("c", torch.tensor(spec.c if spec.kind == "bw" else (1.0,),
                                               dtype=dtype, device=device).view(-1, 1, 1))
        self.register_buffer("omega0", torch.tensor(spec.omega0, dtype=dtype, device=device))
        self.register_buffer("sigma0", torch.tensor(spec.sigma0, dtype=dtype, device=device))

    def n_params(self) -> int:
        """Real parameters of ONE network of the batch (a complex weight counts twice)."""
        tot = 0
        for p in self.parameters():
            tot += p[0].numel() * (2 if p.is_complex() else 1)
        return tot

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        """The hidden activation of ``spec.kind`` (BW: ψ(c·z) with each network's own c)."""
        k = self.spec.kind
        if k == "bw":
            return fused_activation("bw")(z, self.c)
        if k in ("relu", "pe"):
            return torch.relu(z)
        om, sg = self.omega0, self.sigma0
        if k == "siren":
            return fused_activation("siren")(z, om)
        if k == "gauss":
            return fused_activation("gauss")(z, sg)
        # wire: exp(j ω0 z − |σ0 z|²) = exp(−ω0 Im z − σ0²|z|²)·(cos ω0 Re z + j sin ω0 Re z),
        # evaluated in real arithmetic (about twice as fast as the complex exp on CPU)
        if z.is_complex():
            re, im = fused_activation("wire")(z.real, z.imag, om, sg)
        else:
            re, im = fused_activation("wire_real")(z, om, sg)
        return torch.complex(re, im)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"coordinates must have shape (P, {self.d_in}), got {tuple(x.shape)}")
        if self.spec.kind == "pe":
            x = positional_encoding(x, self.spec.freqs)
        if self.spec.kind == "wire":
            return self._wire_forward(x)
        h = mlp.forward(self.net(), x, act=self.activation)
        return h.real if h.is_complex() else h

    def _wire_forward(self, x: torch.Tensor) -> torch.Tensor:
        """WIRE in real arithmetic: a complex layer z = W h + b on h = [Re h | Im h] is one real
        product with the block matrix [[Re W, −Im W], [Im W, Re W]] (the same multiply-adds as
        the complex product, at the speed of a real GEMM); the output is the real part."""
        om, sg = self.omega0, self.sigma0
        W0, b0 = self.weights[0], self.biases[0]
        h = fused_activation("wire_real_block")(
            torch.baddbmm(b0.unsqueeze(-2), x.expand(W0.shape[0], -1, -1), W0.transpose(-1, -2)),
            om, sg)
        last = len(self.weights) - 1
        for l in range(1, last + 1):
            W, b = self.weights[l], self.biases[l]
            top = torch.cat([W.real, -W.imag], dim=-1)                 # (n, fo, 2 fi)
            if l == last:
                return torch.baddbmm(b.real.unsqueeze(-2), h, top.transpose(-1, -2))
            block = torch.cat([top, torch.cat([W.imag, W.real], dim=-1)], dim=-2)
            bias = torch.cat([b.real, b.imag], dim=-1).unsqueeze(-2)
            h = fused_activation("wire_block")(torch.baddbmm(bias, h, block.transpose(-1, -2)),
                                               om, sg)
        raise AssertionError("unreachable")

    def net(self) -> StackedMLP:
        """The parameters as a :class:`StackedMLP` (the same tensors, no copy)."""
        return StackedMLP(list(self.weights), list(self.biases))


def _uniform(shape: tuple, bound: float, g: torch.Generator, cplx: bool) -> torch.Tensor:
    u = uniform(shape, bound, g)
    if cplx:  # real and imaginary parts each uniform, as torch's uniform_ on cfloat
        return torch.complex(u, uniform(shape, bound, g))
    return u


@torch.no_grad()
def path_norm(model: INR) -> torch.Tensor:
    """Monitoring path norm of each BW network of the batch, shape ``(n,)``.

    PN = c · Σ_{l=1..L} Σ_k ‖W_l[k,:]‖₂ · ‖W_{l+1}[:,k]‖₂ (in-weights of neuron k of layer l
    times its out-weights; W_{L+1} is the output layer): c times
    :func:`relubook.core.norms.variation_norm`, the sum of the layers' shallow variation norms.
    Like the paper's code it omits ψ's factor Σ|a_j| = 16, which does not
    change an argmin over c. For a shallow net, 16·PN bounds (in 1-D equals) TV(f').
    """
    if model.spec.kind != "bw":
        raise ValueError(f"path_norm is defined for BW networks, got kind {model.spec.kind!r}")
    return model.c.view(-1) * variation_norm(list(model.weights))


def train_flops(model: INR, n_points: int) -> float:
    """FLOPs of one full-batch training step: 3 × the 2·P·Σ fan_in·fan_out of the forward GEMMs
    (complex multiply-adds count 4 real ones), for all ``n`` networks of the batch."""
    tot = 0.0
    for W in model.weights:
        tot += 2.0 * n_points * W[0].numel() * (4 if W.is_complex() else 1)
    return 3.0 * tot * model.spec.n


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

@dataclass
class Fit:
    """Result of :func:`fit`: last-iterate images ``(n, H, W, C)`` and per-iteration history.

    ``loss[t]``, ``psnr[t]`` and ``pn[t]`` (shape ``(iters, n)``) are measured at the model
    after ``t`` updates (before update t+1); ``image`` is after the last update.
    """

    image: np.ndarray
    loss: np.ndarray
    psnr: np.ndarray | None
    pn: np.ndarray | None
    seconds: float                  # training time, the first update (compiling) excluded
                                    # and the rest scaled to all updates
    flops_per_step: float
    n_params: int
    model: INR = field(repr=False)


def fit(spec: Spec, shape: tuple[int, int, int], target: torch.Tensor, *, iters: int, lr: float,
        horizon: int | None = None, decay: float = 0.1,
        operator: Callable[[torch.Tensor], torch.Tensor] | None = None,
        truth: torch.Tensor | None = None, track_norm: bool = False, seed: int = 0,
        stop: Callable[[int, np.ndarray], bool] | None = None,
        device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Fit:
    """Train a batch of INRs full-batch with Adam and MSE on ``operator(image)`` vs ``target``.

    Parameters
    ----------
    spec
        The architecture (``spec.n`` networks are trained at once, independently).
    shape
        Image shape ``(H, W, C)``; coordinates are ``linspace(-1,1)`` grids (``indexing='xy'``).
    target
        The data: ``operator(image)[i]`` is compared with it for every network ``i``.
    iters, lr, horizon, decay
        Adam steps with learning rate lr·decay^min(t/T,1), T = ``horizon`` (default ``iters``).
    operator
        Forward model mapping images ``(n, H, W, C)`` to data (default: identity).
    truth
        Ground-truth image ``(H, W, C)``: when given, image PSNR is recorded every iteration.
    track_norm
        Record :func:`path_norm` every iteration (BW only).
    stop
        ``stop(t, losses)``, called with the data losses ``(n,)`` of the model after t updates:
        when it returns True, training ends there, before update t (e.g. the equal-fit rule,
        ``lambda t, l: (l <= target).all()``). The histories then have t + 1 rows and
        ``image`` is that model; ``iters`` is the cap.
    """
    if iters < 1 or lr <= 0:
        raise ValueError(f"need iters >= 1 and lr > 0, got {iters}, {lr}")
    height, width_px, channels = shape
    op = operator or (lambda img: img)
    coords = grid(height, width_px, device=device, dtype=dtype)
    model = INR(spec, 2, channels, seed=seed, dtype=dtype, device=device)
    target = target.to(device=device, dtype=dtype)
    if truth is not None:
        truth = truth.to(device=device, dtype=dtype)
    n = spec.n
    loss_h = np.empty((iters, n))
    psnr_h = np.empty((iters, n)) if truth is not None else None
    pn_h = np.empty((iters, n)) if track_norm else None

    def losses(t: int):
        img = model(coords).view(n, height, width_px, channels)
        return ((op(img) - target) ** 2).flatten(1).mean(dim=1), img

    def record(t: int, per: torch.Tensor, img: torch.Tensor) -> None:
        loss_h[t] = per.cpu().numpy()
        if truth is not None:
            mse = ((img - truth) ** 2).flatten(1).mean(dim=1)
            psnr_h[t] = (-10 * torch.log10(mse)).cpu().numpy()
        if track_norm:
            pn_h[t] = path_norm(model).cpu().numpy()

    clock = [time.perf_counter(), 0]

    def after(t: int) -> None:          # the clock starts after the first update (compiling)
        if t == 0:
            clock[:] = [time.perf_counter(), 1]

    done = adam(model.parameters(), losses, iters, lr,
                schedule=exp_decay(lr, horizon or iters, decay), record=record, after=after,
                stop=None if stop is None else (lambda t, per, img: stop(t, loss_h[t])))
    if done < iters:                 # stopped before update `done`: the model recorded there
        rows = done + 1
        loss_h = loss_h[:rows]
        psnr_h = None if psnr_h is None else psnr_h[:rows]
        pn_h = None if pn_h is None else pn_h[:rows]
    timed = done - clock[1]                  # updates after the clock started
    seconds = (time.perf_counter() - clock[0]) * (done / timed if timed > 0 else 1.0)
    with torch.no_grad():
        img = model(coords).view(n, height, width_px, channels).cpu().numpy().astype(np.float64)
    return Fit(img, loss_h, psnr_h, pn_h, seconds, train_flops(model, height * width_px),
               model.n_params(), model)


def grid(height: int, width_px: int, device: torch.device | str = "cpu",
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel coordinates (x, y) on ``linspace(-1,1,width_px) × linspace(-1,1,height)``,
    row-major.

    Shape:
        returns ``(height * width_px, 2)``.
    """
    if height < 1 or width_px < 1:
        raise ValueError(f"grid needs positive sizes, got {height}x{width_px}")
    xs = torch.linspace(-1, 1, width_px, dtype=dtype, device=device)
    ys = torch.linspace(-1, 1, height, dtype=dtype, device=device)
    X, Y = torch.meshgrid(xs, ys, indexing="xy")
    return torch.stack([X.reshape(-1), Y.reshape(-1)], dim=1)


def gemm_gflops(m: int, k: int, n: int, repeats: int = 20, dtype=torch.float32,
                device: torch.device | str = "cpu") -> float:
    """Achieved GFLOP/s of an (m×k)@(k×n) matrix product (best of ``repeats``)."""
    a = torch.randn(m, k, dtype=dtype, device=device)
    b = torch.randn(k, n, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * k * n / best / 1e9


# --------------------------------------------------------------------------------------------
# 1-D illustration: one hidden BW layer with a linear skip,
# f(x) = Σ_k v_k ψ(c(w_k x + b_k)) + αx + β
# --------------------------------------------------------------------------------------------

@dataclass
class Shallow1D:
    """Parameters of ``n`` 1-D BW networks (float64): ``w, b, v`` (n, K); ``alpha, beta, c``
    (n,)."""

    w: np.ndarray
    b: np.ndarray
    v: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    c: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """f(x) for every network: shape (n, len(x))."""
        x = np.asarray(x, dtype=np.float64)
        z = self.c[:, None, None] * (self.w[:, None, :] * x[None, :, None] + self.b[:, None, :])
        psi_v = psi(torch.from_numpy(z)).numpy()
        return (psi_v * self.v[:, None, :]).sum(-1) + self.alpha[:, None] * x + self.beta[:, None]

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """f'(x) = α + Σ_k v_k c w_k ψ'(c(w_k x + b_k)) (ψ' from the slope table), (n, len(x))."""
        x = np.asarray(x, dtype=np.float64)
        z = self.c[:, None, None] * (self.w[:, None, :] * x[None, :, None] + self.b[:, None, :])
        dpsi = np.asarray(SLOPES)[interval_index(torch.from_numpy(z)).numpy()]
        slope = (self.c[:, None] * self.v * self.w)[:, None, :]
        return (dpsi * slope).sum(-1) + self.alpha[:, None]

    def kinks(self) -> np.ndarray:
        """Knot locations x = (k_j/c − b_k)/w_k of every neuron: shape (n, 7K)."""
        k = np.asarray(KNOTS)
        return ((k[None, None, :] / self.c[:, None, None] - self.b[:, :, None])
                / self.w[:, :, None]).reshape(len(self.c), -1)

    def norm_bound(self) -> np.ndarray:
        """16·c·Σ_k |v_k||w_k|: the variation norm implied by the 7-ReLU form, shape (n,)."""
        return 16 * self.c * (np.abs(self.v) * np.abs(self.w)).sum(-1)

    def with_c(self, c: Sequence[float]) -> "Shallow1D":
        """The same weights with other scales c."""
        return Shallow1D(self.w, self.b, self.v, self.alpha, self.beta,
                         np.asarray(c, dtype=np.float64))


def tv_derivative(net: Shallow1D, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """TV(f') on [lo, hi] (default: all of R), exactly: f' is piecewise constant, so sum
    |f'(m_{i+1}) − f'(m_i)| over one point m_i inside each interval between sorted kinks."""
    out = np.empty(len(net.c))
    ks = net.kinks()
    for i in range(len(net.c)):
        k = np.sort(ks[i])
        a = k[0] - 1.0 if lo is None else lo
        z = k[-1] + 1.0 if hi is None else hi
        pts = np.concatenate([[a], k[(k > a) & (k < z)], [z]])
        mids = 0.5 * (pts[1:] + pts[:-1])
        one = Shallow1D(net.w[i:i + 1], net.b[i:i + 1], net.v[i:i + 1], net.alpha[i:i + 1],
                        net.beta[i:i + 1], net.c[i:i + 1])
        d = one.derivative(mids)[0]
        out[i] = np.abs(np.diff(d)).sum()
    return out


def fit_1d(x: np.ndarray, y: np.ndarray, cs: Sequence[float], width: int = 100,
           iters: int = 1500, lr: float = 5e-3, seed: int = 0) -> tuple[Shallow1D, np.ndarray]:
    """Fit ``len(cs)`` 1-D BW networks (one per c, same init) to (x, y) by full-batch Adam on
    the MSE, in float64. Returns the trained networks and the loss history (iters, n).
    Init: ``nn.Linear`` defaults, U(±1) for the hidden layer (fan_in 1), U(±1/√K) for v."""
    if len(cs) < 1 or width < 1 or iters < 1:
        raise ValueError("need at least one c, width >= 1 and iters >= 1")
    n = len(cs)
    g = torch_generator(int(seed))
    w0, b0 = uniform((1, width), 1.0, g), uniform((1, width), 1.0, g)
    v0 = uniform_fan_in((1, width), width, g)
    a0, be0 = uniform((1,), 1.0, g), uniform((1,), 1.0, g)
    P = [nn.Parameter(p.repeat(n, *([1] * (p.ndim - 1))).clone()) for p in (w0, b0, v0, a0, be0)]
    w, b, v, al, be = P
    c = torch.tensor(list(cs), dtype=torch.float64).view(n, 1, 1)
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    hist = np.empty((iters, n))

    def losses(t: int):
        h = w[:, None, :] * xt[None, :, None] + b[:, None, :]
        f = (_ScaledPsi.apply(h, c) * v[:, None, :]).sum(-1) + al[:, None] * xt + be[:, None]
        return ((f - yt) ** 2).mean(dim=1), None

    def record(t: int, per: torch.Tensor, _aux) -> None:
        hist[t] = per.numpy()

    adam(P, losses, iters, lr, record=record)
    det = [p.detach().numpy().copy() for p in P]
    return Shallow1D(det[0], det[1], det[2], det[3], det[4], np.asarray(cs, float)), hist

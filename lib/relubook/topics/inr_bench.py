"""The cost of one INR training step: the book's models against the paper code's formulation.

For every INR family of :mod:`relubook.topics.bw_inr` a *step* is one full-batch Adam update
on the MSE of a ``size × size`` image (forward, backward, update), as :func:`bw_inr.fit` does
it. Three programs are timed with interleaved repetitions in one process:

* **book** — :class:`bw_inr.INR` (batched weights, fused activations from
  :func:`bw_inr.fused_activation`, WIRE's complex layers as real block products), Adam
  ``foreach``;
* **paper** — :class:`PaperINR`, the formulation of the paper's code (which copies the WIRE
  repository's baselines): ``nn.Linear`` layers, eager PyTorch, the activations as written
  there (BW: the 7-ReLU sum :func:`paper_psi` term by term; WIRE: ``cfloat`` layers and the
  complex exponential), ``torch.optim.Adam`` with its defaults;
* **GEMM** — only the matrix products of that step, at the same shapes: for a layer with
  ``fan_in`` inputs and ``fan_out`` outputs on ``P`` pixels, the forward product
  ``(P × fan_in)(fan_in × fan_out)``, the weight gradient and (except in the first layer) the
  input gradient. A complex layer counts as the real product with doubled sides (the same
  multiply-adds).

``% of GEMM`` is the GEMM time over the step time: the share of the step spent at matrix
product speed (100 % means the activations, the loss and Adam cost nothing).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
import torch.nn as nn

from . import bw_inr as inr

__all__ = ["paper_psi", "PaperINR", "gemm_shapes", "step_program", "gemm_program", "Row",
           "benchmark", "format_table"]


def paper_psi(t: torch.Tensor) -> torch.Tensor:
    """ψ(t) written as in the paper's code: seven ReLU terms, each its own eager operation."""
    return ((1 / 6) * torch.relu(t) - (8 / 6) * torch.relu(t - 0.5)
            + (23 / 6) * torch.relu(t - 1) - (16 / 3) * torch.relu(t - 1.5)
            + (23 / 6) * torch.relu(t - 2) - (8 / 6) * torch.relu(t - 2.5)
            + (1 / 6) * torch.relu(t - 3))


class _Layer(nn.Module):
    def __init__(self, spec: inr.Spec, fan_in: int, fan_out: int, cplx: bool, first: bool):
        super().__init__()
        self.spec, self.first = spec, first
        self.linear = nn.Linear(fan_in, fan_out, dtype=torch.cfloat if cplx else torch.float)
        if spec.kind == "siren":                       # SIREN's own initialisation
            bound = 1 / fan_in if first else math.sqrt(6 / fan_in) / spec.omega0
            with torch.no_grad():
                self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, lin = self.spec, self.linear(x)
        if s.kind == "bw":
            return paper_psi(s.c[0] * lin)
        if s.kind in ("relu", "pe"):
            return torch.relu(lin)
        if s.kind == "siren":
            return torch.sin(s.omega0 * lin)
        if s.kind == "gauss":
            return torch.exp(-(s.sigma0 * lin) ** 2)
        return torch.exp(1j * s.omega0 * lin - (s.sigma0 * lin).abs().square())


class PaperINR(nn.Module):
    """One INR as the paper's code builds it: ``L`` × [``nn.Linear`` → activation] →
    ``nn.Linear``; PE encodes the input first; WIRE's hidden and output layers are ``cfloat``
    and its output is the real part.

    Shape:
        ``forward(x)``: ``(P, d_in)`` → ``(P, d_out)``.
    """

    def __init__(self, spec: inr.Spec, d_in: int, d_out: int):
        super().__init__()
        self.spec = spec
        first = d_in * (1 + 2 * spec.freqs) if spec.kind == "pe" else d_in
        dims = [first] + [spec.hidden] * spec.layers
        wire = spec.kind == "wire"
        self.hidden = nn.Sequential(*[_Layer(spec, dims[i], dims[i + 1], wire and i > 0, i == 0)
                                      for i in range(spec.layers)])
        self.out = nn.Linear(dims[-1], d_out, dtype=torch.cfloat if wire else torch.float)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.kind == "pe":
            x = inr.positional_encoding(x, self.spec.freqs)
        y = self.out(self.hidden(x))
        return y.real if y.is_complex() else y


def gemm_shapes(spec: inr.Spec, d_in: int, d_out: int) -> list[tuple[int, int, bool]]:
    """``(fan_in, fan_out, complex)`` of every layer of one network of ``spec``."""
    first = d_in * (1 + 2 * spec.freqs) if spec.kind == "pe" else d_in
    dims = [first] + [spec.hidden] * spec.layers + [d_out]
    return [(dims[i], dims[i + 1], spec.kind == "wire" and i > 0) for i in range(len(dims) - 1)]


def step_program(kind: str, formulation: str, spec: inr.Spec, size: int, lr: float = 1e-3,
                 seed: int = 0) -> Callable[[], None]:
    """One training step of ``formulation`` (``"book"`` or ``"paper"``) as a closure."""
    x = inr.grid(size, size)
    target = torch.rand(size * size, 1, generator=torch.Generator().manual_seed(seed))
    if formulation == "book":
        model = inr.INR(spec, 2, 1, seed=seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)   # as core.training

        def step() -> None:
            per = ((model(x) - target) ** 2).flatten(1).mean(dim=1)
            opt.zero_grad(set_to_none=True)
            per.sum().backward()
            opt.step()
    elif formulation == "paper":
        torch.manual_seed(seed)
        net = PaperINR(spec, 2, 1)
        opt = torch.optim.Adam(net.parameters(), lr=lr)

        def step() -> None:
            loss = ((net(x) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        raise ValueError(f"unknown formulation {formulation!r}; valid: 'book', 'paper'")
    return step


def gemm_program(shapes: Sequence[tuple[int, int, bool]], n_pixels: int,
                 seed: int = 0) -> Callable[[], None]:
    """The matrix products of one training step at ``shapes`` (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    mats = []
    for i, (fi, fo, cplx) in enumerate(shapes):
        k, m = (2 * fi, 2 * fo) if cplx else (fi, fo)
        mats.append((torch.randn(n_pixels, k, generator=g), torch.randn(m, k, generator=g),
                     torch.randn(n_pixels, m, generator=g), i > 0))

    def run() -> None:
        for x, w, grad, needs_input_grad in mats:
            torch.mm(x, w.t())
            torch.mm(grad.t(), x)
            if needs_input_grad:
                torch.mm(grad, w)
    return run


@dataclass(frozen=True)
class Row:
    """Median milliseconds per step of the three programs, and the first book step's extra
    seconds (compilation)."""

    kind: str
    shape: str
    book_ms: float
    paper_ms: float
    gemm_ms: float
    compile_s: float

    @property
    def speedup(self) -> float:
        """Paper formulation's step time over the book's."""
        return self.paper_ms / self.book_ms

    @property
    def gemm_share(self) -> float:
        """The book's step at GEMM speed: GEMM time / step time."""
        return self.gemm_ms / self.book_ms

    @property
    def ceiling(self) -> float:
        """The largest possible speed-up with the same GEMMs: paper step / GEMM time."""
        return self.paper_ms / self.gemm_ms

    def as_dict(self) -> dict:
        return dict(asdict(self), speedup=self.speedup, gemm_share=self.gemm_share,
                    ceiling=self.ceiling)


def benchmark(kinds: Sequence[str] = inr.MODELS, size: int = 128, width: int = 128,
              layers: int = 3, reps: int = 10, c: float = 9.0,
              progress: Callable[[str], None] | None = None) -> list[Row]:
    """Time the book's step, the paper formulation's step and their GEMMs for every kind.

    Repetitions are interleaved (kind by kind, program by program, ``reps`` rounds) so that a
    change in the machine's load reaches all programs alike; each time is the median.
    """
    if reps < 1 or size < 4 or width < 2:
        raise ValueError(f"need reps >= 1, size >= 4, width >= 2; got {reps}, {size}, {width}")
    progs, compile_s = {}, {}
    for kind in kinds:
        spec = inr.Spec(kind, width, layers, (c,), inr.nyquist_freqs(size) if kind == "pe" else 0,
                        *((20.0, 30.0) if kind == "wire" else (30.0, 10.0)))
        book = step_program(kind, "book", spec, size)
        t0 = time.perf_counter()
        book()                                              # compiles where it compiles
        first = time.perf_counter() - t0
        progs[kind] = (book, step_program(kind, "paper", spec, size),
                       gemm_program(gemm_shapes(spec, 2, 1), size * size))
        for p in progs[kind][1:]:
            p()                                             # warm-up
        t0 = time.perf_counter()
        book()
        compile_s[kind] = max(first - (time.perf_counter() - t0), 0.0)
    times = {kind: ([], [], []) for kind in kinds}
    for r in range(reps):
        if progress is not None:
            progress(f"round {r + 1}/{reps}")
        for kind in kinds:
            for prog, out in zip(progs[kind], times[kind]):
                t0 = time.perf_counter()
                prog()
                out.append(time.perf_counter() - t0)
    return [Row(kind, f"{size}x{size}, w{width}, L{layers}",
                *(1e3 * statistics.median(t) for t in times[kind]), compile_s[kind])
            for kind in kinds]


def format_table(rows: Sequence[Row]) -> str:
    """The benchmark as a plain-text table (the shape once, above the rows, when all share it)."""
    same = len({r.shape for r in rows}) == 1
    head = (f"{'model':<7}{'book ms':>9}{'paper ms':>10}{'speed-up':>10}{'GEMM ms':>9}"
            f"{'% GEMM':>8}{'ceiling':>9}{'compile s':>11}")
    lines = ([f"one training step at {rows[0].shape}"] if same else []) + [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.kind:<7}{r.book_ms:9.1f}{r.paper_ms:10.1f}{r.speedup:9.2f}x"
                     f"{r.gemm_ms:9.1f}{r.gemm_share:8.0%}{r.ceiling:8.2f}x{r.compile_s:11.1f}"
                     + ("" if same else f"  {r.shape}"))
    return "\n".join(lines)

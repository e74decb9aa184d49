"""The INR chapter's experiments: every model of a task trained on one budget, scored once.

A *task* is an image (the truth), its data (the truth seen through a forward operator) and
that operator: ``representation`` (identity), ``ct`` (Radon transform, few angles) or ``sr``
(×4 box average). :func:`compare` trains BW-ReLU (one batched run over its c values) and each
baseline with the same iterations, schedule, seed, depth and coordinates, each with its own
documented learning rate (:data:`LR`), and scores the last iterate with PSNR and SSIM.
:func:`gaps` gives BW-ReLU's margins over each group of baselines. :func:`equal_fit_sweep` runs
the paper's equal-fit protocol (every c trained until its data loss reaches one target), and
:func:`selection_check` reads the selection rule there: the minimum-path-norm c must be the
best-PSNR c.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..topics import bw_inr as inr
from ..topics import images

__all__ = ["LR", "WIRE", "TASKS", "NAMES", "settings", "Result", "score", "compare", "table",
           "best", "pick", "Gaps", "gaps", "EqualFit", "equal_fit", "equal_fit_sweep",
           "Selection", "selection_check", "cost_ratio", "psnr_texts", "sweep_texts",
           "sweep_table", "timing_table", "grid_layout", "plot_grid", "PAPER_SETTINGS",
           "paper_cost", "paper_estimate", "require_paper_scale", "benchmark_summary"]

#: Per-model Adam learning rates (BW: the paper; baselines: their own recommended values).
LR = {"bw": 3e-3, "relu": 1e-3, "pe": 1e-3, "siren": 1e-3, "wire": 5e-3, "gauss": 1e-3}
#: WIRE's (ω0, σ0) per task: WIRE's own recommendations (representation, CT) and the
#: relu-inrs command recorded for SR (which also uses lr 1e-2).
WIRE = {"representation": (20.0, 30.0), "ct": (10.0, 10.0), "sr": (8.0, 6.0)}
TASKS = tuple(WIRE)
NAMES = {"bw": "BW-ReLU", "relu": "ReLU", "pe": "ReLU+PE", "siren": "SIREN", "wire": "WIRE",
         "gauss": "Gauss"}


def settings(kind: str, task: str, width: int, side: int, cs: Sequence[float] = (1.0,),
             layers: int = 3) -> tuple[inr.Spec, float]:
    """The architecture and learning rate of model ``kind`` on ``task`` (images side ``side``)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {TASKS}")
    lr = LR[kind] if kind in LR else None
    if lr is None:
        raise ValueError(f"unknown model {kind!r}; valid: {tuple(LR)}")
    om, sg = 30.0, 10.0                                  # SIREN ω0; Gauss σ0 ("scale")
    if kind == "wire":
        om, sg = WIRE[task]
        lr = 1e-2 if task == "sr" else lr
    freqs = inr.nyquist_freqs(side) if kind == "pe" else 0
    return inr.Spec(kind, width, layers, tuple(cs) if kind == "bw" else (1.0,), freqs, om, sg), lr


@dataclass
class Result:
    """One trained model scored against the truth (PSNR/SSIM of the raw last iterate)."""

    name: str
    kind: str
    c: float | None
    image: np.ndarray
    psnr: float
    ssim: float
    curve: np.ndarray | None = None          # image PSNR per iteration
    loss: np.ndarray | None = None           # data loss per iteration
    pn: np.ndarray | None = None             # path norm per iteration (BW)
    seconds: float = 0.0
    flops: float = 0.0                       # per training step, this model alone
    n_params: int = 0
    lr: float | None = None
    extra: dict = field(default_factory=dict)


def score(name: str, image: np.ndarray, truth: np.ndarray, kind: str = "classical") -> Result:
    """A :class:`Result` for a non-trained reconstruction (FBP, bicubic)."""
    image = np.asarray(image, np.float64).reshape(truth.shape)
    return Result(name, kind, None, image, images.psnr(image, truth), images.ssim(image, truth))


def compare(task: str, kinds: Sequence[str], truth: np.ndarray, data: torch.Tensor, *,
            operator: Callable[[torch.Tensor], torch.Tensor] | None, iters: int, width: int,
            cs: Sequence[float] = (1.0,), seed: int = 0, horizon: int | None = None,
            track_norm: bool = False, device: torch.device | str = "cpu") -> list[Result]:
    """Train every model of ``kinds`` on (``data``, ``operator``) and score it against ``truth``.

    BW-ReLU is trained once for all of ``cs`` (a batch of networks with the same init).
    Returns one :class:`Result` per network, in the order of ``kinds`` (and of ``cs``).
    """
    truth = np.asarray(truth, np.float64)
    if truth.ndim != 3:
        raise ValueError(f"truth must be (H, W, C), got shape {truth.shape}")
    height, width_px, channels = truth.shape
    out = []
    for kind in kinds:
        spec, lr = settings(kind, task, width, max(height, width_px), cs)
        f = inr.fit(spec, (height, width_px, channels), data, iters=iters, lr=lr, horizon=horizon,
                    operator=operator, truth=torch.as_tensor(truth), seed=seed,
                    track_norm=track_norm and kind == "bw", device=device)
        out += _results(kind, spec, f, truth, lr)
    return out


def _results(kind: str, spec: inr.Spec, f: inr.Fit, truth: np.ndarray, lr: float) -> list[Result]:
    out = []
    for i in range(spec.n):
        c = spec.c[i] if kind == "bw" else None
        name = NAMES[kind] + (f" c={c:g}" if c is not None else "")
        out.append(Result(name, kind, c, f.image[i], images.psnr(f.image[i], truth),
                          images.ssim(f.image[i], truth), f.psnr[:, i], f.loss[:, i],
                          None if f.pn is None else f.pn[:, i], f.seconds / spec.n,
                          f.flops_per_step / spec.n, f.n_params, lr))
    return out


def table(results: Sequence[Result], digits: int = 2) -> str:
    """A plain-text PSNR/SSIM table."""
    rows = [f"{'model':<16}{'PSNR (dB)':>10}{'SSIM':>8}"]
    for r in results:
        rows.append(f"{r.name:<16}{r.psnr:>10.{digits}f}{r.ssim:>8.3f}")
    return "\n".join(rows)


def best(results: Sequence[Result], kinds: Sequence[str]) -> float:
    """Highest PSNR among results of the given kinds (−inf if none ran)."""
    vals = [r.psnr for r in results if r.kind in kinds]
    return max(vals) if vals else float("-inf")


def pick(results: Sequence[Result], kind: str, c: float | None = None) -> Result:
    """The result of model ``kind`` (and scale ``c`` for BW)."""
    for r in results:
        if r.kind == kind and (c is None or r.c == c):
            return r
    raise KeyError(f"no result for {kind!r} (c={c})")


@dataclass(frozen=True)
class Gaps:
    """PSNR of BW-ReLU at the task's c (``bw``) and its margin in dB over the best model of
    each group of baselines (``nan`` where no model of the group ran)."""

    bw: float
    relu: float
    pe: float
    siren_wire: float


def gaps(results: Sequence[Result], c: float) -> Gaps:
    """The margins of BW-ReLU (scale ``c``) over ReLU, ReLU+PE and the better of SIREN/WIRE."""
    bw = pick(results, "bw", c).psnr

    def gap(kinds: Sequence[str]) -> float:
        b = best(results, kinds)
        return float("nan") if b == float("-inf") else bw - b

    return Gaps(bw, gap(["relu"]), gap(["pe"]), gap(["siren", "wire"]))


def cost_ratio(results: Sequence[Result], kind: str, ref: str = "bw") -> float | None:
    """Seconds per training step of model ``kind`` over that of ``ref`` (None if either is
    missing); batched BW runs count their per-network share."""
    a = [r.seconds for r in results if r.kind == kind]
    b = [r.seconds for r in results if r.kind == ref]
    if not a or not b or min(b) <= 0:
        return None
    return float(a[0] / b[0])


@dataclass
class EqualFit:
    """Outcome of the equal-fit sweep for one c: the first iteration whose data loss reaches
    the target (None if it missed within the cap), and PSNR/PN there (else at the cap)."""

    c: float
    reached: bool
    iteration: int
    loss: float
    psnr: float
    pn: float


def equal_fit(result_per_c: Sequence[Result], target: float) -> list[EqualFit]:
    """Stop each run where its data loss first falls to ``target`` (the paper's stopping rule,
    applied to recorded histories); runs that never reach it are read at their last iterate."""
    out = []
    for r in result_per_c:
        if r.loss is None or r.pn is None or r.curve is None:
            raise ValueError("equal_fit needs loss, path-norm and PSNR histories")
        hit = np.flatnonzero(r.loss <= target)
        t = int(hit[0]) if len(hit) else len(r.loss) - 1
        out.append(EqualFit(float(r.c), bool(len(hit)), t, float(r.loss[t]), float(r.curve[t]),
                            float(r.pn[t])))
    return out


def equal_fit_sweep(truth: np.ndarray, data: torch.Tensor, *,
                    operator: Callable[[torch.Tensor], torch.Tensor], cs: Sequence[float],
                    ref_c: float, ref_iters: int, cap: int, width: int, seed: int = 0,
                    device: torch.device | str = "cpu") -> tuple[list[Result], float]:
    """The equal-fit protocol of the paper's Fig. 7, with an explicit stopping rule.

    BW-ReLU with scale ``ref_c`` trains ``ref_iters`` iterations; its data loss there is the
    target. Every other c then trains from the same initialisation, with the same schedule
    (horizon ``ref_iters``), until its data loss first reaches the target, or ``cap``
    iterations. Each c is its own run, so a fast c stops early and costs only its iterations.

    Returns
    -------
    (results, target)
        One :class:`Result` per c, in the order of ``cs``, with loss, PSNR and path-norm
        histories up to its stop (the ``ref_c`` run: ``ref_iters + 1`` rows, its last one the
        model after ``ref_iters`` updates); and the target loss.
    """
    cs = [float(c) for c in cs]
    if float(ref_c) not in cs:
        raise ValueError(f"the reference c = {ref_c} must be one of the swept c {cs}")
    if not 1 <= ref_iters <= cap:
        raise ValueError(f"need 1 <= ref_iters <= cap, got {ref_iters}, {cap}")
    truth = np.asarray(truth, np.float64)
    shape = truth.shape
    kw = {"operator": operator, "truth": torch.as_tensor(truth), "seed": seed,
          "track_norm": True, "horizon": ref_iters, "device": device}

    def run(c: float, iters: int, stop) -> Result:
        spec, lr = settings("bw", "ct", width, max(shape[:2]), (c,))
        f = inr.fit(spec, shape, data, iters=iters, lr=lr, stop=stop, **kw)
        return _results("bw", spec, f, truth, lr)[0]

    ref = run(float(ref_c), ref_iters + 1, lambda t, loss: t >= ref_iters)
    target = float(ref.loss[-1])
    out = {float(ref_c): ref}
    for c in cs:
        if c not in out:
            out[c] = run(c, cap, lambda t, loss: bool((loss <= target).all()))
    return [out[c] for c in cs], target


@dataclass(frozen=True)
class Selection:
    """The paper's selection rule read at equal fit.

    ``n_reached`` of ``n_total`` values of c reached the target; among those, ``c_pn`` has
    the smallest path norm and ``c_psnr`` the highest PSNR; ``psnr_gap`` is PSNR(c_pn) −
    PSNR(c_psnr) (0 when the minimum-norm c is the best, negative otherwise); ``steps`` is
    the distance between c_pn and c_psnr in the swept grid."""

    n_reached: int
    n_total: int
    c_pn: float | None
    c_psnr: float | None
    psnr_gap: float
    steps: int | None
    missed: tuple[float, ...] = ()

    @property
    def rule_gap(self) -> float:
        """``psnr_gap`` when every swept c reached the common fit, else NaN: the paper's rule
        compares values of c that fit the data equally well, so with a c missing it is not
        applied (and a check on this value fails)."""
        return self.psnr_gap if self.n_reached == self.n_total else float("nan")


def selection_check(fits: Sequence[EqualFit]) -> Selection:
    """Among the c that reached the common target, the minimum-path-norm c and the best-PSNR c.

    The paper's rule holds when argmin PN = argmax PSNR, i.e. ``psnr_gap == 0``, with every
    c at the target (:attr:`Selection.rule_gap`); it fails when a c with a larger norm
    reconstructs better. With no c at the target nothing is selected (``psnr_gap`` −inf)."""
    grid = [f.c for f in fits]
    ok = [f for f in fits if f.reached]
    missed = tuple(f.c for f in fits if not f.reached)
    if not ok:
        return Selection(0, len(fits), None, None, float("-inf"), None, missed)
    f_pn = ok[int(np.argmin([f.pn for f in ok]))]
    f_ps = ok[int(np.argmax([f.psnr for f in ok]))]
    return Selection(len(ok), len(fits), f_pn.c, f_ps.c, f_pn.psnr - f_ps.psnr,
                     abs(grid.index(f_pn.c) - grid.index(f_ps.c)), missed)


def psnr_texts(prefix: str, results: Sequence[Result],
               models: Sequence[tuple[str, float | None]]) -> dict[str, str]:
    """Each model's PSNR as text for the chapter's prose, keyed ``psnr_<prefix>_<kind>[<c>]``
    (e.g. ``psnr_ct_bw3``); ``"not run"`` for a model the profile skipped."""
    out = {}
    for kind, c in models:
        key = f"psnr_{prefix}_{kind}" + ("" if c is None else f"{c:g}")
        hit = [r for r in results if r.kind == kind and (c is None or r.c == c)]
        out[key] = f"{hit[0].psnr:.1f}" if hit else "not run"
    return out


def sweep_texts(fits: Sequence[EqualFit], grid: Sequence[float], cap: int) -> dict[str, str]:
    """The equal-fit sweep as text for the chapter's prose, for every c of ``grid`` (the full
    profile's): ``c4_it_c<c>`` (iterations to the target, or the miss), ``c4_pn_c<c>`` and
    ``c4_psnr_c<c>``; ``"not run"`` for a c the profile did not sweep."""
    by_c = {f.c: f for f in fits}
    out = {}
    for c in grid:
        f = by_c.get(float(c))
        out[f"c4_it_c{c:g}"] = ("not run" if f is None else str(f.iteration) if f.reached
                                else f"missed (cap {cap})")
        out[f"c4_pn_c{c:g}"] = "not run" if f is None else f"{f.pn:.0f}"
        out[f"c4_psnr_c{c:g}"] = "not run" if f is None else f"{f.psnr:.1f}"
    return out


def sweep_table(fits: Sequence[EqualFit]) -> str:
    """A plain-text table of the equal-fit sweep: per c, whether and when it reached the
    target, and its data loss, PSNR and path norm there."""
    rows = [f"{'c':>4} {'reached':>8} {'iteration':>10} {'MSE':>10} {'PSNR (dB)':>10} {'PN':>8}"]
    for f in fits:
        rows.append(f"{f.c:4g} {str(f.reached):>8} {f.iteration:10d} {f.loss:10.3e} "
                    f"{f.psnr:10.2f} {f.pn:8.1f}")
    return "\n".join(rows)


def timing_table(results: Sequence[Result], iters: int, n_pixels: int, gemm: float) -> str:
    """Seconds per training step, pixel·iterations per second and achieved GFLOP/s (also as a
    fraction of a bare GEMM's ``gemm`` GFLOP/s) of each trained model."""
    rows = [f"{'model':<16}{'ms/iter':>9}{'Mpix*it/s':>11}{'GFLOP/s':>9}{'of GEMM':>9}"]
    for r in results:
        per = r.seconds / iters
        gf = r.flops / per / 1e9
        rows.append(f"{r.name:<16}{per * 1e3:9.1f}{n_pixels / per / 1e6:11.2f}{gf:9.2f}"
                    f"{gf / gemm:9.0%}")
    return "\n".join(rows)


def grid_layout(n_panels: int, max_cols: int = 6) -> tuple[int, int]:
    """``(blocks, ncols)`` of a reconstruction grid: ``n_panels`` images (the truth first) in
    blocks of at most ``max_cols`` columns, as few blocks as possible, balanced in width."""
    if n_panels < 1 or max_cols < 1:
        raise ValueError(f"n_panels and max_cols must be >= 1; got {n_panels}, {max_cols}")
    blocks = -(-n_panels // max_cols)
    return blocks, -(-n_panels // blocks)


def plot_grid(truth: np.ndarray, results: Sequence[Result], title: str, err_max: float = 0.25,
              max_cols: int = 6):
    """Reconstructions with each method's absolute-error map directly below it, truth first.

    The panels run in blocks of at most ``max_cols`` columns (a row of reconstructions over a
    row of error maps), so that the titles stay legible at the text-column width; the slot
    under the ground truth is left empty. One colour bar serves every error map. Images are
    shown clipped to [0, 1] for display only; errors are on the raw output. Each image axes
    is labelled (``Axes.get_label()``) ``"reconstruction: <name>"`` or ``"error: <name>"``.
    """
    from ..core import plotting

    panels = [("ground truth", truth, None)] + [
        (r.name, r.image, f"{r.psnr:.1f} dB\nSSIM {r.ssim:.2f}") for r in results]
    blocks, ncols = grid_layout(len(panels), max_cols)
    side = plotting.TEXT_WIDTH / (ncols + 0.9)           # an image's side, inches
    fig, ax = plotting.figure(ncols, 2 * blocks, height=blocks * (2 * side + 0.6) + 0.3)
    gray = truth.shape[-1] == 1
    show = lambda x: np.clip(x[..., 0] if gray else x, 0, 1)  # noqa: E731
    im = None
    for k, (name, image, scores) in enumerate(panels):
        b, j = divmod(k, ncols)
        top, bottom = ax[2 * b, j], ax[2 * b + 1, j]
        top.imshow(show(image), cmap="gray" if gray else None, vmin=0, vmax=1)
        top.set_title(name if scores is None else f"{name}\n{scores}",
                      fontsize=plotting.MIN_FONT_PT)
        top.set_label(f"reconstruction: {name}")
        if scores is None:                               # the truth: no error map
            bottom.set_label("empty")
            continue
        err = np.abs(image - truth).mean(-1)
        im = bottom.imshow(err, cmap="inferno", vmin=0, vmax=err_max)
        bottom.set_label(f"error: {name}")
    for a in ax.ravel():
        a.set_xticks([]), a.set_yticks([])
        a.grid(False)
        a.spines[:].set_visible(True)
        if a.get_label() == "empty" or not a.get_label():
            a.axis("off")
    if im is not None:
        fig.colorbar(im, ax=ax.ravel().tolist(), shrink=0.9 if blocks == 1 else 0.6, aspect=25,
                     label="|error| (maps under the images)")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------
# The paper's scale (the chapter's `paper` setting) and the committed benchmark
# --------------------------------------------------------------------------------------------

#: The paper's sizes, widths and iteration counts, as overrides of the chapter's full settings
#: (stand-in images at the paper's sizes: 256² for the 256² cameraman, 256² HR for the
#: butterfly, a 256² phantom with the paper's 0.31 projections per pixel for the chest slice).
PAPER_SETTINGS = {
    "iters": 1000, "rep_size": 256, "rep_width": 300,
    "sr_iters": 2000, "sr_size": 256, "sr_width": 256,
    "ct_iters": 10000, "ct_size": 256, "ct_angles": 80, "ct_width": 300,
    "sweep_size": 256, "sweep_angles": 80, "sweep_width": 300, "sweep_ref": 10000,
    "sweep_cap": 100000,
}


def paper_cost(cfg: dict) -> float:
    """Training steps of the run ``cfg`` in units of one BW network's step at the
    representation size (pixel counts and width² scale a step; WIRE counts twice; the
    equal-fit sweep counts its reference budget once per c, a lower bound)."""
    def unit(size: int, width: int) -> float:
        return (size / cfg["rep_size"]) ** 2 * (width / cfg["rep_width"]) ** 2

    total = 0.0
    for task, iters in (("rep", cfg["iters"]), ("sr", cfg.get("sr_iters", cfg["iters"])),
                        ("ct", cfg.get("ct_iters", cfg["iters"]))):
        models = list(cfg[f"{task}_models"])
        n = sum(2.0 if k == "wire" else 1.0 for k in models if k != "bw")
        n += len(cfg.get(f"{task}_cs", [1.0])) if "bw" in models else 0.0
        total += n * iters * unit(cfg[f"{task}_size"], cfg[f"{task}_width"])
    total += len(cfg["sweep_cs"]) * cfg["sweep_ref"] * unit(cfg["sweep_size"],
                                                            cfg["sweep_width"])
    return total


def paper_estimate(cfg: dict, device: torch.device | str = "cpu", probe_steps: int = 3
                   ) -> tuple[float, float]:
    """(seconds per BW step at the representation size, estimated seconds for ``cfg``) from a
    short timed probe: ``probe_steps`` Adam steps after one warm-up step."""
    size, width = cfg["rep_size"], cfg["rep_width"]
    spec = inr.Spec("bw", width, 3, (9.0,))
    target = torch.zeros(size, size, 1)
    t0 = 0.0

    def stop(t: int, loss: np.ndarray) -> bool:
        nonlocal t0
        if t == 1:
            t0 = time.perf_counter()
        return t > probe_steps

    inr.fit(spec, (size, size, 1), target, iters=probe_steps + 2, lr=1e-3, stop=stop,
            device=device)
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / probe_steps
    return per, per * paper_cost(cfg)


def require_paper_scale(cfg: dict, device: torch.device | str) -> float:
    """Stop at once on a CPU: the paper's scale is for a GPU. Returns the estimated seconds.

    Raises
    ------
    RuntimeError
        On a CPU, with the estimated run time from a short probe.
    """
    per, total = paper_estimate(cfg, device)
    if not str(device).startswith("cuda"):
        raise RuntimeError(
            f"the paper profile needs a GPU: on this {device} device one BW-ReLU step at "
            f"{cfg['rep_size']}x{cfg['rep_size']}, width {cfg['rep_width']} takes "
            f"{per:.2f} s, so the whole run would take about {total / 3600:.1f} h "
            f"(≈ {paper_cost(cfg):.3g} such steps). Run it where torch.cuda.is_available(), "
            "or use profile='full'.")
    return total


def benchmark_summary(path: str | Path) -> tuple[str, dict]:
    """The committed ``make bench`` result at ``path``: its table and the values the chapter
    quotes (BW's speed-up, ceiling and GEMM share, the goals, the machine)."""
    from ..topics import inr_bench

    data = json.loads(Path(path).read_text())
    rows = [inr_bench.Row(**{k: r[k] for k in ("kind", "shape", "book_ms", "paper_ms",
                                                 "gemm_ms", "compile_s")})
            for r in data["rows"]]
    head = (f"{data['date']}, {data['machine']}, torch {data['torch']}\n"
            f"{data['threads']} thread(s), activations {data['activations']}, "
            f"{data['reps']} interleaved rounds (medians)")
    return head + "\n" + inr_bench.format_table(rows), {
        "rows": {r.kind: r for r in rows}, "goals": data["goals"], "date": data["date"],
        "threads": data["threads"], "activations": data["activations"]}

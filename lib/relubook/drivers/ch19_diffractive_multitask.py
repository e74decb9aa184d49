r"""Chapter 19's driver: the two tasks on the grid, the batched D2NN sweep, noise, figures' data.

Every network of the sweep has the same optics (:func:`relubook.topics.diffractive.forward`):
``shared_layers`` shared phase masks, a 50/50 split into two branches, one mask and one
detector plane per branch (branch 0 serves task A, branch 1 task B). Each detector plane has
ten class regions (the 3-4-3 layout) and one task region; the task is read as the branch whose
task region holds the larger share of its plane's power. A network is a *case*, a choice of
loss weights:

* ``single A`` (:math:`\omega=1`, no task loss) and ``single B`` (:math:`\omega=0`): the
  single-task baselines; the unused branch gets no gradient, so the used one is exactly a
  single-task D2NN of ``shared_layers + 1`` masks;
* ``multi`` at each :math:`\omega`: :math:`\omega L_A+(1-\omega)L_B+\gamma L_{\rm task}`.

All cases × seeds train together in one Adam loop on one tensor of phases
``(n_nets, layers, N, N)``. The networks of one seed share their initial phases and their
mini-batches (common random numbers), so differences between cases are not differences of
luck. Network ``i`` is ``(seed index, case)`` in that nesting order (:func:`case_table`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..core.data import digits_split
from ..core.random import numpy_rng
from ..core.training import adam
from ..topics import diffractive as D

__all__ = [
    "TASKS",
    "case_table",
    "detector_set",
    "evaluate",
    "example_planes",
    "geometry",
    "make_tasks",
    "noise_summary",
    "noise_sweep",
    "propagation_timing",
    "propagator_study",
    "readout",
    "seed_means",
    "standard_error",
    "trade_off",
    "train_sweep",
]

#: The two tasks: A, the digits; B, the synthetic shapes.
TASKS = ("A: digits", "B: shapes")


def geometry(cfg: Mapping) -> D.Geometry:
    r"""The optics of ``cfg``: ``n`` pixels, ``pad``, and the layer distance
    :math:`z=c\,N\Delta^2/\lambda` with ``c = cfg["distance_factor"]``; an error when light
    could wrap around the padded window (:meth:`~relubook.topics.diffractive.Geometry.max_shift_px`
    above ``2 pad``)."""
    n = int(cfg["n"])
    z = float(cfg["distance_factor"]) * n * D.PITCH ** 2 / D.WAVELENGTH
    geo = D.Geometry(n=n, pad=int(cfg["pad"]), distance=z)
    if geo.max_shift_px() > 2 * geo.pad:
        raise ValueError(f"pad {geo.pad} is too small: light can travel "
                         f"{geo.max_shift_px():.1f} pixels sideways, more than 2 pad, and wrap "
                         "around the propagation window")
    return geo


def detector_set(n: int, size: int) -> torch.Tensor:
    """The 11 regions of a detector plane: the ten class regions, then the task region (top
    centre, at row 0.12)."""
    return D.detector_masks(n, size, D.class_layout() + [(0.12, 0.5)])


def make_tasks(cfg: Mapping, seed: int) -> dict:
    r"""Tasks A and B on the ``n × n`` grid, as amplitudes in [0, 1].

    A: scikit-learn's digits (``digits_split``, stratified, pixels / 16), each 8×8 image
    enlarged ``patch // 8`` times by pixel repetition and centred. B: :func:`draw_shapes` on a
    ``patch``-pixel patch, with balanced labels and the same train/test sizes as A.

    Returns
    -------
    dict with ``x`` and ``y`` per task and split: ``x["A"]["train"]`` ``(n, N, N)`` float32,
    ``y["A"]["train"]`` int64, and the same for ``"test"`` and ``"B"``.
    """
    n, patch = int(cfg["n"]), int(cfg["patch"])
    if patch % 8:
        raise ValueError(f"patch must be a multiple of 8 (the digits are 8x8), got {patch}")
    dg = digits_split(n_test=int(cfg["n_test"]), seed=seed, stratify=True, scaling="max")
    xa = {"train": dg.x_train, "test": dg.x_test}
    ya = {"train": dg.y_train, "test": dg.y_test}
    x = {"A": {}, "B": {}}
    y = {"A": ya, "B": {}}
    for k, split in enumerate(("train", "test")):
        img = D.upsample(xa[split].reshape(-1, 8, 8), patch // 8)
        x["A"][split] = D.embed(img, n).float()
        m = len(ya[split])
        rng = numpy_rng(seed, 19, k)
        lab = rng.permutation(np.arange(m) % 10)
        shapes = D.draw_shapes(lab, patch, rng, noise=float(cfg["shape_noise"]))
        x["B"][split] = D.embed(torch.as_tensor(shapes, dtype=torch.float32), n)
        y["B"][split] = torch.as_tensor(lab, dtype=torch.long)
    return {"x": x, "y": y}


def case_table(omegas: Sequence[float], n_seeds: int, task_weight: float) -> list[dict]:
    """The networks of the sweep, ``(seed index, case)`` in that nesting order: per seed the
    two single-task baselines, then the multi-task networks at each ω. Each row has ``case``,
    ``omega``, the loss weights ``w_a``, ``w_b``, ``w_task`` and ``seed_index``."""
    cases = [("single A", 1.0, 1.0, 0.0, 0.0), ("single B", 0.0, 0.0, 1.0, 0.0)]
    cases += [("multi", float(w), float(w), 1.0 - float(w), float(task_weight)) for w in omegas]
    return [{"case": c, "omega": om, "w_a": wa, "w_b": wb, "w_task": wt, "seed_index": s}
            for s in range(n_seeds) for c, om, wa, wb, wt in cases]


def readout(powers: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Class logits and task logits from the region powers of both planes.

    Class logits of branch ``t``: :func:`~relubook.topics.diffractive.logits` of its ten class
    regions. Task logits: :math:`\tau\,q_t` with :math:`q_t` the share of plane ``t``'s
    power (all 11 regions) in its task region.

    Shape:
        - powers: ``(..., T, 11)``
        - Output: class logits ``(..., T, 10)``, task logits ``(..., T)``
    """
    cls = D.logits(powers[..., :10], temperature)
    task = D.logits(powers, temperature)[..., 10]
    return cls, task


def _losses(cls, task, y, n_a, table_w):
    """Per-network loss ω L_A + (1-ω) L_B + γ L_task on a batch whose first ``n_a`` samples
    are task A's (class logits of branch 0) and the rest task B's (branch 1)."""
    la = F.cross_entropy(cls[:, :n_a, 0].flatten(0, 1), y[:, :n_a].flatten(),
                         reduction="none").view(cls.shape[0], -1).mean(1)
    lb = F.cross_entropy(cls[:, n_a:, 1].flatten(0, 1), y[:, n_a:].flatten(),
                         reduction="none").view(cls.shape[0], -1).mean(1)
    tid = torch.zeros(cls.shape[1], dtype=torch.long)
    tid[n_a:] = 1
    lt = F.cross_entropy(task.flatten(0, 1), tid.repeat(cls.shape[0]),
                         reduction="none").view(cls.shape[0], -1).mean(1)
    wa, wb, wt = table_w
    return wa * la + wb * lb + wt * lt, (la, lb, lt)


def train_sweep(cfg: Mapping, tasks: dict, seed: int, *, progress: bool = True) -> dict:
    r"""Train every network of :func:`case_table` in one Adam loop.

    Each step takes ``batch_size`` training images of each task (epochs of a per-seed
    permutation), the same for every case of a seed. Initial phases are uniform in
    :math:`[0, 2\pi)\cdot` ``init_scale``, drawn per seed.

    Returns
    -------
    dict with ``table`` (the rows of :func:`case_table`), ``shared`` ``(n_nets, S, N, N)``,
    ``branch`` ``(n_nets, 2, N, N)`` (trained phases), ``loss`` ``(steps, n_nets)`` and the
    per-task losses ``loss_a``, ``loss_b``, ``loss_task``, and ``geometry``, ``h``, ``masks``.
    """
    geo = geometry(cfg)
    n, n_seeds, bs, steps = geo.n, int(cfg["seeds"]), int(cfg["batch_size"]), int(cfg["steps"])
    table = case_table(cfg["omegas"], n_seeds, float(cfg["task_weight"]))
    n_nets, per_seed = len(table), len(table) // n_seeds
    h = D.transfer_function(geo.n_fft, geo.pitch, geo.wavelength, geo.distance)
    masks = detector_set(n, int(cfg["detector"]))
    s_layers = int(cfg["shared_layers"])
    init = []
    for s in range(n_seeds):
        g = numpy_rng(seed, 20, s)
        init.append(2 * math.pi * float(cfg["init_scale"]) * g.random((s_layers + 2, n, n)))
    init = torch.as_tensor(np.stack(init), dtype=torch.float32)
    init = init.repeat_interleave(per_seed, 0)
    shared = init[:, :s_layers].clone().requires_grad_(True)
    branch = init[:, s_layers:].clone().requires_grad_(True)
    seed_of = torch.tensor([r["seed_index"] for r in table])
    # the input plane -> first mask step has no parameters: propagate the data sets once
    with torch.no_grad():
        xin = {t: D.propagate(tasks["x"][t]["train"].to(h.dtype), h) for t in ("A", "B")}
    ytr = {t: tasks["y"][t]["train"] for t in ("A", "B")}
    idx = {}
    for k, t in enumerate(("A", "B")):
        m = len(ytr[t])
        per = -(-steps * bs // m) + 1
        idx[t] = np.stack([np.concatenate([numpy_rng(seed, 21, s, k).permutation(m)
                                           for _ in range(per)])[:steps * bs]
                           for s in range(n_seeds)]).reshape(n_seeds, steps, bs)
    w = tuple(torch.tensor([r[k] for r in table]) for k in ("w_a", "w_b", "w_task"))
    temp = float(cfg["temperature"])
    hist = {k: np.zeros((steps, n_nets)) for k in ("loss", "loss_a", "loss_b", "loss_task")}
    bar = tqdm(total=steps, desc="D2NN sweep", mininterval=2.0, disable=None if progress else True)

    def losses(t):
        ia, ib = torch.as_tensor(idx["A"][:, t]), torch.as_tensor(idx["B"][:, t])
        x = torch.cat([xin["A"][ia], xin["B"][ib]], 1)[seed_of]      # (n_nets, 2 bs, N, N)
        y = torch.cat([ytr["A"][ia], ytr["B"][ib]], 1)[seed_of]
        inten = D.forward(x, shared, branch, h, propagated=True)
        cls, task = readout(D.region_powers(inten, masks), temp)
        per, parts = _losses(cls, task, y, bs, w)
        return per, parts

    def record(t, per, parts):
        hist["loss"][t] = per.numpy()
        for k, v in zip(("loss_a", "loss_b", "loss_task"), parts):
            hist[k][t] = v.detach().numpy()
        bar.update(1)

    adam([shared, branch], losses, steps, float(cfg["lr"]), record=record)
    bar.close()
    return {"table": table, "shared": shared.detach(), "branch": branch.detach(),
            "geometry": geo, "h": h, "masks": masks, **hist}


def evaluate(sw: Mapping, tasks: dict, cfg: Mapping, shared: torch.Tensor | None = None,
             branch: torch.Tensor | None = None, budget: int = 3000) -> dict:
    r"""Test accuracies of every network (optionally with other phases, e.g. noisy ones),
    ``budget`` network-images per forward pass.

    Returns
    -------
    dict of ``(n_nets,)`` arrays: ``acc_a`` and ``acc_b`` (class accuracy on each task's test
    set, read on its own branch), ``task_acc`` (task recognised from the task regions, over
    both test sets), ``end_to_end`` (task recognised and class right, over both test sets).
    """
    shared = sw["shared"] if shared is None else shared
    branch = sw["branch"] if branch is None else branch
    h, masks, temp = sw["h"], sw["masks"], float(cfg["temperature"])
    chunk = max(8, budget // shared.shape[0])   # images per forward pass, bounded memory
    right, task_right, both = {}, [], []
    with torch.no_grad():
        for k, t in enumerate(("A", "B")):
            x, y = tasks["x"][t]["test"], tasks["y"][t]["test"]
            r, tr, b = [], [], []
            for i in range(0, len(y), chunk):
                inten = D.forward(x[i:i + chunk], shared, branch, h)
                cls, task = readout(D.region_powers(inten, masks), temp)
                ok = cls[:, :, k].argmax(-1) == y[i:i + chunk]
                tk = task.argmax(-1) == k
                r.append(ok)
                tr.append(tk)
                b.append(ok & tk)
            right[t] = torch.cat(r, 1).double().mean(1).numpy()
            task_right.append(torch.cat(tr, 1))
            both.append(torch.cat(b, 1))
    return {"acc_a": right["A"], "acc_b": right["B"],
            "task_acc": torch.cat(task_right, 1).double().mean(1).numpy(),
            "end_to_end": torch.cat(both, 1).double().mean(1).numpy()}


def noise_sweep(sw: Mapping, tasks: dict, cfg: Mapping, seed: int,
                nets: Sequence[int] | None = None) -> dict:
    r"""Accuracy under fabrication phase noise: every mask's phase plus
    :math:`\sigma\,\varepsilon`, :math:`\varepsilon\sim N(0,1)` per pixel, for each σ of
    ``cfg["sigmas"]`` and ``cfg["noise_draws"]`` draws (the same standard normal draws for
    every σ and network, from ``numpy_rng(seed, 22, draw)``).

    Returns
    -------
    dict with ``sigmas``, ``nets`` and arrays ``(n_sigmas, n_draws, len(nets))`` for each
    accuracy of :func:`evaluate`.
    """
    nets = list(range(len(sw["table"]))) if nets is None else list(nets)
    sh, br = sw["shared"][nets], sw["branch"][nets]
    draws, sigmas = int(cfg["noise_draws"]), [float(s) for s in cfg["sigmas"]]
    eps = [torch.as_tensor(numpy_rng(seed, 22, d).standard_normal(
        (sh.shape[1] + br.shape[1],) + tuple(sh.shape[2:])), dtype=torch.float32)
        for d in range(draws)]
    eps = torch.stack(eps)                                      # (draws, layers, N, N)
    s_l = sh.shape[1]
    sig = torch.tensor(sigmas, dtype=torch.float32).view(-1, 1, 1, 1, 1, 1)
    noisy_sh = (sh[None, None] + sig * eps[None, :, None, :s_l]).flatten(0, 2)
    noisy_br = (br[None, None] + sig * eps[None, :, None, s_l:]).flatten(0, 2)
    ev = evaluate(sw, tasks, cfg, noisy_sh, noisy_br)
    shape = (len(sigmas), draws, len(nets))
    return {"sigmas": np.array(sigmas), "nets": nets,
            **{k: v.reshape(shape) for k, v in ev.items()}}


def propagator_study(geo: D.Geometry, seed: int) -> dict:
    r"""The propagator's analytic properties and its agreement with ``torchoptics``, in
    complex128.

    Returns
    -------
    dict: ``energy`` (largest relative change of :math:`\sum|U|^2` over the whole window, for
    random fields), ``reciprocity`` (largest :math:`|P_{ba}-P_{ab}|` over random point pairs,
    relative to the largest :math:`|P_{ba}|`), ``reversal`` (:math:`P_{-z}P_z U` against
    :math:`U`), ``composition`` (:math:`P_{z}P_{z}` against :math:`P_{2z}`), ``gauss_z`` and
    ``gauss_w`` / ``gauss_closed`` (measured and closed-form beam radii),
    ``gauss_err`` (largest relative gap), ``torchoptics`` (largest relative gap to
    ``torchoptics`` on the chapter's geometry), ``deterministic`` (both, bitwise on a rerun),
    and the single-precision gaps to the complex128 result: ``ours_complex64`` and
    ``torchoptics_float32`` (torchoptics with its default dtype set to float32).
    """
    c128 = torch.complex128
    rng = numpy_rng(seed, 23)
    n, m = geo.n, geo.n_fft
    h = D.transfer_function(m, geo.pitch, geo.wavelength, geo.distance, c128)
    u = torch.as_tensor(rng.standard_normal((4, n, n)) + 1j * rng.standard_normal((4, n, n)),
                        dtype=c128)
    win = torch.zeros(4, m, m, dtype=c128)
    win[:, :n, :n] = u
    out = D.propagate(win, h, crop=False)
    e0, e1 = (win.abs() ** 2).sum((-1, -2)), (out.abs() ** 2).sum((-1, -2))
    energy = float(((e1 - e0).abs() / e0).max())
    pts = rng.integers(0, n, (8, 2, 2))
    num, den = 0.0, 0.0
    for (a, b) in pts:
        ea = torch.zeros(n, n, dtype=c128)
        eb = torch.zeros(n, n, dtype=c128)
        ea[a[0], a[1]] = 1
        eb[b[0], b[1]] = 1
        pab, pba = D.propagate(ea, h)[b[0], b[1]], D.propagate(eb, h)[a[0], a[1]]
        num, den = max(num, float((pab - pba).abs())), max(den, float(pab.abs()))
    hback = D.transfer_function(m, geo.pitch, geo.wavelength, -geo.distance, c128)
    back = D.propagate(out, hback, crop=False)
    reversal = float((back - win).abs().max() / win.abs().max())
    h2 = D.transfer_function(m, geo.pitch, geo.wavelength, 2 * geo.distance, c128)
    comp = float((D.propagate(out, h, crop=False) - D.propagate(win, h2, crop=False)).abs().max()
                 / out.abs().max())
    # a Gaussian beam of waist 4 pixels on a wide window, to 4 Rayleigh ranges
    w0, ng = 4 * geo.pitch, 256
    zr = math.pi * w0 ** 2 / geo.wavelength
    zs = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0]) * zr
    g0 = D.gaussian_field(ng, geo.pitch, w0)
    ws = np.array([float(D.beam_width(D.propagate(g0, D.transfer_function(
        ng, geo.pitch, geo.wavelength, float(z), c128), crop=False).abs() ** 2, geo.pitch))
        for z in zs])
    closed = D.gaussian_width(zs, w0, geo.wavelength)
    ours = D.propagate(u, h)
    theirs = D.torchoptics_propagate(u, geo)
    gap = float((ours - theirs).abs().max() / ours.abs().max())
    det = bool(torch.equal(ours, D.propagate(u, h))
               and torch.equal(theirs, D.torchoptics_propagate(u, geo)))
    # single precision, as training runs: ours (transfer function in float64, then cast) and
    # torchoptics with its default dtype set to float32 (its transfer function in float32)
    u64 = u.to(torch.complex64)
    h64 = D.transfer_function(m, geo.pitch, geo.wavelength, geo.distance)
    ours32 = float((D.propagate(u64, h64).to(c128) - ours).abs().max() / ours.abs().max())
    import torchoptics

    old = torchoptics.get_default_dtype()
    torchoptics.set_default_dtype(torch.float32)
    try:
        t32 = D.torchoptics_propagate(u64, geo).to(c128)
    finally:
        torchoptics.set_default_dtype(old)
    theirs32 = float((t32 - ours).abs().max() / ours.abs().max())
    return {"energy": energy, "reciprocity": num / den, "reversal": reversal,
            "composition": comp, "gauss_z": zs, "gauss_zr": zr, "gauss_w": ws,
            "gauss_closed": closed, "gauss_err": float(np.max(np.abs(ws / closed - 1))),
            "torchoptics": gap, "deterministic": det, "torchoptics_dtype": str(theirs.dtype),
            "ours_complex64": ours32, "torchoptics_float32": theirs32}


# ------------------------------------------------------------------------- summaries, figures

def seed_means(table: Sequence[Mapping], values: Mapping[str, np.ndarray]) -> dict:
    """Per case (``"single A"``, ``"single B"``, or the ω of a multi-task network) the mean
    over seeds of each array of ``values`` (one entry per network, in ``table``'s order)."""
    keys = list(dict.fromkeys(r["case"] if r["case"] != "multi" else r["omega"] for r in table))
    out = {}
    for key in keys:
        rows = [i for i, r in enumerate(table)
                if (r["case"] if r["case"] != "multi" else r["omega"]) == key]
        out[key] = {k: float(np.mean(np.asarray(v)[rows])) for k, v in values.items()}
    return out


def standard_error(acc: float, n: int) -> float:
    r"""The binomial standard error :math:`\sqrt{a(1-a)/n}` of an accuracy ``acc`` over ``n``
    test images."""
    return math.sqrt(max(acc * (1 - acc), 0.0) / n)


def trade_off(means: Mapping, omegas: Sequence[float], n_images: int) -> dict:
    r"""The ω trade-off from :func:`seed_means`: accuracies along ``omegas``, the successive
    steps of each task's accuracy over ω ∈ {0.2, 0.5, 0.8} (the planned rule), and each task's
    change from the smallest to the largest ω in units of its standard error
    (:math:`\sqrt{\mathrm{SE}_1^2+\mathrm{SE}_2^2}` over ``n_images`` test images each).
    """
    om = [float(w) for w in omegas]
    acc_a = np.array([means[w]["acc_a"] for w in om])
    acc_b = np.array([means[w]["acc_b"] for w in om])
    k2 = [om.index(w) for w in (0.2, 0.5, 0.8)] if all(w in om for w in (0.2, 0.5, 0.8)) \
        else None
    if k2 is None:
        raise ValueError(f"the trade-off needs omegas to include 0.2, 0.5 and 0.8, got {om}")
    steps_a, steps_b = np.diff(acc_a[k2]), np.diff(acc_b[k2])

    def z(a0, a1):
        se = math.hypot(standard_error(a0, n_images), standard_error(a1, n_images))
        return (a1 - a0) / se if se > 0 else math.copysign(math.inf, a1 - a0)

    return {"omegas": np.array(om), "acc_a": acc_a, "acc_b": acc_b,
            "min_step_a": float(steps_a.min()), "max_step_b": float(steps_b.max()),
            "rise_a": float(acc_a[-1] - acc_a[0]), "fall_b": float(acc_b[0] - acc_b[-1]),
            "rise_a_se": z(acc_a[0], acc_a[-1]), "fall_b_se": z(acc_b[-1], acc_b[0])}


def noise_summary(ns: Mapping, table: Sequence[Mapping]) -> dict:
    """Mean over draws and seeds of the noisy accuracies, per case of ``ns["nets"]``: arrays
    ``(n_sigmas,)`` of ``acc_a``, ``acc_b``, ``task_acc``, and each drop from σ = 0."""
    cases = {}
    for j, i in enumerate(ns["nets"]):
        r = table[i]
        key = r["case"] if r["case"] != "multi" else f"multi ω = {r['omega']:g}"
        cases.setdefault(key, []).append(j)
    out = {}
    for key, cols in cases.items():
        d = {k: ns[k][:, :, cols].mean((1, 2)) for k in ("acc_a", "acc_b", "task_acc")}
        d.update({f"drop_{k[4:]}": d[k][0] - d[k] for k in ("acc_a", "acc_b")})
        out[key] = d
    return out


def example_planes(sw: Mapping, tasks: dict, net: int, index: int = 0) -> dict:
    """One test image of each task through network ``net``: the input amplitudes ``(2, N, N)``,
    the intensities of both detector planes ``(2 tasks, 2 planes, N, N)``, the region powers
    ``(2, 2, 11)`` and the labels."""
    x = torch.stack([tasks["x"][t]["test"][index] for t in ("A", "B")])
    y = [int(tasks["y"][t]["test"][index]) for t in ("A", "B")]
    with torch.no_grad():
        inten = D.forward(x, sw["shared"][net:net + 1], sw["branch"][net:net + 1], sw["h"])[0]
        p = D.region_powers(inten, sw["masks"])
    return {"x": x.numpy(), "intensity": inten.numpy(), "powers": p.numpy(), "labels": y}


def propagation_timing(geo: D.Geometry, n_nets: int, batch: int, layers: int, seed: int,
                       repeats: int = 3) -> dict:
    r"""Seconds for one forward and backward pass of ``n_nets`` stacks of ``layers`` phase
    masks on ``batch`` fields in complex64, with this module's propagator (transfer function
    computed once) and with ``torchoptics`` (``Field.propagate_to_z``, which rebuilds the
    transfer function at every call); the median of ``repeats`` runs each. Timings vary from
    run to run: they are context, never a check."""
    import time

    import torchoptics

    rng = numpy_rng(seed, 24)
    n = geo.n
    x = torch.as_tensor(rng.random((batch, n, n)), dtype=torch.complex64)
    phases = torch.as_tensor(rng.random((n_nets, layers, n, n)), dtype=torch.float32)
    h = D.transfer_function(geo.n_fft, geo.pitch, geo.wavelength, geo.distance)

    def run(prop):
        p = phases.clone().requires_grad_(True)
        u = x
        for k in range(layers):
            u = prop(u) * torch.polar(torch.ones_like(p[:, k, None]), p[:, k, None])
        u = prop(u)
        (u.real ** 2 + u.imag ** 2).sum().backward()

    def median_time(prop):
        ts = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            run(prop)
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts[1:]))      # the first run warms up

    ours = median_time(lambda u: D.propagate(u, h))
    old = torchoptics.get_default_dtype()
    torchoptics.set_default_dtype(torch.float32)
    try:
        theirs = median_time(lambda u: D.torchoptics_propagate(u, geo))
    finally:
        torchoptics.set_default_dtype(old)
    return {"ours": ours, "torchoptics": theirs}

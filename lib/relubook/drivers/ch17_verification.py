r"""Chapter 17's driver: exact and approximate verification experiments (Isac et al. 2023).

Each function runs one experiment of the chapter and returns plain numbers (for the named
checks) together with the arrays its figure needs. The algorithms live in
:mod:`relubook.topics.verification`; activation patterns, regions and affine forms come from
:mod:`relubook.core.regions`. Everything is NumPy float64; solver times are measured with
``time.perf_counter`` and only reported, never compared with a threshold.

* :func:`exact_vs_bounds` (K1, and the Marabou cross-check): random ReLU networks on a box;
  interval bounds, the exact MILP maximum, the LP on the maximiser's activation region, a
  dense grid, and Marabou's bound and complete decisions;
* :func:`region_map` (figure): the first network on a grid, its activation regions and
  maximisers;
* :func:`sat_sweep` (K2): random 3-SAT formulas encoded as ReLU networks; the MILP against a
  SAT solver and brute force, with times;
* :func:`reachability` (K3): ε-approximate maximisation by branch and bound;
* :func:`bisection` (K4): the sigmoid threshold by bisection, float64 and certified.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
from tqdm import tqdm  # a text bar (tqdm.auto warns without ipywidgets)

from ..core.random import numpy_rng
from ..core.regions import pattern_ids
from ..topics import verification as V

__all__ = ["ACTS", "bisection", "exact_vs_bounds", "net_label", "reachability", "region_map",
           "sat_sweep", "unit_box"]

Array = np.ndarray
#: Activations of the branch-and-bound experiment, in order.
ACTS = ("relu", "tanh")


def net_label(widths: Sequence[int]) -> str:
    """``2-8-8-1`` for the widths (d_0, d_1, ..., d_L)."""
    return "-".join(str(int(w)) for w in widths)


def unit_box(d: int) -> tuple[Array, Array]:
    """The box :math:`[-1,1]^d`."""
    return -np.ones(d), np.ones(d)


def _nets(widths_list: Sequence[Sequence[int]], seed: int, key: int):
    for i, widths in enumerate(widths_list):
        yield widths, V.random_net(widths, numpy_rng(seed, key, i))


def exact_vs_bounds(cfg: Mapping, seed: int) -> dict:
    r"""K1 and the Marabou cross-check on the networks ``cfg["a_nets"]`` over :math:`[-1,1]^d`.

    Per network: the IBP upper bound, the MILP maximum (HiGHS, ``mip_rel_gap=0``) and the
    network at its maximiser, the LP on the maximiser's activation region, the grid maximum
    (``a_grid`` points per axis for d = 2, else ``a_samples`` uniform samples), Marabou's
    DeepPoly bound, and Marabou's decisions of :math:`f\ge v\mp\delta` with
    :math:`\delta=` ``a_delta`` :math:`\cdot\max(1,|v|)` around the MILP value :math:`v`.
    """
    rows = []
    for i, (widths, (W, b)) in enumerate(_nets(cfg["a_nets"], seed, 1)):
        d0 = widths[0]
        lo, hi = unit_box(d0)
        t0 = time.perf_counter()
        _, (_, U) = V.interval_bounds(W, b, lo, hi)
        t_ibp = time.perf_counter() - t0
        mi = V.milp_optimum(W, b, lo, hi, sense="max")
        mn = V.milp_optimum(W, b, lo, hi, sense="min")
        reg = V.region_lp(W, b, lo, hi, mi["x"])
        if d0 == 2:
            g, _ = V.grid_max(W, b, lo, hi, cfg["a_grid"])
        else:
            g, _ = V.grid_max(W, b, lo, hi, cfg["a_samples"], rng=numpy_rng(seed, 11, i))
        mb = V.marabou_bounds(W, b, lo, hi, timeout=cfg["marabou_timeout"])
        delta = cfg["a_delta"] * max(1.0, abs(mi["value"]))
        below = V.marabou_decide(W, b, lo, hi, mi["value"] - delta,
                                 timeout=cfg["marabou_timeout"])
        above = V.marabou_decide(W, b, lo, hi, mi["value"] + delta,
                                 timeout=cfg["marabou_timeout"])
        rows.append({
            "net": net_label(widths), "widths": list(widths), "relus": mi["relus"],
            "binaries": mi["binaries"], "ibp_ub": float(U[0]), "milp_max": mi["value"],
            "f_at_x": mi["f_x"], "milp_min": mn["value"], "region_lp": reg["value"],
            "grid_max": g, "grid_kind": "grid" if d0 == 2 else "samples",
            "marabou_ub": mb["upper"], "delta": delta,
            "marabou_below": below["verdict"], "marabou_above": above["verdict"],
            "marabou_witness": below["f_x"] if below["f_x"] is not None else float("nan"),
            "t_ibp": t_ibp, "t_milp": mi["seconds"], "nodes": mi["nodes"],
            "t_marabou_bound": mb["seconds"],
            "t_marabou_exact": below["seconds"] + above["seconds"],
            "x_star": mi["x"]})
    r = {k: np.array([row[k] for row in rows]) for k in rows[0] if k not in ("widths", "x_star")}
    r["rows"] = rows
    r["ibp_minus_milp"] = r["ibp_ub"] - r["milp_max"]
    r["range"] = r["milp_max"] - r["milp_min"]
    return r


def region_map(cfg: Mapping, seed: int, points: int) -> dict:
    """The first network of ``cfg["a_nets"]`` (it must have d_0 = 2) on a ``points`` ×
    ``points`` grid of :math:`[-1,1]^2`: values, activation-region ids, the MILP maximiser
    and the grid maximiser."""
    (widths, (W, b)), = list(_nets(cfg["a_nets"][:1], seed, 1))
    if widths[0] != 2:
        raise ValueError(f"the region map needs a network with 2 inputs, got {widths}")
    s = np.linspace(-1, 1, points)
    X = np.stack(np.meshgrid(s, s, indexing="xy"), -1).reshape(-1, 2)
    y, pats = V.forward(W, b, X)
    ids = pattern_ids(pats).reshape(points, points)
    mi = V.milp_optimum(W, b, *unit_box(2))
    j = int(np.argmax(y[:, 0]))
    return {"s": s, "f": y[:, 0].reshape(points, points), "ids": ids,
            "regions": int(np.unique(ids).size), "x_milp": mi["x"], "x_grid": X[j],
            "label": net_label(widths)}


def sat_sweep(cfg: Mapping, seed: int) -> dict:
    r"""K2: ``b_formulas`` random 3-SAT formulas per :math:`n` in ``b_ns`` with
    round(``b_ratio`` n) clauses, each decided three ways.

    The MILP minimises the ReLU network of :func:`relubook.topics.verification.sat_network`
    (``encoding="sum"``) over :math:`[0,1]^n`; "satisfiable" means min y ≤ 1/2. Also: a CDCL
    solver (python-sat), brute force over :math:`2^n` assignments, the MILP witness rounded to
    an assignment, and, for n ≤ ``b_vertex_max_n``, the network at all :math:`2^n` vertices
    against the number of false clauses. For the first ``b_max_formulas`` formulas of each n
    in ``b_max_ns`` the MILP is also run on the two-ReLU-per-clause ``encoding="max"``.
    """
    out: dict[str, list] = {k: [] for k in (
        "n", "m", "sat_milp", "sat_pysat", "sat_brute", "n_models", "min_y", "f_at_x",
        "witness_sat", "t_milp", "t_pysat", "t_brute", "nodes", "binaries", "relus")}
    vertex_err, enc = [], {k: [] for k in ("n", "sum_t", "max_t", "sum_nodes", "max_nodes",
                                           "agree", "max_min_y", "sat")}
    jobs = [(n, f) for n in cfg["b_ns"] for f in range(cfg["b_formulas"])]
    for n, f in tqdm(jobs, desc="3-SAT formulas", leave=False):
        m = round(cfg["b_ratio"] * n)
        clauses = V.random_3sat(n, m, numpy_rng(seed, 2, n, f))
        W, b = V.sat_network(clauses, n)
        lo, hi = np.zeros(n), np.ones(n)
        r = V.milp_optimum(W, b, lo, hi, sense="min")
        t0 = time.perf_counter()
        s_sat, _ = V.pysat_sat(clauses)
        t1 = time.perf_counter()
        s_bf, n_models = V.brute_force_sat(clauses, n)
        t2 = time.perf_counter()
        assign = r["x"] >= 0.5
        witness = bool(np.all((assign[np.abs(clauses) - 1] == (clauses > 0)).any(1)))
        for k, v in (("n", n), ("m", m), ("sat_milp", r["value"] <= 0.5), ("sat_pysat", s_sat),
                     ("sat_brute", s_bf), ("n_models", n_models), ("min_y", r["value"]),
                     ("f_at_x", r["f_x"]), ("witness_sat", witness),
                     ("t_milp", r["seconds"]), ("t_pysat", t1 - t0), ("t_brute", t2 - t1),
                     ("nodes", r["nodes"] if r["nodes"] is not None else -1),
                     ("binaries", r["binaries"]), ("relus", r["relus"])):
            out[k].append(v)
        if n <= cfg["b_vertex_max_n"]:
            A = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
            y = V.forward(W, b, A)[0][:, 0]
            false = (~((A.astype(bool)[:, np.abs(clauses) - 1] == (clauses > 0)).any(-1))
                     ).sum(-1)
            vertex_err.append(float(np.abs(y - false).max()))
        if n in cfg["b_max_ns"] and f < cfg["b_max_formulas"]:
            Wm, bm = V.sat_network(clauses, n, encoding="max")
            rm = V.milp_optimum(Wm, bm, lo, hi, sense="min")
            for k, v in (("n", n), ("sum_t", r["seconds"]), ("max_t", rm["seconds"]),
                         ("sum_nodes", r["nodes"]), ("max_nodes", rm["nodes"]),
                         ("agree", (rm["value"] <= 0.5) == s_sat), ("max_min_y", rm["value"]),
                         ("sat", s_sat)):
                enc[k].append(v)
    res = {k: np.array(v) for k, v in out.items()}
    res["vertex_err"] = float(max(vertex_err)) if vertex_err else float("nan")
    res["vertex_formulas"] = len(vertex_err)
    res["encodings"] = {k: np.array(v) for k, v in enc.items()}
    ns = np.array(sorted(set(res["n"].tolist())))
    res["ns"] = ns
    for k in ("t_milp", "t_pysat", "t_brute", "nodes"):
        res[f"{k}_median"] = np.array([np.median(res[k][res["n"] == n]) for n in ns])
        res[f"{k}_max"] = np.array([np.max(res[k][res["n"] == n]) for n in ns])
    res["sat_fraction"] = np.array([res["sat_pysat"][res["n"] == n].mean() for n in ns])
    res["binaries_by_n"] = np.array([res["binaries"][res["n"] == n].max() for n in ns])
    return res


def reachability(cfg: Mapping, seed: int) -> dict:
    r"""K3: ε-approximate maximum over :math:`[-1,1]^d` by interval branch and bound.

    A ReLU and a tanh network of widths ``c_widths`` (drawn like K1's networks); for each ε
    in ``c_eps``: the branch-and-bound result. References: the exact MILP maximum (ReLU) and
    a dense grid (``a_grid`` per axis; a lower bound of the maximum) for both.
    """
    widths = list(cfg["c_widths"])
    out: dict = {"eps": np.array(cfg["c_eps"], dtype=float)}
    for k, act in enumerate(ACTS):
        W, b = V.random_net(widths, numpy_rng(seed, 3, k))
        lo, hi = unit_box(widths[0])
        runs = [V.branch_and_bound(W, b, lo, hi, e, act=act) for e in cfg["c_eps"]]
        grid, _ = V.grid_max(W, b, lo, hi, cfg["a_grid"], act=act)
        out[act] = {key: np.array([r[key] for r in runs])
                    for key in ("best", "ub", "gap", "boxes", "rounds", "seconds")}
        out[act]["grid"] = grid
        out[act]["exact"] = V.milp_optimum(W, b, lo, hi)["value"] if act == "relu" else None
    return out


def bisection(cfg: Mapping) -> dict:
    r"""K4: :math:`x^*=\ln 3` from :math:`\sigma(x)\ge 3/4` on [0, 2], by bisection in float64
    (``d_iters_float`` steps) and in certified interval arithmetic (``d_iters_exact`` steps)."""
    f = V.bisect_sigmoid_threshold(1.0, 0.0, (3, 4), 0.0, 2.0, cfg["d_iters_float"])
    e = V.bisect_sigmoid_threshold(1.0, 0.0, (3, 4), 0.0, 2.0, cfg["d_iters_exact"],
                                   exact=True, dps=cfg["d_dps"])
    k_f = np.arange(1, cfg["d_iters_float"] + 1)
    k_e = np.arange(1, cfg["d_iters_exact"] + 1)
    bits_f = -np.log2(np.maximum(f["err"], 1e-300) / 2.0)
    bits_e = -np.log2(e["err"] / 2.0)
    return {"float": f, "exact": e, "k_float": k_f, "k_exact": k_e, "bits_float": bits_f,
            "bits_exact": bits_e, "x_star": e["x_star"],
            # bracket width against (hi - lo) 2^-k: exactly 0 in exact arithmetic
            "width_dev_exact": float(np.abs(np.log2(e["width"] / 2.0) + k_e).max()),
            "err_over_width_exact": float((e["err"] / e["width"]).max()),
            "float_bits_max": float(bits_f.max()),
            "float_first_stall": int(k_f[np.argmax(f["width"] == f["width"][-1])])}

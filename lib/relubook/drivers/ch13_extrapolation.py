r"""Chapter 13's driver: the batched MLP sweep, the closed-form NTK predictors, rays and regions.

One :class:`relubook.core.mlp.StackedMLP` holds every network of the sweep, parameterisations
× cases × seeds, and :func:`train_sweep` trains them in one Adam loop
(:func:`relubook.core.training.adam`). A *case* is a target on a training support: the
non-linear targets on the unit ball (claim C1) and the linear target on the cube
:math:`[-1,1]^d` with ``restricted`` coordinates in :math:`[0,1]` (claim C2). Network ``i`` of
the sweep is ``(seed index, parameterisation, case)`` in that nesting order; its training
inputs depend only on its case's support and its seed index, its initialisation only on its
parameterisation and seed index (common random numbers across cases).

Everything after training is NumPy/torch float64 on the effective weights
(:func:`relubook.topics.extrapolation.effective`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm  # a text bar (tqdm.auto warns without ipywidgets)

from ..core import regions
from ..core.fits import loglog_slope
from ..core.mlp import StackedMLP, forward
from ..core.ntk import ntk_predict, relu_ntk
from ..core.random import numpy_rng, torch_generator
from ..core.training import adam, exp_decay
from ..topics import extrapolation as E

__all__ = [
    "PARAM_LABELS",
    "TARGET_LABELS",
    "bound_ratio",
    "deviation_slope",
    "find",
    "grids",
    "group",
    "last_piece_check",
    "lemma1_study",
    "measure_sweep",
    "ntk_study",
    "predict",
    "predict_each",
    "ray_analysis",
    "ray_pieces",
    "ray_points",
    "relative_rms",
    "rms_by_shell",
    "run_sweep",
    "shell_points",
    "summarise_c1",
    "summarise_c2",
    "sweep_cases",
    "sweep_data",
    "sweep_targets",
    "target_unexplained",
    "train_sweep",
]

PARAM_LABELS = {"ntk0": "NTK, no biases", "ntk": "NTK, biases",
                "standard": "standard (nn.Linear)"}
TARGET_LABELS = {"quadratic": r"$\|x\|^2$", "cos": r"$\cos(\pi\|x\|)$",
                 "sqrt": r"$\sqrt{\|x\|}$", "linear": r"$\beta\cdot x$"}


# ----------------------------------------------------------------------------- the sweep

def sweep_cases(c1_params: Sequence[str], targets: Sequence[str], c2_params: Sequence[str],
                restricted: Sequence[int]) -> list[dict]:
    """The networks of one seed: each non-linear target on the unit ball for each of
    ``c1_params``, then the linear target on the cube with each number of restricted
    coordinates for each of ``c2_params``. Each case is a dict (``param``, ``target``,
    ``support``, ``restricted``)."""
    cases = [{"param": p, "target": t, "support": "ball", "restricted": 0}
             for p in c1_params for t in targets]
    cases += [{"param": p, "target": "linear", "support": "cube", "restricted": int(k)}
              for p in c2_params for k in restricted]
    return cases


def _inputs(case: dict, n: int, d: int, seed: int, s: int) -> np.ndarray:
    if case["support"] == "ball":
        return E.sample_ball(n, d, 1.0, numpy_rng(seed, 2, 0, s))
    return E.sample_cube(n, d, case["restricted"], numpy_rng(seed, 2, 1 + case["restricted"], s))


def sweep_data(cases: Sequence[dict], n_seeds: int, d: int, n: int, seed: int) -> dict:
    r"""Training sets of every network of the sweep: network ``s * len(cases) + j`` is case
    ``j`` with seed index ``s``.

    Returns ``table`` (one dict per network: the case and its ``seed_index``), ``x``
    ``(N, n, d)`` and ``y`` ``(N, n)`` (float64) and ``beta`` ``(n_seeds, d)``, the unit
    coefficient vector of the linear target of each seed.
    """
    beta = np.stack([E.unit_directions(1, d, numpy_rng(seed, 3, s))[0] for s in range(n_seeds)])
    table, xs, ys, cache = [], [], [], {}
    for s in range(n_seeds):
        for c in cases:
            key = (s, c["support"], c["restricted"])
            if key not in cache:
                cache[key] = _inputs(c, n, d, seed, s)
            x = cache[key]
            table.append({**c, "seed_index": s})
            xs.append(x)
            ys.append(E.target(c["target"], x, beta[s]))
    return {"table": table, "x": np.stack(xs), "y": np.stack(ys), "beta": beta}


def sweep_targets(table: Sequence[dict], beta: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Each network's target at the shared points ``Z`` ``(M, d)``: ``(N, M)``."""
    cache = {}
    out = []
    for r in table:
        key = (r["target"], r["seed_index"] if r["target"] == "linear" else 0)
        if key not in cache:
            cache[key] = E.target(r["target"], Z, beta[r["seed_index"]])
        out.append(cache[key])
    return np.stack(out)


def train_sweep(cases: Sequence[dict], *, n_seeds: int, d: int,
                width: int, n_train: int, batch_size: int, steps: int, lr: float, wd: float,
                seed: int, device: str | torch.device = "cpu", progress: bool = True) -> dict:
    r"""Train every network of the sweep in one Adam loop (float32), in place.

    Loss of network :math:`i` at step :math:`t`: the mean of :math:`(f_i(x)-y)^2` over a
    mini-batch of ``batch_size`` indices drawn with replacement (the same indices for every
    network, each into its own training set), plus :math:`\tfrac{\mathrm{wd}}2\|\theta_i\|^2`
    on the raw parameters, which is PyTorch's coupled ``Adam(weight_decay=wd)``. The learning
    rate decays as :math:`\eta\,0.1^{t/T}` (:func:`relubook.core.training.exp_decay`).

    Returns the :func:`sweep_data` dict plus ``net`` (the effective networks, float64,
    detached), ``loss`` ``(N,)`` (the training MSE on the whole training set at the end) and
    ``loss_curve`` ``(N, T')`` (the mini-batch MSE every ``steps // 50`` steps).
    """
    data = sweep_data(cases, n_seeds, d, n_train, seed)
    table = data["table"]
    pi = {p: i for i, p in enumerate(E.PARAMS)}
    rngs = [numpy_rng(seed, 1, pi[r["param"]], r["seed_index"]) for r in table]
    net, mult = E.init_two_layer([r["param"] for r in table], d, width, rngs, device=device)
    x = torch.as_tensor(data["x"], dtype=torch.float32, device=device)
    y = torch.as_tensor(data["y"], dtype=torch.float32, device=device).unsqueeze(-1)
    raw = net.params()
    for q in raw:
        q.requires_grad_(True)
    gen = torch_generator(seed)
    every = max(1, steps // 50)
    curve: list[np.ndarray] = []
    bar = tqdm(total=steps, desc="Adam", mininterval=2.0,     # TQDM_DISABLE still applies
               **({} if progress else {"disable": True}))

    def losses(t: int):
        idx = torch.randint(0, n_train, (batch_size,), generator=gen).to(device)
        out = forward(E.effective(net, mult), x[:, idx])
        mse = ((out - y[:, idx]) ** 2).mean((-2, -1))
        reg = sum((q * q).flatten(1).sum(1) for q in raw)
        return mse + 0.5 * wd * reg, mse

    def record(t: int, per, mse) -> None:
        if t % every == 0:
            curve.append(mse.cpu().numpy().astype(np.float64))

    def after(t: int) -> None:
        if (t + 1) % 100 == 0 or t + 1 == steps:
            bar.update(100 if (t + 1) % 100 == 0 else (t + 1) % 100)

    adam(raw, losses, steps, lr, schedule=exp_decay(lr, max(steps, 1), 0.1), record=record, after=after)
    bar.close()
    with torch.no_grad():
        eff = E.effective(net, mult)
        net64 = StackedMLP([w.detach().double().cpu() for w in eff.weights],
                           [b.detach().double().cpu() for b in eff.biases])
    f = predict_each(net64, data["x"])
    loss = ((f - data["y"]) ** 2).mean(-1)
    curve_arr = np.stack(curve, -1) if curve else np.zeros((len(table), 0))
    return {**data, "net": net64, "loss": loss, "loss_curve": curve_arr}


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def predict(net: StackedMLP, Z: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Outputs of every network at the shared points ``Z`` ``(M, d)``: ``(N, M)`` float64."""
    Zt = torch.as_tensor(np.asarray(Z), dtype=torch.float64)
    out = [forward(net, Zt[i:i + chunk])[..., 0] for i in range(0, Zt.shape[0], chunk)]
    return torch.cat(out, -1).numpy()


@torch.no_grad()
def predict_each(net: StackedMLP, X: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Outputs of network ``i`` at its own points ``X[i]`` (``X`` ``(N, M, d)``): ``(N, M)``."""
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    out = [forward(net, Xt[:, i:i + chunk])[..., 0] for i in range(0, Xt.shape[1], chunk)]
    return torch.cat(out, -1).numpy()


def ray_points(V: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The points :math:`t_jv_k`, ray by ray: ``(k * len(t), d)``."""
    return (np.asarray(t)[None, :, None] * np.asarray(V)[:, None, :]).reshape(-1, V.shape[1])


def shell_points(radii: Sequence[float], n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform directions scaled to each radius, radius by radius: ``(len(radii) n, d)``."""
    U = E.unit_directions(n, d, rng)
    return np.concatenate([r * U for r in radii])


def deviation_slope(t: np.ndarray, D: np.ndarray) -> float:
    r"""Fitted log-log slope of a deviation curve :math:`D(t)` (``loglog_slope``), over the
    points where :math:`D>0` (beyond the last breakpoint of every ray a finite network has
    :math:`D=0` exactly); NaN with fewer than three such points."""
    t, D = np.asarray(t, dtype=float), np.asarray(D, dtype=float)
    keep = D > 0
    if keep.sum() < 3:
        return float("nan")
    return loglog_slope(t[keep], D[keep])


def ray_analysis(net: StackedMLP, V: np.ndarray, t: np.ndarray, tt: np.ndarray,
                 h: float = 1.0) -> dict:
    r"""Every network along the rays :math:`tv`: ``rays`` ``(N, k, len(t))`` (the values on
    the grid ``t``), ``unexplained`` ``(N, k)`` (:math:`1-R^2` of a line in :math:`t`) and
    ``deviation`` ``(N, k, len(tt))``, Theorem 1's :math:`|f((t+h)v)-f(tv)-\beta_vh|` with
    :math:`\beta_v` the exact slope beyond the last breakpoint."""
    N, k = net.n_nets, V.shape[0]
    F = predict(net, np.concatenate([ray_points(V, t), ray_points(V, tt), ray_points(V, tt + h)]))
    a, b = k * len(t), k * len(tt)
    rays = F[:, :a].reshape(N, k, len(t))
    W, _, w2, _ = E.two_layer_numpy(net)
    beta = E.ray_slope_limit(W, w2, V)
    dev = E.ray_deviation(F[:, a:a + b].reshape(N, k, -1), F[:, a + b:].reshape(N, k, -1),
                          beta[..., None], h)
    return {"rays": rays, "unexplained": E.ray_unexplained(rays, t), "deviation": dev}


def rms_by_shell(pred: np.ndarray, target: np.ndarray, n_radii: int) -> np.ndarray:
    """RMS of ``pred - target`` ``(..., n_radii * n)`` on each shell: ``(..., n_radii)``."""
    e = (np.asarray(pred) - np.asarray(target)) ** 2
    return np.sqrt(e.reshape(e.shape[:-1] + (n_radii, -1)).mean(-1))


def relative_rms(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    r""":math:`\mathrm{RMS}(f-g)/\mathrm{RMS}(g)` over the last axis."""
    pred, target = np.asarray(pred), np.asarray(target)
    return np.sqrt(((pred - target) ** 2).mean(-1) / (target ** 2).mean(-1))


def group(table: Sequence[dict], values: np.ndarray, keys: Sequence[str]) -> dict:
    """The rows of ``values`` (one per network) grouped by the ``keys`` of ``table``:
    ``{(key values): array (n_in_group, ...)}`` in first-seen order."""
    out: dict = {}
    for r, v in zip(table, np.asarray(values)):
        out.setdefault(tuple(r[k] for k in keys), []).append(v)
    return {k: np.stack(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- closed-form NTK

def ntk_study(*, d: int, n: int, targets: Sequence[str], restricted: Sequence[int], beta,
              V: np.ndarray, t: np.ndarray, tt: np.ndarray, h: float, Z_shell: np.ndarray,
              Z_ball: np.ndarray, seed: int, biases: Sequence[bool] = (False, True)) -> dict:
    r"""NTK kernel regression (:func:`relubook.topics.extrapolation.ntk_fit`) for every target
    and support, with and without biases.

    For each ``bias``: on ``n`` points of the unit ball, one Gram matrix and one solve for all
    non-linear ``targets``; then ``unexplained`` ``(n_targets, k)`` (:math:`1-R^2` along the
    rays ``V`` on the grid ``t``), ``deviation`` ``(n_targets, k, len(tt))`` (Theorem 1's
    :math:`|f((t+h)v)-f(tv)-\beta_vh|` with the exact limit slope), ``shell`` ``(n_targets,
    M_shell)`` (predictions at ``Z_shell``). For each ``restricted`` count ``k``: the linear
    target :math:`\beta\cdot x` on ``n`` points of the cube and its predictions on ``Z_ball``
    (``ball`` ``(len(restricted), M_ball)``). ``rays`` holds the predictions along the rays,
    ``alpha`` and ``X`` the coefficients and training inputs of the ball predictors.
    """
    out = {}
    Xb = E.sample_ball(n, d, 1.0, numpy_rng(seed, 4, 0))
    Yb = np.stack([E.target(g, Xb) for g in targets], -1)
    P1, P2 = ray_points(V, tt), ray_points(V, tt + h)
    for bias in biases:
        r = {}
        alpha = E.ntk_fit(Xb, Yb, bias)
        Z = np.concatenate([ray_points(V, t), P1, P2, Z_shell])
        F = ntk_predict(alpha, Xb, Z, bias).T                       # (n_targets, M)
        k, a, b = V.shape[0], len(t) * V.shape[0], len(tt) * V.shape[0]
        r["unexplained"] = E.ray_unexplained(F[:, :a].reshape(-1, k, len(t)), t)
        f1 = F[:, a:a + b].reshape(-1, k, len(tt))
        f2 = F[:, a + b:a + 2 * b].reshape(-1, k, len(tt))
        slope = E.ntk_ray_slope(alpha, Xb, V, bias).T               # (n_targets, k)
        r["deviation"] = E.ray_deviation(f1, f2, slope[..., None], h)
        r["shell"] = F[:, a + 2 * b:]
        r["rays"] = F[:, :a].reshape(-1, k, len(t))
        r["alpha"], r["X"] = alpha, Xb
        ball = []
        for kk in restricted:
            X = E.sample_cube(n, d, int(kk), numpy_rng(seed, 4, 1 + int(kk)))
            ball.append(ntk_predict(E.ntk_fit(X, X @ beta, bias), X, Z_ball, bias))
        r["ball"] = np.stack(ball)
        out["bias" if bias else "nobias"] = r
    return out


def lemma1_study(d: int, radius: float, n_extra: int, n_test: int, test_radius: float,
                 seed: int) -> dict:
    r"""Lemma 1 in closed form: NTK regression of a random linear target on training sets with
    and without an orthogonal basis and its negatives, tested at ``n_test`` points of norm up to
    ``test_radius``.

    Training sets: ``basis`` (:math:`\{\pm r q_i\}`, a random orthonormal basis), ``basis +
    restricted`` (those plus ``n_extra`` points of the positive orthant :math:`[0,1]^d`),
    ``restricted`` (the extra points alone), ``half basis + restricted`` (:math:`\{+rq_i\}` and
    the extra points). Each with the bias-free kernel (``nobias``) and with biases (``bias``).

    Returns ``{(name, kernel): max |f - g| / max |g|}`` over the test points, and the largest
    :math:`|\Theta(x,z)-\Theta(x,-z)-x\cdot z/d|` over test and training points (``identity``).
    """
    rng = numpy_rng(seed, 5)
    B = E.lemma1_points(d, radius, rng)
    extra = E.sample_cube(n_extra, d, d, rng)
    beta = rng.standard_normal(d)
    Z = E.unit_directions(n_test, d, rng) * (test_radius * rng.random((n_test, 1)))
    sets = {"basis": B, "basis + restricted": np.concatenate([B, extra]),
            "restricted": extra, "half basis + restricted": np.concatenate([B[:d], extra])}
    errs = {}
    g = Z @ beta
    for name, X in sets.items():
        for bias in (False, True):
            alpha = E.ntk_fit(X, X @ beta, bias)
            f = ntk_predict(alpha, X, Z, bias)
            errs[(name, "bias" if bias else "nobias")] = float(np.abs(f - g).max()
                                                               / np.abs(g).max())
    Xall = np.concatenate([Z, sets["basis + restricted"]])
    ident = relu_ntk(Xall, Xall, False) - relu_ntk(Xall, -Xall, False) - Xall @ Xall.T / d
    scale = np.abs(Xall @ Xall.T / d).max()
    return {"errors": errs, "identity": float(np.abs(ident).max() / scale)}


# ----------------------------------------------------------------------------- linear regions

def _layers(net: StackedMLP, i: int):
    W, b, a, c = E.two_layer_numpy(net.select(slice(i, i + 1)))
    return W[0], b[0], a[0], c[0]


def last_piece_check(net: StackedMLP, idx: Sequence[int], V: np.ndarray,
                     factors: Sequence[float] = (1e-3, 1e-1, 1.0, 10.0, 1e3)) -> dict:
    r"""Beyond its last breakpoint along each ray, is each network exactly affine? Uses
    :mod:`relubook.core.regions` (activation patterns and the affine map of a region).

    For every network ``i`` in ``idx`` and ray ``v``: the last positive breakpoint
    :math:`t^\ast=\max_rt_r`; the activation patterns at :math:`t^\ast(1+\phi)v` for
    ``factors`` φ; the affine map :math:`Ax+c` of the region of each point
    (:func:`relubook.core.regions.affine_form`, the output pattern all ones for the linear
    output layer). Also, on the whole ray, the patterns at the midpoints of consecutive
    breakpoints: their number of distinct patterns against the number of pieces.

    Returns ``affine_err`` (the largest :math:`|f-(Ax+c)|/\max(1,|f|)`), ``pattern_changes``
    (points beyond :math:`t^\ast` whose pattern differs from :math:`\mathbf 1[w_r\cdot v>0]`),
    ``beyond_patterns`` (the largest number of distinct patterns beyond :math:`t^\ast` on one
    ray), ``piece_mismatch`` (rays whose distinct patterns differ from 1 + breakpoints),
    ``slope_err`` (largest relative gap between :math:`Av` beyond :math:`t^\ast` and
    :math:`\beta_v` of :func:`relubook.topics.extrapolation.ray_slope_limit`), ``t_last``
    ``(len(idx), k)`` and ``pieces`` ``(len(idx), k)``.
    """
    phi = np.asarray(factors, dtype=float)
    out = {"affine_err": 0.0, "pattern_changes": 0, "beyond_patterns": 0, "piece_mismatch": 0,
           "slope_err": 0.0}
    t_last, pieces = [], []
    for i in idx:
        W, b, a, c = _layers(net, i)
        bp = E.ray_breakpoints(W[None], b[None], V)[0]              # (k, m)
        finite = np.where(np.isfinite(bp), bp, 0.0)
        tl = finite.max(1)
        t_last.append(tl)
        pieces.append(np.array([1 + np.unique(r[np.isfinite(r)]).size for r in bp]))
        base = np.where(tl > 0, tl, 1.0)
        T = base[:, None] * (1 + phi[None, :])
        X = (T[..., None] * V[:, None, :]).reshape(-1, V.shape[1])
        f, pats = regions.forward_patterns([W], [b], X)
        f = (f @ a + c)
        ones = np.ones((X.shape[0], 1), dtype=bool)
        A, cc = regions.affine_form([W, a[None, :]], [b, np.array([c])], [pats[0], ones])
        aff = np.einsum("nd,nd->n", A[:, 0, :], X) + cc[:, 0]
        out["affine_err"] = max(out["affine_err"],
                                float((np.abs(f - aff) / np.maximum(1.0, np.abs(f))).max()))
        limit = np.repeat((V @ W.T) > 0, len(phi), axis=0)
        out["pattern_changes"] += int((pats[0] != limit).any(1).sum())
        ids = regions.pattern_ids(pats[0]).reshape(V.shape[0], len(phi))
        out["beyond_patterns"] = max(out["beyond_patterns"],
                                     max(len(np.unique(r)) for r in ids))
        slope = np.einsum("nd,nd->n", A[:, 0, :], np.repeat(V, len(phi), axis=0))
        lim = np.repeat(E.ray_slope_limit(W[None], a[None], V)[0], len(phi))
        out["slope_err"] = max(out["slope_err"], float((np.abs(slope - lim)
                                                         / np.maximum(1.0, np.abs(lim))).max()))
        for k in range(V.shape[0]):
            ts = np.unique(bp[k][np.isfinite(bp[k])])   # twins of the doubled init coincide
            mids = np.concatenate([[ts[0] / 2] if ts.size else [1.0],
                                   (ts[1:] + ts[:-1]) / 2, [ts[-1] * 2] if ts.size else []])
            _, pk = regions.forward_patterns([W], [b], mids[:, None] * V[k][None, :])
            if len(np.unique(regions.pattern_ids(pk[0]))) != ts.size + 1:
                out["piece_mismatch"] += 1
    out["t_last"], out["pieces"] = np.stack(t_last), np.stack(pieces)
    return out


def ray_pieces(net: StackedMLP, i: int, v: np.ndarray) -> dict:
    r"""Network ``i`` along the ray :math:`tv` as a linear spline: its sorted positive
    breakpoints ``t`` and, on each of the ``len(t) + 1`` pieces, the slope
    :math:`A v` and intercept of the region's affine map (:func:`relubook.core.regions.affine_form`),
    and :math:`\beta_v` (``limit``)."""
    W, b, a, c = _layers(net, i)
    bp = E.ray_breakpoints(W[None], b[None], v[None])[0, 0]
    ts = np.unique(bp[np.isfinite(bp)])
    mids = np.concatenate([[ts[0] / 2] if ts.size else [1.0], (ts[1:] + ts[:-1]) / 2,
                           [ts[-1] * 2] if ts.size else []])
    X = mids[:, None] * v[None, :]
    _, pats = regions.forward_patterns([W], [b], X)
    ones = np.ones((X.shape[0], 1), dtype=bool)
    A, cc = regions.affine_form([W, a[None, :]], [b, np.array([c])], [pats[0], ones])
    return {"t": ts, "slope": A[:, 0, :] @ v, "intercept": cc[:, 0],
            "limit": float(E.ray_slope_limit(W[None], a[None], v[None])[0, 0])}


# ----------------------------------------------------------------------------- the chapter's steps

def run_sweep(cfg: dict, seed: int, progress: bool = True) -> dict:
    """:func:`train_sweep` with the chapter's configuration ``cfg``."""
    cases = sweep_cases(cfg["c1_params"], cfg["targets"], cfg["c2_params"], cfg["restricted"])
    return train_sweep(cases, n_seeds=cfg["seeds"], d=cfg["d"], width=cfg["width"],
                       n_train=cfg["n_train"], batch_size=cfg["batch_size"], steps=cfg["steps"],
                       lr=cfg["lr"], wd=cfg["wd"], seed=seed, progress=progress)


def grids(cfg: dict, seed: int) -> dict:
    """The evaluation points shared by every model: ray directions ``V``, the ray grid ``t``
    (R²), the deviation grids ``tt`` (networks) and ``tt_ntk`` (kernel predictors), the shells
    ``Z_shell`` at ``radii`` and the out-of-distribution test set ``Z_ball`` (uniform in the
    ball of radius ``test_radius``)."""
    d = cfg["d"]
    return {"V": E.unit_directions(cfg["rays"], d, numpy_rng(seed, 6)),
            "t": np.linspace(*cfg["ray_t"], cfg["ray_points"]),
            "tt": np.geomspace(*cfg["dev_t"], cfg["dev_points"]),
            "tt_ntk": np.geomspace(*cfg["dev_t_ntk"], cfg["dev_points"]),
            "radii": np.asarray(cfg["radii"], dtype=float),
            "Z_shell": shell_points(cfg["radii"], cfg["shell_n"], d, numpy_rng(seed, 7)),
            "Z_ball": E.sample_ball(cfg["test_n"], d, cfg["test_radius"], numpy_rng(seed, 8))}


def measure_sweep(sw: dict, G: dict) -> dict:
    """Everything the chapter reads off the trained networks, per network: the ray analysis
    (:func:`ray_analysis`), the RMS error on each shell (``shell_rms`` ``(N, n_radii)``), the
    relative RMS error on the test ball (``relerr`` ``(N,)``) and the deviation slope fitted
    to the ray-averaged deviation (``dev_slope`` ``(N,)``, NaN where it is round-off)."""
    net, table = sw["net"], sw["table"]
    out = ray_analysis(net, G["V"], G["t"], G["tt"])
    Z = np.concatenate([G["Z_shell"], G["Z_ball"]])
    F = predict(net, Z)
    T = sweep_targets(table, sw["beta"], Z)
    m = G["Z_shell"].shape[0]
    out["shell_rms"] = rms_by_shell(F[:, :m], T[:, :m], len(G["radii"]))
    out["relerr"] = relative_rms(F[:, m:], T[:, m:])
    mean_dev = out["deviation"].mean(1)
    scale = np.abs(out["rays"]).max((1, 2))
    out["dev_mean"] = mean_dev
    out["dev_slope"] = np.array([deviation_slope(G["tt"], D) if D.max() > 1e-9 * s
                                 else np.nan for D, s in zip(mean_dev, scale)])
    return out


def target_unexplained(targets: Sequence[str], G: dict) -> dict:
    """:math:`1-R^2` of each non-linear target itself along the rays (the target is radial,
    so every ray gives the same value)."""
    return {g: float(E.ray_unexplained(E.target(g, ray_points(G["V"][:1], G["t"])), G["t"]))
            for g in targets}


def summarise_c1(table: Sequence[dict], M: dict, ntk: dict, own: dict,
                 targets: Sequence[str], tt_ntk: np.ndarray, radii: Sequence[float],
                 r_ref: float = 2.0) -> dict:
    r"""The numbers of claim C1 and of the book's checks on rays, keyed by
    ``(parameterisation, target)`` for the networks and ``(kernel, target)`` for the kernel
    predictors (``kernel`` is ``"bias"`` or ``"nobias"``), non-linear targets only.

    ``r2``: the median :math:`R^2` over every ray of every seed; ``ratio``: the median
    :math:`1-R^2` over the target's own; ``slope``: the log-log slope of the ray-averaged
    deviation (for networks the median over seeds; NaN where the deviation is round-off);
    ``dev``: the ray-averaged deviation curve (for networks the median over seeds);
    ``grow``: the RMS error on the largest shell over the RMS error on the shell of radius
    ``r_ref`` (networks: median over seeds).
    """
    radii = list(map(float, radii))
    j_ref = radii.index(float(r_ref))
    out: dict = {"r2": {}, "ratio": {}, "slope": {}, "dev": {}, "grow": {}}

    def each(values):
        return {k: v for k, v in group(table, values, ("param", "target")).items()
                if k[1] != "linear"}

    for key, u in each(M["unexplained"]).items():
        out["r2"][key] = 1.0 - float(np.median(u))
        out["ratio"][key] = float(np.median(u)) / own[key[1]]
    for key, s in each(M["dev_slope"]).items():
        out["slope"][key] = float(np.median(s))
    for key, D in each(M["dev_mean"]).items():
        out["dev"][key] = np.median(D, 0)
    for key, e in each(M["shell_rms"]).items():
        out["grow"][key] = float(np.median(e[:, -1] / e[:, j_ref]))
    for kern, r in ntk.items():
        for j, g in enumerate(targets):
            out["r2"][(kern, g)] = 1.0 - float(np.median(r["unexplained"][j]))
            D = r["deviation"][j].mean(0)
            out["dev"][(kern, g)] = D
            out["slope"][(kern, g)] = (deviation_slope(tt_ntk, D) if kern == "bias"
                                       else float("nan"))
    return out


def summarise_c2(table: Sequence[dict], M: dict, ntk: dict, beta: np.ndarray,
                 Z_ball: np.ndarray, restricted: Sequence[int]) -> dict:
    r"""The relative RMS error on the test ball of the linear target, keyed by
    ``(parameterisation, k)`` (median over seeds) and ``(kernel, k)`` for the kernel
    predictors, ``k`` the number of restricted coordinates; and ``ratio``, the error with
    every coordinate restricted over the error on the whole cube, by model."""
    err: dict = {}
    for (p, g, k), e in group(table, M["relerr"], ("param", "target", "restricted")).items():
        if g == "linear":
            err[(p, k)] = float(np.median(e))
    g = Z_ball @ beta
    for kern, r in ntk.items():
        for k, pred in zip(restricted, r["ball"]):
            err[(kern, int(k))] = float(relative_rms(pred, g))
    lo, hi = min(restricted), max(restricted)
    models = dict.fromkeys(m for m, _ in err)
    ratio = {m: err[(m, hi)] / err[(m, lo)] for m in models}
    return {"err": err, "ratio": ratio, "restricted": [int(k) for k in restricted]}


def find(table: Sequence[dict], **match) -> int:
    """Index of the first network of ``table`` whose entries equal ``match``."""
    for i, r in enumerate(table):
        if all(r.get(k) == v for k, v in match.items()):
            return i
    raise KeyError(f"no network with {match}")


def bound_ratio(net: StackedMLP, deviation: np.ndarray, tt: np.ndarray) -> float:
    r"""The largest :math:`t\,D(t)/\sum_r|a_rb_r|` over the networks with biases, their rays
    and ``tt`` (``deviation`` ``(N, k, len(tt))`` with :math:`h=1`). For a finite network
    :math:`D(t)\le\sum_r|a_rb_r|/t` (every unit still to switch beyond :math:`t` has
    :math:`|w_r\cdot v|=|b_r|/t_r<|b_r|/t`), so the ratio is at most 1."""
    _, b, a, _ = E.two_layer_numpy(net)
    S = np.abs(a * b).sum(1)
    keep = S > 0
    r = np.asarray(tt)[None, None, :] * np.asarray(deviation)[keep] / S[keep, None, None]
    return float(r.max())

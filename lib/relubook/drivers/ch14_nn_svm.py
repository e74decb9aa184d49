r"""Chapter 14's driver: the width sweep of networks and kernel machines, the exact linearised
check, the generalisation bounds, the robustness certificates and the figure grids.

Seed index ``s`` of a run with seed ``seed`` draws everything from ``numpy_rng(seed, s, key)``:
key 0 the training set, 1 the test set (the same class direction :math:`u`), 2 the networks
of every width, 3 the network of the exact check, 4 and 5 the training and test sets of the
bound; ``numpy_rng(seed, 6)`` splits the digits.

Every network of the sweep (widths × seeds) trains in one program
(:func:`relubook.topics.nn_svm.train_networks`) in float64; the kernel machines (KMs) train
by the dual update (:func:`relubook.topics.nn_svm.km_train`) with the closed-form NTK
(:func:`relubook.core.ntk.relu_ntk`, bias-free), with each network's empirical NTK at
initialisation, and with its empirical NTK averaged over training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np
import torch

from ..core.data import digits_arrays
from ..core.ntk import jacobian, relu_ntk
from ..core.random import numpy_rng
from ..topics import nn_svm as T

__all__ = [
    "DTYPE",
    "bound_study",
    "digits01",
    "exact_check",
    "gaussian_bounds",
    "make_data",
    "robustness",
    "slice_grid",
    "width_sweep",
]

#: The dtype of every network computation of the chapter.
DTYPE = torch.float64


def make_data(cfg: Mapping, seed: int) -> dict:
    r"""The two-Gaussian training and test sets of every seed index: ``X`` ``(S, n, d)``,
    ``y`` ``(S, n)``, ``X_test``, ``y_test`` ``(S, n_test, …)`` and the directions ``u``
    ``(S, d)``."""
    out = {k: [] for k in ("X", "y", "X_test", "y_test", "u")}
    for s in range(cfg["seeds"]):
        X, y, u = T.two_gaussians(cfg["n"], cfg["d"], cfg["separation"], numpy_rng(seed, s, 0))
        Xt, yt, _ = T.two_gaussians(cfg["n_test"], cfg["d"], cfg["separation"],
                                    numpy_rng(seed, s, 1), u)
        for k, v in zip(out, (X, y, Xt, yt, u)):
            out[k].append(v)
    return {k: np.stack(v) for k, v in out.items()}


def _frob_rel(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``‖A − B‖_F / ‖B‖_F`` over the last two axes."""
    return np.linalg.norm(A - B, axis=(-2, -1)) / np.linalg.norm(B, axis=(-2, -1))


def width_sweep(cfg: Mapping, seed: int, progress: bool = True) -> dict:
    r"""Train every network of ``cfg["widths"]`` × ``cfg["seeds"]`` and its kernel machines.

    Returns, besides the data and the weights (``W0, a0, W, a``):

    * ``g_nn`` ``(S, K, N)``: the networks' :math:`g=f-f_0` on the test points;
    * ``g_km`` ``(S, N)``: the KM with the closed-form NTK :math:`\Theta`, ``alpha`` ``(S, n)``;
    * ``g_km0``, ``g_kmbar`` ``(S, K, N)``: the KMs with each network's empirical NTK at
      initialisation, :math:`\Theta_0`, and averaged over training, :math:`\bar\Theta`
      (trapezoid rule over ``cfg["snapshots"]`` + 1 equally spaced steps);
    * deviations ``(S, K)`` (:func:`relubook.topics.nn_svm.relative_deviation`, over the test
      points): ``dev`` network against :math:`\Theta`-KM (the claim), ``dev_move`` network
      against :math:`\Theta_0`-KM (training moves the kernel), ``dev_init``
      :math:`\Theta_0`-KM against :math:`\Theta`-KM (the kernel at initialisation is random),
      ``dev_bar`` network against :math:`\bar\Theta`-KM;
    * ``movement`` ``(S, K)``: :math:`\|\Theta_T-\Theta_0\|_F/\|\Theta_0\|_F` on the training
      points; ``init_err``: :math:`\|\Theta_0-\Theta\|_F/\|\Theta\|_F`;
    * test errors ``err_nn`` ``(S, K)``, ``err_km`` ``(S,)`` and ``train_s``, the training time.
    """
    widths = [int(m) for m in cfg["widths"]]
    lr, lam, steps = cfg["lr"], cfg["lam"], cfg["steps"]
    data = make_data(cfg, seed)
    S, n = data["y"].shape
    X = torch.as_tensor(data["X"], dtype=DTYPE)
    y = torch.as_tensor(data["y"], dtype=DTYPE)
    Xt = torch.as_tensor(data["X_test"], dtype=DTYPE)
    A = torch.cat([X, Xt], 1)                                   # kernel rows: train, then test
    W0, a0 = T.init_networks(widths, cfg["d"], [numpy_rng(seed, s, 2) for s in range(S)], DTYPE)

    marks = np.linspace(0, steps, cfg["snapshots"] + 1).round().astype(int)
    trapezoid = np.full(len(marks), 1.0)
    trapezoid[[0, -1]] = 0.5
    weight = dict(zip(marks.tolist(), trapezoid / trapezoid.sum()))
    kern: dict = {"mean": 0.0}

    def on_step(t, W, a):
        if t in weight:
            K = T.empirical_ntk(W, a, A, X, widths).numpy()          # (S, K, n + N, n)
            kern["mean"] = kern["mean"] + weight[t] * K
            if t == 0:
                kern["init"] = K
            if t == steps:
                kern["final"] = K

    t0 = time.perf_counter()
    W, a = T.train_networks(W0, a0, X, y, widths, lr=lr, lam=lam, steps=steps, on_step=on_step,
                            progress=progress)
    train_s = time.perf_counter() - t0
    g_nn = (T.forward(W, a, Xt, widths) - T.forward(W0, a0, Xt, widths)).numpy()
    g_nn = np.moveaxis(g_nn, -1, 1)                             # (S, K, N)

    Theta = np.stack([relu_ntk(np.concatenate([data["X"][s], data["X_test"][s]]), data["X"][s],
                               False) for s in range(S)])   # (S, n + N, n)
    alpha = T.km_train(Theta[:, :n], data["y"], lr=lr, lam=lam, steps=steps)
    g_km = np.einsum("sij,sj->si", Theta[:, n:], alpha)
    K0, KT, Kbar = kern["init"], kern["final"], kern["mean"]
    yk = data["y"][:, None, :]
    g_km0 = np.einsum("skij,skj->ski", K0[:, :, n:],
                      T.km_train(K0[:, :, :n], yk, lr=lr, lam=lam, steps=steps))
    g_kmbar = np.einsum("skij,skj->ski", Kbar[:, :, n:],
                        T.km_train(Kbar[:, :, :n], yk, lr=lr, lam=lam, steps=steps))
    yt = data["y_test"]
    return {
        **data, "widths": widths, "W0": W0, "a0": a0, "W": W, "a": a, "alpha": alpha,
        "g_nn": g_nn, "g_km": g_km, "g_km0": g_km0, "g_kmbar": g_kmbar,
        "dev": T.relative_deviation(g_nn, g_km[:, None]),
        "dev_move": T.relative_deviation(g_nn, g_km0),
        "dev_init": T.relative_deviation(g_km0, g_km[:, None]),
        "dev_bar": T.relative_deviation(g_nn, g_kmbar),
        "movement": _frob_rel(KT[:, :, :n], K0[:, :, :n]),
        "init_err": _frob_rel(K0[:, :, :n], Theta[:, None, :n]),
        "err_nn": (yt[:, None] * g_nn <= 0).mean(-1), "err_km": (yt * g_km <= 0).mean(-1),
        "train_s": train_s, "snapshots": marks,
    }


def exact_check(cfg: Mapping, seed: int) -> dict:
    r"""The linearised network against the KM with its empirical NTK (float64), for one
    network of width ``cfg["exact_width"]`` per seed index, with its Jacobian at
    initialisation in closed form (:func:`relubook.topics.nn_svm.network_jacobian`), checked
    against :func:`relubook.core.ntk.jacobian` (``torch.func``, slow for hundreds of points)
    on ``cfg["jac_points"]`` of the points. Returns the largest relative gap over seeds,
    steps and points (``max_rel``), the margin indicators that differ (``flips``, summed),
    and ``jac_err``, the largest gap between the two Jacobians."""
    data = make_data(cfg, seed)
    m, d, n = int(cfg["exact_width"]), cfg["d"], cfg["n"]
    max_rel, flips, jac_err = 0.0, 0, 0.0

    def f(p, x):
        return torch.relu(x @ p["W"].T / math.sqrt(d)) @ p["a"] / math.sqrt(m)

    for s in range(data["y"].shape[0]):
        W, a = (t[0] for t in T.init_networks([m], d, [numpy_rng(seed, s, 3)], DTYPE))
        x = torch.as_tensor(np.concatenate([data["X"][s], data["X_test"][s]]), dtype=DTYPE)
        J = T.network_jacobian(W, a, x)
        sub = x[:: max(1, x.shape[0] // cfg["jac_points"])][: cfg["jac_points"]]
        J_func = jacobian(f, {"W": W, "a": a}, sub)
        jac_err = max(jac_err, float((J_func - T.network_jacobian(W, a, sub)).abs().max()))
        out = T.linearised_vs_km(J[:n], J[n:], torch.as_tensor(data["y"][s], dtype=DTYPE),
                                 lr=cfg["lr"], lam=cfg["lam"], steps=cfg["steps"])
        max_rel, flips = max(max_rel, out["max_rel"]), flips + out["flips"]
    return {"max_rel": max_rel, "flips": flips, "jac_err": jac_err}


def bound_study(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                lr: float, lam: float, steps: int, delta: float,
                delta_code: float = 0.99) -> dict:
    r"""The KM with the closed-form NTK trained on ``(X, y)``, its bound
    (:func:`relubook.topics.nn_svm.bound_terms` with ``delta``, and the bound with the official
    code's ``delta_code``) and its test error :math:`P(yg\le0)` on ``(X_test, y_test)``."""
    K = relu_ntk(X, X, False)
    alpha = T.km_train(K, y, lr=lr, lam=lam, steps=steps)
    out = T.bound_terms(alpha, K, y, delta)
    out["bound_code"] = T.bound_terms(alpha, K, y, delta_code)["bound"]
    g = relu_ntk(X_test, X, False) @ alpha
    out["test_err"] = float((y_test * g <= 0).mean())
    out["train_err"] = float((y * (K @ alpha) <= 0).mean())
    out["n"], out["n_test"] = len(y), len(y_test)
    return out


def gaussian_bounds(cfg: Mapping, seed: int) -> list[dict]:
    """:func:`bound_study` on ``cfg["bound_n"]`` two-Gaussian training points and
    ``cfg["bound_test"]`` test points, one per seed index."""
    out = []
    for s in range(cfg["seeds"]):
        X, y, u = T.two_gaussians(cfg["bound_n"], cfg["d"], cfg["separation"],
                                  numpy_rng(seed, s, 4))
        Xt, yt, _ = T.two_gaussians(cfg["bound_test"], cfg["d"], cfg["separation"],
                                    numpy_rng(seed, s, 5), u)
        out.append(bound_study(X, y, Xt, yt, lr=cfg["lr"], lam=cfg["lam"], steps=cfg["steps"],
                               delta=cfg["delta"]))
    return out


def digits01(seed: int, test_fraction: float = 0.2) -> dict:
    r"""scikit-learn's digits 0 (:math:`y=-1`) and 1 (:math:`y=+1`), pixels / 16, centred at
    the training mean; a stratified split with ``test_fraction`` of each class held out."""
    x, lab = digits_arrays()
    keep = lab <= 1
    x, yy = x[keep] / 16.0, np.where(lab[keep] == 1, 1.0, -1.0)
    rng = numpy_rng(seed, 6)
    test = np.zeros(len(yy), bool)
    for c in (-1.0, 1.0):
        idx = np.flatnonzero(yy == c)
        test[rng.choice(idx, round(test_fraction * len(idx)), replace=False)] = True
    mu = x[~test].mean(0)
    return {"X": x[~test] - mu, "y": yy[~test], "X_test": x[test] - mu, "y_test": yy[test]}


class _KM:
    """The Θ-KM of one seed at the test points ``x``: its certificate and its margin."""

    def __init__(self, alpha, X_train, x, y):
        self.alpha, self.X_train, self.x, self.y = alpha, X_train, x, y

    def lower(self, eps):
        return T.km_lower_margin(self.alpha, self.X_train, self.x, self.y, eps)

    def margin(self, points):
        return self.y * (relu_ntk(points, self.X_train, False) @ self.alpha)


class _Net:
    """One trained network g = f(·; θ) − f(·; θ_0) at the test points: IBP and its margin."""

    def __init__(self, W, a, W0, a0, x, y):
        self.W, self.a, self.W0, self.a0 = W, a, W0, a0
        self.x, self.y = torch.as_tensor(x, dtype=DTYPE), torch.as_tensor(y, dtype=DTYPE)

    def lower(self, eps):
        e = torch.as_tensor(eps, dtype=DTYPE)
        return T.ibp_lower_margin(self.W, self.a, self.W0, self.a0, self.x, self.y, e).numpy()

    def margin(self, points):
        p, m = torch.as_tensor(points, dtype=DTYPE), [self.W.shape[0]]
        g = (T.forward(self.W[None], self.a[None], p, m)
             - T.forward(self.W0[None], self.a0[None], p, m))
        return self.y.numpy() * g[0, :, 0].numpy()


def robustness(sw: Mapping, cfg: Mapping) -> dict:
    r""":math:`\ell_\infty` certified radii on the test points of every seed: the KM with the
    closed-form NTK by kernel interval bounds (:func:`relubook.topics.nn_svm.km_lower_margin`)
    and every trained network by interval bound propagation
    (:func:`relubook.topics.nn_svm.ibp_lower_margin`), by bisection up to ``cfg["eps_max"]``;
    and upper bounds of the robust radii by an attack along :math:`-y\,\mathrm{sign}(u)`
    (towards the other class), for the KM and every network.

    Medians are over the test points that the KM and every network of the seed classify
    correctly. Returns ``km_cert`` ``(S,)``, ``ibp_cert`` ``(S, K)``, ``km_attack`` ``(S,)``,
    ``nn_attack`` ``(S, K)`` (medians), ``unsound``: the points whose certified radius exceeds
    the attack's (certificate against attack of the same model, all seeds and models), and
    ``points``, the number of points the medians use.
    """
    widths, eps_max = sw["widths"], float(cfg["eps_max"])
    grid = np.linspace(0.0, eps_max, cfg["attack_grid"] + 1)[1:]
    starts = np.concatenate([[0], np.cumsum(widths)])
    S, K = len(sw["u"]), len(widths)
    out = {"km_cert": np.zeros(S), "ibp_cert": np.zeros((S, K)), "km_attack": np.zeros(S),
           "nn_attack": np.zeros((S, K)), "unsound": 0, "points": np.zeros(S, int)}
    for s in range(S):
        Xtr, x, y = sw["X"][s], sw["X_test"][s], sw["y_test"][s]
        direction = -y[:, None] * np.sign(sw["u"][s])[None, :]
        ok = (y * sw["g_km"][s] > 0) & np.all(y[None] * sw["g_nn"][s] > 0, 0)
        out["points"][s] = int(ok.sum())
        km = _KM(sw["alpha"][s], Xtr, x, y)
        km_c = T.certified_radius(km.lower, len(y), eps_max, cfg["cert_iters"])
        km_a = T.attack_radius(km.margin, x, direction, grid, cfg["cert_iters"])
        out["unsound"] += int((km_c > km_a).sum())
        out["km_cert"][s], out["km_attack"][s] = np.median(km_c[ok]), np.median(km_a[ok])
        for k, m in enumerate(widths):
            sl = slice(starts[k], starts[k + 1])
            net = _Net(sw["W"][s, sl], sw["a"][s, sl], sw["W0"][s, sl], sw["a0"][s, sl], x, y)
            c = T.certified_radius(net.lower, len(y), eps_max, cfg["cert_iters"])
            at = T.attack_radius(net.margin, x, direction, grid, cfg["cert_iters"])
            out["unsound"] += int((c > at).sum())
            out["ibp_cert"][s, k], out["nn_attack"][s, k] = np.median(c[ok]), np.median(at[ok])
    return out


def slice_grid(sw: Mapping, s: int = 0, k: int = -1, half: float = 4.0, points: int = 61
               ) -> dict:
    r"""The network ``k`` of seed index ``s`` and the :math:`\Theta`-KM on the plane spanned
    by the class direction :math:`u` and a unit vector :math:`v\perp u` (the plane through
    the origin, the other coordinates 0): ``t`` ``(points,)``, ``g_nn`` and ``g_km``
    ``(points, points)`` (rows along :math:`v`, columns along :math:`u`), and the training
    points' coordinates ``(x\cdot u, x\cdot v)`` with their labels, and ``u``, ``v``."""
    u = sw["u"][s]
    v = numpy_rng(0, 7).standard_normal(u.shape)
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    t = np.linspace(-half, half, points)
    P = (t[None, :, None] * u + t[:, None, None] * v).reshape(-1, u.size)
    widths = sw["widths"]
    k = k % len(widths)
    lo = int(np.sum(widths[:k]))
    sl = slice(lo, lo + widths[k])
    p = torch.as_tensor(P, dtype=DTYPE)
    g = (T.forward(sw["W"][s:s + 1, sl], sw["a"][s:s + 1, sl], p, [widths[k]])
         - T.forward(sw["W0"][s:s + 1, sl], sw["a0"][s:s + 1, sl], p, [widths[k]]))
    g_km = relu_ntk(P, sw["X"][s], False) @ sw["alpha"][s]
    X = sw["X"][s]
    return {"t": t, "g_nn": g[0, :, 0].numpy().reshape(points, points),
            "g_km": g_km.reshape(points, points), "xu": X @ u, "xv": X @ v, "y": sw["y"][s],
            "width": widths[k], "u": u, "v": v}

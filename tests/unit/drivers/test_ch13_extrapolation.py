"""Unit tests of relubook.drivers.ch13_extrapolation: the sweep, rays, regions, closed forms."""

import numpy as np
import pytest
import torch
from relubook.core.random import numpy_rng
from relubook.drivers import ch13_extrapolation as drv
from relubook.topics import extrapolation as E

CASES = drv.sweep_cases(["ntk", "standard"], ["quadratic"], ["ntk0"], [0, 2])


@pytest.fixture(scope="module")
def sweep():
    return drv.train_sweep(CASES, n_seeds=2, d=3, width=16, n_train=64, batch_size=16,
                           steps=40, lr=1e-2, wd=1e-5, seed=0, progress=False)


def test_cases_and_data_layout():
    assert [(c["param"], c["target"], c["restricted"]) for c in CASES] == [
        ("ntk", "quadratic", 0), ("standard", "quadratic", 0), ("ntk0", "linear", 0),
        ("ntk0", "linear", 2)]
    data = drv.sweep_data(CASES, 2, 3, 50, seed=1)
    tab, x, y = data["table"], data["x"], data["y"]
    assert len(tab) == 8 and [r["seed_index"] for r in tab] == [0] * 4 + [1] * 4
    assert np.array_equal(x[0], x[1])            # same support and seed: same inputs
    assert not np.array_equal(x[0], x[4])        # another seed: other inputs
    assert x[3][:, :2].min() >= 0 and x[2][:, :2].min() < 0
    assert np.linalg.norm(x[0], axis=1).max() <= 1
    assert np.allclose(y[3], x[3] @ data["beta"][0]) and np.allclose(y[0], (x[0] ** 2).sum(1))
    Z = numpy_rng(2).standard_normal((5, 3))
    T = drv.sweep_targets(tab, data["beta"], Z)
    assert np.allclose(T[6], Z @ data["beta"][1]) and np.allclose(T[4], (Z ** 2).sum(1))


def test_train_sweep_trains_independent_networks(sweep):
    assert sweep["net"].weights[0].dtype == torch.float64 and sweep["net"].n_nets == 8
    assert sweep["loss_curve"].shape == (8, 40)
    init = drv.train_sweep(CASES, n_seeds=2, d=3, width=16, n_train=64, batch_size=16,
                           steps=0, lr=1e-2, wd=1e-5, seed=0, progress=False)
    assert np.all(sweep["loss"] < init["loss"])
    # one seed's networks alone train exactly as inside the sweep (the mini-batch indices
    # come from the run's generator, the same whatever the other networks)
    one = drv.train_sweep(CASES[:2], n_seeds=1, d=3, width=16, n_train=64, batch_size=16,
                          steps=40, lr=1e-2, wd=1e-5, seed=0, progress=False)
    for a, b in zip(one["net"].weights, sweep["net"].weights):
        assert np.allclose(a.numpy(), b[:2].numpy(), atol=1e-6)
    # the bias-free networks keep zero biases
    assert torch.all(sweep["net"].biases[0][2:4] == 0)
    assert np.allclose(sweep["loss"], ((drv.predict_each(sweep["net"], sweep["x"])
                                        - sweep["y"]) ** 2).mean(1))


def test_ray_analysis_and_deviation(sweep):
    V = E.unit_directions(6, 3, numpy_rng(3))
    t, tt = np.linspace(2, 10, 9), np.geomspace(2, 1e6, 7)
    out = drv.ray_analysis(sweep["net"], V, t, tt)
    assert out["rays"].shape == (8, 6, 9) and out["deviation"].shape == (8, 6, 7)
    F = drv.predict(sweep["net"], drv.ray_points(V, t)).reshape(8, 6, 9)
    assert np.allclose(out["rays"], F)
    # bias-free networks are positively homogeneous: exactly linear along rays, no deviation
    assert out["unexplained"][2:4].max() < 1e-20 and out["deviation"][2:4].max() < 1e-9
    # beyond every breakpoint (t = 1e6 here) the deviation of a finite network vanishes
    W, b, _, _ = E.two_layer_numpy(sweep["net"])
    bp = E.ray_breakpoints(W, b, V)
    far = np.where(np.isfinite(bp), bp, 0).max(-1) < tt[-1]
    assert np.all(out["deviation"][..., -1][far] < 1e-6 * tt[-1])


def test_last_piece_check_and_ray_pieces(sweep):
    V = E.unit_directions(8, 3, numpy_rng(4))
    chk = drv.last_piece_check(sweep["net"], [0, 1], V)
    assert chk["affine_err"] < 1e-10 and chk["pattern_changes"] == 0
    assert chk["beyond_patterns"] == 1 and chk["piece_mismatch"] == 0
    assert chk["slope_err"] < 1e-10 and chk["pieces"].shape == (2, 8)
    p = drv.ray_pieces(sweep["net"], 1, V[0])
    assert p["slope"].shape == (p["t"].size + 1,) and p["slope"][-1] == pytest.approx(p["limit"])
    # the pieces rebuild the network along the ray
    ts = np.linspace(0.01, 3 * (p["t"].max() if p["t"].size else 1.0), 50)
    piece = np.searchsorted(p["t"], ts)
    rebuilt = p["slope"][piece] * ts + p["intercept"][piece]
    direct = drv.predict(sweep["net"], ts[:, None] * V[0][None, :])[1]
    assert np.allclose(rebuilt, direct, atol=1e-10)


def test_deviation_slope_and_errors():
    t = np.geomspace(1, 100, 9)
    assert drv.deviation_slope(t, 3 / t**2) == pytest.approx(-2)
    D = 1 / t
    D[-2:] = 0
    assert drv.deviation_slope(t, D) == pytest.approx(-1)
    assert np.isnan(drv.deviation_slope(t[:2], D[:2]))
    pred, tgt = np.array([[1.0, 2.0, 3.0, 5.0]]), np.array([[1.0, 1.0, 3.0, 3.0]])
    assert np.allclose(drv.rms_by_shell(pred, tgt, 2), [[np.sqrt(0.5), np.sqrt(2)]])
    assert drv.relative_rms(pred, tgt)[0] == pytest.approx(np.sqrt(5 / 20))
    g = drv.group([{"a": 1}, {"a": 2}, {"a": 1}], np.arange(3), ["a"])
    assert list(g) == [(1,), (2,)] and g[(1,)].tolist() == [0, 2]


def test_ntk_study_and_lemma1():
    d = 3
    V = E.unit_directions(5, d, numpy_rng(5))
    Zs = drv.shell_points([1.0, 2.0], 4, d, numpy_rng(6))
    Zb = E.sample_ball(30, d, 5.0, numpy_rng(7))
    beta = np.array([1.0, 0.0, 0.0])
    out = drv.ntk_study(d=d, n=60, targets=["quadratic", "sqrt"], restricted=[0, 3], beta=beta,
                        V=V, t=np.linspace(2, 10, 9), tt=np.geomspace(4, 400, 5), h=1.0,
                        Z_shell=Zs, Z_ball=Zb, seed=0)
    nb, b = out["nobias"], out["bias"]
    assert nb["unexplained"].shape == (2, 5) and b["deviation"].shape == (2, 5, 5)
    assert nb["shell"].shape == (2, 8) and b["ball"].shape == (2, 30)
    # bias-free: homogeneous, exactly linear; with biases: the deviation falls like 1/t^2
    assert nb["unexplained"].max() < 1e-20 and nb["deviation"].max() < 1e-9
    s = drv.deviation_slope(np.geomspace(4, 400, 5), b["deviation"][0].mean(0))
    assert -2.3 < s < -1.7
    L = drv.lemma1_study(d, 1.0, 10, 50, 100.0, seed=0)
    e = L["errors"]
    assert e[("basis", "nobias")] < 1e-12 and e[("basis + restricted", "nobias")] < 1e-10
    assert e[("restricted", "nobias")] > 1e-2 and e[("basis", "bias")] > 1e-2
    assert L["identity"] < 1e-14


def test_run_sweep_and_grids():
    cfg = {"c1_params": ["standard"], "targets": ["cos"], "c2_params": ["ntk0"],
           "restricted": [1], "seeds": 1, "d": 2, "width": 8, "n_train": 32, "batch_size": 8,
           "steps": 3, "lr": 1e-2, "wd": 0.0, "rays": 4, "ray_t": [2.0, 10.0],
           "ray_points": 5, "dev_t": [2.0, 20.0], "dev_t_ntk": [4.0, 40.0], "dev_points": 4,
           "radii": [1.0, 2.0], "shell_n": 3, "test_n": 7, "test_radius": 5.0}
    sw = drv.run_sweep(cfg, 0, progress=False)
    G = drv.grids(cfg, 0)
    assert G["Z_shell"].shape == (6, 2) and G["Z_ball"].shape == (7, 2)
    assert np.allclose(np.linalg.norm(G["Z_shell"][3:], axis=1), 2.0)
    M = drv.measure_sweep(sw, G)
    assert M["shell_rms"].shape == (2, 2) and M["relerr"].shape == (2,)
    assert np.isnan(M["dev_slope"][1])           # the bias-free network: round-off only
    tu = drv.target_unexplained(["quadratic", "sqrt"], G)
    assert 0.02 < tu["quadratic"] < 0.04 and 0.005 < tu["sqrt"] < 0.02

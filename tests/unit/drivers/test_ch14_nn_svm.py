"""Unit tests of relubook.drivers.ch14_nn_svm on a tiny configuration: the sweep's bookkeeping
against direct recomputation, the exact check, the bounds, the digits split, the certificates."""

import numpy as np
import pytest
import torch
from relubook.core.ntk import relu_ntk
from relubook.drivers import ch14_nn_svm as drv
from relubook.topics import nn_svm as T

CFG = {"d": 3, "n": 16, "n_test": 12, "separation": 3.0, "lr": 0.5, "lam": 0.01, "steps": 12,
       "widths": [8, 32], "seeds": 2, "ref_width": 32, "snapshots": 2, "exact_width": 16,
       "jac_points": 5, "bound_n": 60, "bound_test": 40, "delta": 0.05, "eps_max": 3.0,
       "attack_grid": 10, "cert_iters": 20}


@pytest.fixture(scope="module")
def sw():
    return drv.width_sweep(CFG, 3, progress=False)


def test_make_data_is_seeded_and_shares_the_direction():
    a, b = drv.make_data(CFG, 1), drv.make_data(CFG, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["X"].shape == (2, 16, 3) and a["X_test"].shape == (2, 12, 3)
    assert not np.array_equal(a["X"][0], a["X"][1])
    assert not np.array_equal(drv.make_data(CFG, 2)["X"], a["X"])
    # the test set's class means lie along the training set's direction u
    big = {**CFG, "n_test": 20000, "seeds": 1}
    d = drv.make_data(big, 1)
    m = d["X_test"][0][d["y_test"][0] > 0].mean(0)
    assert np.allclose(m, 1.5 * d["u"][0], atol=0.05)


def test_width_sweep_against_recomputation(sw):
    S, K, N = 2, 2, CFG["n_test"]
    assert sw["g_nn"].shape == (S, K, N) and sw["g_km"].shape == (S, N)
    for key in ("dev", "dev_move", "dev_init", "dev_bar", "movement", "init_err", "err_nn"):
        assert sw[key].shape == (S, K) and np.all(np.isfinite(sw[key]))
    s, k, n = 1, 1, CFG["n"]
    # the network's g on the test points, from its final and initial weights
    sl = slice(8, 40)
    xt = torch.as_tensor(sw["X_test"][s])
    g = (T.forward(sw["W"][s:s + 1, sl], sw["a"][s:s + 1, sl], xt, [32])
         - T.forward(sw["W0"][s:s + 1, sl], sw["a0"][s:s + 1, sl], xt, [32]))[0, :, 0]
    assert np.allclose(sw["g_nn"][s, k], g.numpy(), atol=1e-12)
    # the SVM: the dual update with the closed-form kernel
    K_tr = relu_ntk(sw["X"][s], sw["X"][s], False)
    alpha = T.km_train(K_tr, sw["y"][s], lr=0.5, lam=0.01, steps=12)
    assert np.allclose(sw["alpha"][s], alpha)
    assert np.allclose(sw["g_km"][s], relu_ntk(sw["X_test"][s], sw["X"][s], False) @ alpha)
    # the initial-kernel machine from the network's empirical NTK at initialisation
    A = torch.as_tensor(np.concatenate([sw["X"][s], sw["X_test"][s]]))
    K0 = T.empirical_ntk(sw["W0"][s:s + 1, sl], sw["a0"][s:s + 1, sl], A,
                         torch.as_tensor(sw["X"][s]), [32])[0, 0].numpy()
    a0 = T.km_train(K0[:n], sw["y"][s], lr=0.5, lam=0.01, steps=12)
    assert np.allclose(sw["dev_move"][s, k], T.relative_deviation(g.numpy(), K0[n:] @ a0))
    assert np.allclose(sw["dev_init"][s, k],
                       T.relative_deviation(K0[n:] @ a0, sw["g_km"][s]))
    rel = np.linalg.norm(K0[:n] - K_tr) / np.linalg.norm(K_tr)
    assert sw["init_err"][s, k] == pytest.approx(rel)
    assert list(sw["snapshots"]) == [0, 6, 12]
    assert np.allclose(sw["err_km"], (sw["y_test"] * sw["g_km"] <= 0).mean(1))


def test_averaged_kernel_is_the_trapezoid_of_the_snapshots():
    cfg = {**CFG, "snapshots": 1, "seeds": 1, "widths": [16]}
    out = drv.width_sweep(cfg, 4, progress=False)
    n = cfg["n"]
    A = torch.as_tensor(np.concatenate([out["X"][0], out["X_test"][0]]))
    B = torch.as_tensor(out["X"][0])
    K0 = T.empirical_ntk(out["W0"], out["a0"], A, B, [16])[0, 0].numpy()
    KT = T.empirical_ntk(out["W"], out["a"], A, B, [16])[0, 0].numpy()
    Kbar = 0.5 * (K0 + KT)
    al = T.km_train(Kbar[:n], out["y"][0], lr=0.5, lam=0.01, steps=12)
    assert np.allclose(out["dev_bar"][0, 0],
                       T.relative_deviation(out["g_nn"][0, 0], Kbar[n:] @ al))
    assert out["movement"][0, 0] == pytest.approx(np.linalg.norm(KT[:n] - K0[:n])
                                                  / np.linalg.norm(K0[:n]))
    assert out["movement"][0, 0] > 0


def test_exact_check_is_round_off():
    ex = drv.exact_check(CFG, 0)
    assert ex["max_rel"] < 1e-12 and ex["flips"] == 0 and ex["jac_err"] < 1e-14


def test_bound_study_and_gaussian_bounds():
    out = drv.gaussian_bounds(CFG, 0)
    assert len(out) == 2
    b = out[0]
    assert b["n"] == 60 and b["n_test"] == 40 and 0 <= b["test_err"] <= 1
    assert b["bound"] == pytest.approx(b["hinge"] + b["complexity"] + b["confidence"])
    assert b["bound_code"] < b["bound"]          # δ = 0.99 shrinks the confidence term only
    X, y = np.eye(2), np.array([1.0, -1.0])
    r = drv.bound_study(X, y, X, y, lr=0.5, lam=0.0, steps=50, delta=0.05)
    assert r["test_err"] == 0.0 and r["train_err"] == 0.0


def test_digits01_split():
    d = drv.digits01(0)
    assert set(np.unique(d["y"])) == {-1.0, 1.0} and d["X"].shape[1] == 64
    n0 = (d["y"] < 0).sum() + (d["y_test"] < 0).sum()
    n1 = (d["y"] > 0).sum() + (d["y_test"] > 0).sum()
    assert n0 == 178 and n1 == 182                    # scikit-learn's digits 0 and 1
    assert abs(len(d["y_test"]) - 0.2 * (n0 + n1)) <= 1
    assert np.allclose(d["X"].mean(0), 0, atol=1e-12)
    # the split depends on the seed; pixels were scaled to [0, 1] before centring
    assert not np.array_equal(drv.digits01(1)["X_test"], d["X_test"])
    assert d["X"].max() - d["X"].min() <= 2.0


def test_robustness_on_the_tiny_sweep(sw):
    rb = drv.robustness(sw, CFG)
    assert rb["ibp_cert"].shape == (2, 2) and rb["km_cert"].shape == (2,)
    assert rb["unsound"] == 0
    assert np.all(rb["km_cert"] <= rb["km_attack"]) and np.all(rb["ibp_cert"] <= rb["nn_attack"])
    assert np.all(rb["points"] > 0) and np.all(rb["km_cert"] > 0)


def test_slice_grid(sw):
    sg = drv.slice_grid(sw, s=1, k=0, half=2.0, points=5)
    assert sg["g_nn"].shape == (5, 5) and sg["g_km"].shape == (5, 5) and sg["width"] == 8
    u, v, t = sg["u"], sg["v"], sg["t"]
    assert abs(u @ v) < 1e-12 and np.linalg.norm(v) == pytest.approx(1.0)
    # row i runs along v, column j along u
    x = t[3] * u + t[1] * v
    want = relu_ntk(x[None], sw["X"][1], False) @ sw["alpha"][1]
    assert sg["g_km"][1, 3] == pytest.approx(want[0])
    sl = slice(0, 8)
    xt = torch.as_tensor(x[None])
    g = (T.forward(sw["W"][1:2, sl], sw["a"][1:2, sl], xt, [8])
         - T.forward(sw["W0"][1:2, sl], sw["a0"][1:2, sl], xt, [8]))
    assert sg["g_nn"][1, 3] == pytest.approx(float(g[0, 0, 0]))
    assert np.allclose(sg["xu"], sw["X"][1] @ u) and np.allclose(sg["xv"], sw["X"][1] @ v)

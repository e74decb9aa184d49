"""Unit tests of relubook.drivers.ch03_deep_convergence: closed forms, independent loops."""

import math

import numpy as np
import pytest
from relubook.drivers import ch03_deep_convergence as drv
from relubook.topics import deep_init as di
from relubook.topics import deep_products as dp


def test_rel_error():
    assert drv.rel_error([1.0, 2.2], [1.0, 2.0]) == pytest.approx(0.1)
    assert drv.rel_error([0.0], [0.0]) == 0.0
    assert drv.rel_error([1e-200], [0.0]) > 1e99           # an exact zero must be matched exactly
    with pytest.raises(ValueError):
        drv.rel_error([1.0, 2.0], [1.0])


def test_explicit_form_draws_and_errors():
    out = drv.explicit_form(5, 7, 30, np.random.default_rng(4))
    r = np.random.default_rng(4)
    np.testing.assert_array_equal(out["W"], r.standard_normal((7, 5, 5)) * np.sqrt(2 / 5))
    np.testing.assert_array_equal(out["b"], 0.1 * r.standard_normal((7, 5)))
    np.testing.assert_array_equal(out["x"], r.standard_normal((30, 5)))
    assert out["err_formula"] < 1e-12 and out["err_augmented"] < 1e-12
    assert 0 < out["active"] < 1


def test_slice_regions_counts_and_deviation(monkeypatch):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 3, 3))
    b = 0.1 * rng.standard_normal((6, 3))
    grid = np.linspace(-2, 2, 30)
    out = drv.slice_regions(W, b, grid, (1, 6), 200, np.random.default_rng(1))
    assert out["ids"][1].shape == (30, 30)
    # the first layer's domains on a plane: at most 1 + 3 + 3 regions for 3 lines (here fewer
    # patterns than points), refined by later layers
    assert 1 <= out["counts"][1] <= 7 and out["counts"][6] >= out["counts"][1]
    assert out["deviation"] < 1e-12 and 1 <= out["sampled_patterns"] <= out["counts"][6]

    # the deviation is computed, not assumed: perturb A per point and it must show
    real = dp.affine_form

    def shifted(W, b, pats):
        A, c = real(W, b, pats)
        return A + 1e-3 * np.arange(len(A))[:, None, None], c

    monkeypatch.setattr(drv.dp, "affine_form", shifted)
    bad = drv.slice_regions(W, b, grid, (1,), 200, np.random.default_rng(1))
    assert bad["sampled_patterns"] < 200 and bad["deviation"] >= 1e-3 - 1e-12


def _scalar(w, b, x):
    y = x
    for wk, bk in zip(w, b):
        y = max(wk * y + bk, 0.0)
    return y


def test_closed_forms_against_a_scalar_loop():
    n, c = 500, 0.5
    out = drv.closed_forms(n, c, points=10)
    k = np.arange(1, n + 1, dtype=float)
    cases = {0: (np.r_[1, 1 + k[1:] ** -2], np.zeros(n)),
             1: (np.r_[1, 1 + 1 / k[1:]], np.zeros(n)),
             2: (np.ones(n), np.r_[0, c * k[1:] ** -2]),
             3: (np.ones(n), np.r_[0, c / k[1:]]),
             4: (np.r_[1, 1 + (-1.0) ** k[1:] / k[1:]], np.zeros(n))}
    for j, (w, b) in cases.items():
        for i, x in enumerate(drv.K2_INPUTS):
            assert out["traj"][-1, i, j] == pytest.approx(_scalar(w, b, x), rel=1e-12, abs=1e-15)
    H = float(np.sum(1 / k))
    assert out["b_at_1"] == pytest.approx((n + 1) / 2, rel=1e-12)
    assert out["d_at_minus1"] == pytest.approx(c * (H - 1), rel=1e-12)
    assert out["d_log"] == pytest.approx(c * (math.log(n) - 1))
    assert out["lim_a"] == pytest.approx(1.838039, abs=1e-6)
    # the tails are about 1/n: prod_{k>n} (1 + k^-2) ~ exp(1/n), c * sum_{k>n} k^-2 ~ c/n
    assert out["a"] == pytest.approx(1 / n, rel=0.05)
    assert out["c_err"] == pytest.approx(c / n / out["lim_c"], rel=0.05)   # worst at x <= 0
    assert out["a_zero"] == 0.0
    for key in ("b", "d", "e"):
        assert out[key] < 1e-11
    assert out["e_lim"] == pytest.approx(1 / n, rel=1e-9)     # n = 500 is even: (n+1)/n


def test_tail_rates_bound_and_slopes():
    x = np.random.default_rng(0).standard_normal((8, 6))
    out = drv.tail_rates([0.5, 3.0], 6, 256, x, seeds=[0, 1], base_seed=3)
    assert out["incr"].shape == (2, 8) and out["err"].shape == (2, 2, 8, 9)
    assert np.all(out["err"][..., -1] == 0)
    assert out["bound_ratio"] <= 1.0                      # the bound is a theorem
    assert out["slopes"][1] == pytest.approx(-2.5, abs=0.4)
    assert out["slopes"][0] > out["slopes"][1] + 1.5
    assert np.all(out["looseness"] >= 1)
    with pytest.raises(ValueError):
        drv.tail_rates([1.0], 6, 16, x, seeds=[0], base_seed=0)


def test_counter_examples_closed_forms():
    out = drv.counter_examples(60)
    assert out["dist_to_I"]["(1/2) I"] == pytest.approx(0.5, abs=1e-15)
    assert out["dist_to_I"]["diag(1, 1/2)"] == pytest.approx(0.5, abs=1e-15)
    assert out["dist_to_I"]["swap"] == pytest.approx(2.0, abs=1e-15)
    # N_n = 2^-n sigma(x): the last step is 2^-60 * max sigma(x) = 2^-60 * 2
    assert out["step"]["(1/2) I"] == pytest.approx(2.0**-59, rel=1e-12)
    assert out["exact"] < 1e-14
    assert out["growth_105"] == pytest.approx(1.05**59, rel=1e-12)
    assert out["swap_min_step"] == pytest.approx(1.5) and out["swap_period2"] == 0.0
    assert out["smin_degenerate"] < 1e-12
    assert out["smin"]["swap"].min() > 0.1               # a permutation keeps B_n invertible


def test_identification_recovers_decaying_layers():
    out = drv.identification(3, 128, seed=1, points=12)
    assert out["id_err"].max() < 1e-10
    assert out["min_output"] > 0
    assert out["slope"] == pytest.approx(-2.0, abs=0.3)  # ||[W_n - I, b_n]|| ~ (n+1)^-2
    assert out["smin"].min() > 0.3 * out["smin_0"]


def test_init_scale_counts_dead_draws(monkeypatch):
    def fake(kind, m, depths, draws, rng):
        z = np.tile(np.arange(draws, dtype=float), (len(depths), 1))
        z *= (1 + np.arange(len(depths)))[:, None]
        if kind == "he":
            z[-1, 0] = -np.inf
        return z

    monkeypatch.setattr(drv.di, "log_norm_ratio", fake)
    out = drv.init_scale(4, [1, 4], 5, np.random.default_rng(0))
    assert out["dead"] == {"he": 1, "convergent": 0, "identity_noise": 0}
    np.testing.assert_allclose(out["mean"]["he"], [2.0, np.mean([2, 4, 6, 8])])
    assert out["conv_drift"] == pytest.approx(2.0)
    np.testing.assert_allclose(out["conv_std_ratio"], [1.0, 2.0])
    assert out["he_ratio"] == pytest.approx(np.std([2, 4, 6, 8]) / np.std(np.arange(5)))
    assert out["he_expected"] == 2.0


def test_init_scale_real_draws():
    out = drv.init_scale(8, [4, 16], 40, np.random.default_rng(2))
    assert set(out["z"]) == set(di.INITS)
    assert out["conv_drift"] < 0.05 and out["he_ratio"] > 1.2


def test_training_summary():
    def result(acc):
        inits = [k for k in di.INITS for _ in range(2)]
        return {"inits": inits, "test_acc": np.array([[0.0, a] for a in acc])}

    train = {4: result([0.9, 0.8, 0.7, 0.9, 0.8, 0.8]),
             16: result([0.1, 0.1, 0.6, 0.8, 0.1, 0.5])}
    out = drv.training_summary(train)
    assert out["L_max"] == 16
    assert out["gap_he"] == pytest.approx(0.6)
    assert out["gap_noise"] == pytest.approx(0.4)
    assert out["worst_convergent"] == pytest.approx(0.6)
    assert out["trained"][(16, "he")] == 0 and out["trained"][(16, "identity_noise")] == 1
    assert out["lo"][(4, "he")] == 0.8 and out["hi"][(4, "he")] == 0.9
    with pytest.raises(ValueError, match="identity_noise"):
        drv.training_summary({4: {"inits": ["he", "convergent"], "test_acc": np.ones((2, 1))}})

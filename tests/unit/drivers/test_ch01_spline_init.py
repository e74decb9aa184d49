"""Unit tests of relubook.drivers.ch01_spline_init: each experiment at a small scale, against
closed forms and independent computations."""

import numpy as np
import pytest
from relubook.core.random import numpy_rng
from relubook.drivers import ch01_spline_init as drv
from relubook.topics import splines as S
from scipy import stats


def test_exactness_is_at_round_off():
    out = drv.exactness([1, 7, 64], 5, 2001, np.random.default_rng(0))
    assert set(out) == {"eval", "rescale", "jump"}
    assert out["eval"] < 1e-12 and out["rescale"] < 1e-13 and out["jump"] < 1e-12


def test_breakpoint_law_matches_closed_forms():
    out = drv.breakpoint_law([(1.0, 1.0), (2.0, 0.5)], 200_000, np.random.default_rng(1))
    assert [(r["sigma_w"], r["sigma_b"]) for r in out["pairs"]] == [(1.0, 1.0), (2.0, 0.5)]
    for r in out["pairs"]:
        # E #{|β| ≤ 1} = (2H/π) arctan(σ_w/σ_b), H = 100
        assert r["expected"] == pytest.approx(200 / np.pi * np.arctan(r["sigma_w"] / r["sigma_b"]))
        assert abs(r["count"] / r["expected"] - 1) < 0.01
    assert out["min_p"] == min(r["p"] for r in out["pairs"]) and out["min_p"] > 1e-3
    assert out["max_abs_z"] == max(abs(r["z"]) for r in out["pairs"])
    assert out["p_inside_error"] == pytest.approx(abs(out["p_inside"] - 0.5))
    assert out["p_inside_error"] < 0.01
    assert out["beta"][(2.0, 0.5)].size == 200_000


def test_breakpoint_law_ks_test_has_power():
    """The K2 check can fail: Cauchy(0, 1) breakpoints tested against scale 1/4 are rejected."""
    out = drv.breakpoint_law([(1.0, 1.0)], 50_000, np.random.default_rng(2))
    assert stats.kstest(out["beta"][(1.0, 1.0)], stats.cauchy(scale=0.25).cdf).pvalue < 1e-6


def test_roughness_density_matches_closed_forms():
    out = drv.roughness_density([(1.0, 1.0), (2.0, 0.5)], 64, 20_000, np.random.default_rng(3))
    assert out["max_rho_error"] < 0.03
    assert out["max_worst_bin"] < 0.1 and out["pytorch_worst_bin"] < 0.1
    assert abs(out["pytorch_share_inside"] - 0.75) < 0.02
    _, exact = out["hist"]["pytorch"]
    inner = np.abs(0.5 * (out["edges"][1:] + out["edges"][:-1])) < 1
    np.testing.assert_allclose(exact[inner], 1 / 24)


def test_width_scaling_slopes_and_flat_labels():
    out = drv.width_scaling(["lecun", "glorot"], [8, 64, 512], 2000, np.random.default_rng(4),
                            target_energy=0.32 * np.pi**2)
    assert abs(out["slope_rho"]["lecun"]) < 0.05
    assert abs(out["slope_rho"]["glorot"] + 1) < 0.1
    assert abs(out["slope_tv"]["lecun"] - 0.5) < 0.05
    # closed form: ratio = Hσ_v²σ_w²/2 / (0.32π²); LeCun 0.158 at every H; Glorot 4H/(H+1)²/2
    assert not out["predicted_flat"]["lecun"].any()
    assert out["predicted_flat"]["glorot"].tolist() == [False, True, True]
    assert out["label_mismatches"] == 0
    assert out["flat_at_widest"] == {"lecun": False, "glorot": True}
    assert out["max_abs_z_rho"] < 4 and out["max_abs_z_var"] < 4
    assert out["fan_in_rho_slope"] == abs(out["slope_rho"]["lecun"])
    assert out["max_ratio_widest"] == pytest.approx(out["per_scheme"]["lecun"]["ratio"][-1])
    with pytest.raises(ValueError, match="unknown scheme"):
        drv.width_scaling(["gaussian"], [8], 10, np.random.default_rng(0), 1.0)


def test_gradient_flow_formulas_and_alpha_scaling():
    out = drv.gradient_flow(3, 8, 20, np.random.default_rng(5))
    assert out["error"] < 1e-4
    assert abs(out["slope"] + 2) < 1e-3
    assert out["speed"].shape == (9,) and np.all(np.diff(out["speed"]) < 0)


def rng_for(k, i):
    return numpy_rng(0, 6, k, i)


def test_regime_sweep_at_zero_steps_is_the_initial_network():
    out = drv.regime_sweep([0.5, 2.0], 2, 0, rng_for, width=20, n_snapshots=0)
    assert out["movement"].shape == (2, 2)
    np.testing.assert_array_equal(out["movement"], 0)
    # after 0 steps the network and its lazy model are the initial function
    assert np.max(out["dist_lazy"]) < 1e-12


def test_regime_sweep_kernel_and_rich_ends():
    out = drv.regime_sweep([0.05, 4.0], 1, 2000, rng_for, width=100, n_snapshots=3)
    assert out["hist"]["beta"].shape == (3, 2, 100)
    assert out["med_movement"][0] > 100 * out["med_movement"][1]
    assert out["med_lazy"][1] < 0.01 < out["med_lazy"][0]
    assert np.all((out["near"] >= 0) & (out["near"] <= 1))
    # a network's stream depends on its (seed index, scale index) only
    small = drv.regime_sweep([0.05, 4.0], 2, 0, rng_for, width=100, n_snapshots=0)
    np.testing.assert_array_equal(small["net0"].w[:2], out["net0"].w)
    with pytest.raises(ValueError, match="increasing"):
        drv.regime_sweep([4.0, 0.05], 1, 10, rng_for)


def test_hessian_at_minima_rank_and_null_space():
    out = drv.hessian_at_minima([(4, 10)], np.random.default_rng(6), gd_steps=2000)
    (row,) = out["cases"]
    assert row["loss"] < 1e-20
    assert row["rank"] <= 4 and row["gn_rank"] <= 4
    assert row["rank_init"] > 4  # the residual term adds rank away from a minimum
    assert row["curvature"] < 1e-12
    assert out["max_rank_excess"] == row["rank"] - 4
    assert row["eig_min"].shape == (31,)


def test_plot_regime_draws():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = drv.regime_sweep([0.5, 2.0], 1, 20, rng_for, width=10, n_snapshots=3)
    fig, axes = plt.subplots(1, 2)
    drv.plot_regime(axes[0], axes[1], out, 1)
    assert len(axes[1].lines) == 4
    plt.close(fig)


def test_mass_near_by_hand():
    sp = S.Spline(np.array([[0.0, 1.0, 5.0]]), np.array([[1.0, -2.0, 3.0]]), np.ones((1, 3)),
                  np.zeros(1))
    np.testing.assert_allclose(S.mass_near(sp, [0.01, 1.5], 0.03), [1 / 6])
    np.testing.assert_allclose(S.mass_near(sp, [0.01, 1.02, 4.99], 0.03), [1.0])
    with pytest.raises(ValueError):
        S.mass_near(sp, [0.0], 0.0)

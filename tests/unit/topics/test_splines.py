"""Unit tests of relubook.splines: exact identities and closed forms vs Monte Carlo."""

import numpy as np
import pytest
from scipy import stats

from relubook.topics import splines as S


@pytest.fixture
def rng():
    return np.random.default_rng(1)


@pytest.mark.parametrize("scheme", S.INITS)
def test_network_equals_spline(scheme, rng):
    net = S.init_shallow(scheme, 37, 5, rng)
    x = np.linspace(-5, 5, 2001)
    sp = S.to_spline(net)
    assert np.max(np.abs(S.eval_network(net, x) - S.eval_spline(sp, x))) < 1e-10


def test_rescaling_invariance(rng):
    net = S.init_shallow("pytorch", 16, 4, rng)
    alpha = rng.uniform(0.1, 10, size=net.w.shape)
    a, b = S.to_spline(net), S.to_spline(S.rescale(net, alpha))
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
    x = np.linspace(-3, 3, 101)
    np.testing.assert_allclose(S.eval_network(net, x), S.eval_network(S.rescale(net, alpha), x),
                               atol=1e-12)
    with pytest.raises(ValueError):
        S.rescale(net, -1.0)


def test_from_spline_roundtrip(rng):
    net = S.init_shallow("he", 8, 3, rng)
    back = S.from_spline(S.to_spline(net), np.abs(net.w))
    for u, v in zip(net, back):
        np.testing.assert_allclose(u, v, atol=1e-14)


def test_slope_jumps_equal_mu(rng):
    net = S.init_shallow("gaussian", 64, 6, rng, sigma_w=2.0, sigma_b=0.5)
    jumps, mu = S.slope_jumps(net)
    assert np.max(np.abs(jumps - mu)) < 1e-10


def test_zero_weight_is_an_error(rng):
    net = S.init_shallow("lecun", 4, 2, rng)
    net.w[0, 0] = 0.0
    with pytest.raises(ValueError, match="undefined"):
        S.to_spline(net)


def test_bad_inputs(rng):
    with pytest.raises(ValueError, match="valid schemes"):
        S.init_shallow("xavier", 4, 2, rng)
    with pytest.raises(ValueError):
        S.init_shallow("he", 0, 2, rng)
    with pytest.raises(ValueError):
        S.init_shallow("he", 4, 2, rng, bias="ones")
    sp = S.to_spline(S.init_shallow("he", 4, 2, rng))
    with pytest.raises(ValueError):
        S.roughness(sp, X=0)
    with pytest.raises(ValueError):
        S.kappa_bin_average(np.array([1.0, 0.0]), S.kappa_cumulative_pytorch)


def test_zero_bias_puts_breakpoints_at_zero(rng):
    sp = S.to_spline(S.init_shallow("he", 16, 3, rng, bias="zero"))
    assert np.all(sp.beta == 0)


def test_roughness_and_slope_energy(rng):
    net = S.init_shallow("pytorch", 12, 3, rng)
    sp = S.to_spline(net)
    r = S.roughness(sp)
    np.testing.assert_allclose(r["rho"], np.sum(sp.mu**2, axis=1))
    rx = S.roughness(sp, X=1.0)
    assert np.all(rx["tv"] <= r["tv"] + 1e-15)
    x = np.linspace(-1, 1, 200001)
    mid = 0.5 * (x[1:] + x[:-1])
    numeric = np.mean(S.network_slope(net, mid) ** 2, axis=1)
    np.testing.assert_allclose(S.slope_energy(sp, 1.0), numeric, rtol=1e-3)


def test_kappa_cumulatives_integrate_kappa():
    x = np.linspace(-4, 4, 8001)
    for kappa, cum in [
        (lambda t: S.kappa_gaussian(t, 8, 2.0, 0.5, 0.3),
         lambda t: S.kappa_cumulative_gaussian(t, 8, 2.0, 0.5, 0.3)),
        (S.kappa_pytorch, S.kappa_cumulative_pytorch),
    ]:
        k = cum(x)
        np.testing.assert_allclose(np.gradient(k, x)[1:-1], kappa(x)[1:-1], rtol=2e-3, atol=1e-6)
    # ∫_R κ = E ρ
    assert abs(2 * S.kappa_cumulative_gaussian(1e9, 8, 2.0, 0.5, 0.3) - 8 * 0.09 * 4) < 1e-6
    assert abs(2 * S.kappa_cumulative_pytorch(1e6) - S.expected_rho("pytorch", 8)) < 1e-9


def test_breakpoint_law_monte_carlo(rng):
    H, n = 50, 2000
    net = S.init_shallow("gaussian", H, n, rng, sigma_w=2.0, sigma_b=0.5)
    beta = S.to_spline(net).beta.ravel()
    assert stats.kstest(beta, stats.cauchy(scale=0.25).cdf).pvalue > 1e-3
    count = np.mean(np.sum(np.abs(S.to_spline(net).beta) <= 1.0, axis=1))
    assert abs(count / S.expected_count_gaussian(1.0, H, 2.0, 0.5) - 1) < 0.01
    bp = S.to_spline(S.init_shallow("pytorch", H, n, rng)).beta.ravel()
    assert abs(np.mean(np.abs(bp) <= 1) - 0.5) < 0.01
    # the pdf integrates to one
    t = np.linspace(-1e4, 1e4, 2_000_001)
    assert abs(np.trapezoid(S.breakpoint_pdf_pytorch(t), t) - 1) < 1e-3


def test_roughness_closed_forms_monte_carlo(rng):
    H, n = 16, 20000
    sw, sb, sv = 2.0, 0.5, 0.3
    sp = S.to_spline(S.init_shallow("gaussian", H, n, rng, sigma_w=sw, sigma_b=sb, sigma_v=sv))
    r = S.roughness(sp)
    assert abs(r["rho"].mean() / (H * sv**2 * sw**2) - 1) < 0.03
    assert abs(r["tv"].mean() / S.expected_tv_gaussian(H, sw, sv) - 1) < 0.02
    rx = S.roughness(sp, X=1.0)
    assert abs(rx["tv"].mean() / S.expected_tv_gaussian(H, sw, sv, X=1.0, sigma_b=sb) - 1) < 0.02
    edges = np.linspace(-2, 2, 9)
    mc = S.kappa_histogram(sp, edges)
    exact = S.kappa_bin_average(edges, lambda t: S.kappa_cumulative_gaussian(t, H, sw, sb, sv))
    assert np.max(np.abs(mc / exact - 1)) < 0.08
    spp = S.to_spline(S.init_shallow("pytorch", H, n, rng))
    mcp = S.kappa_histogram(spp, np.linspace(-1, 1, 5))
    assert np.max(np.abs(mcp * 24 - 1)) < 0.08


@pytest.mark.parametrize("scheme", ["he", "lecun", "glorot", "pytorch", "ntk", "meanfield"])
def test_expected_rho_and_slope_variance(scheme, rng):
    H = 32
    out = S.roughness_sample(scheme, H, 20000, rng, chunk=2**16)
    assert abs(out["rho"].mean() / S.expected_rho(scheme, H) - 1) < 0.03
    assert abs(np.var(out["fprime0"]) / S.slope_variance(scheme, H) - 1) < 0.05
    assert abs(out["energy_X"].mean() / S.slope_variance(scheme, H) - 1) < 0.05



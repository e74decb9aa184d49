"""Unit tests of relubook.drivers.ch11_convex_duality: the spline metrics on a network built
to equal the interpolant, the best-of-k probability in closed form, the XOR data, and the two
experiments at a small scale (certificate and cutting planes), plus the figure functions."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from relubook.core.data import six_points
from relubook.core.shallow import interpolant
from relubook.drivers import ch11_convex_duality as drv
from relubook.topics import convex_duality as T

SMALL = {"solver": "CLARABEL", "beta": 1e-2, "width": 30, "restarts": 3, "stall_widths": [4],
         "stall_restarts": 3, "spline_beta": 1e-4, "spline_width": 40,
         "beta_sweep": [1e-4, 1e-3, 1e-2], "steps": 1500, "lr": 1e-2, "lr_decay": 0.01,
         "cp_points": 8, "cp_beta": 0.05, "cp_tol": 1e-4, "cp_max_rounds": 100, "cp_init": 3}


def interpolant_network():
    """The interpolant on [x_1, ∞) as bias-inside neurons: (s_1(x − x_1))_+ plus the kinks."""
    x, y = six_points()
    itp = interpolant(x, y)
    U = [[itp.slopes[0], -itp.slopes[0] * x[0]]] + [[1.0, -t] for t in itp.knots]
    a = [1.0] + list(itp.delta_slopes)
    assert y[0] == 0 and itp.slopes[0] > 0
    return x, y, np.array(U), np.array(a), itp


def test_spline_metrics_of_the_interpolant_itself():
    x, y, U, a, itp = interpolant_network()
    m = drv.spline_metrics(x, y, U, a)
    assert m["sup"] < 1e-12
    assert m["tv"] == pytest.approx(67 / 3)
    assert m["path_norm"] == pytest.approx(itp.slopes[0] + 67 / 3)
    assert m["path_ratio_error"] == pytest.approx(itp.slopes[0] / (67 / 3))
    # the first neuron's knot sits at x_1 = −1, 0.4 from the nearest interior point
    assert m["max_knot_distance"] == pytest.approx(0.4)
    np.testing.assert_allclose(np.sort(m["knots"]), [-1.0, -0.6, -0.1, 0.3, 0.7])
    m2 = drv.spline_metrics(x, y, U[1:], a[1:])
    assert m2["max_knot_distance"] < 1e-12 and m2["sup"] > 0.5


def test_best_of_k_closed_forms():
    e = np.array([0.0, 0.5, 0.001, 2.0, 0.3])
    np.testing.assert_allclose(drv.best_of_k(e, 1e-2, [1, 5]), [2 / 5, 1.0])
    # P(miss both good ones with 2 draws from 5) = C(3,2)/C(5,2) = 3/10
    assert drv.best_of_k(e, 1e-2, [2])[0] == pytest.approx(0.7)
    np.testing.assert_allclose(drv.best_of_k(np.ones(4), 1e-2, [1, 4]), [0.0, 0.0])
    with pytest.raises(ValueError):
        drv.best_of_k(e, 1e-2, [6])


def test_two_d_data_is_a_balanced_xor():
    x, y = drv.two_d_data(21, np.random.default_rng(0))
    assert x.shape == (21, 2) and set(np.unique(y)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, np.sign(x[:, 0] * x[:, 1]))
    assert np.abs(x).min() >= 0.1 and np.abs(x).max() <= 1
    q = (x[:, 0] > 0).astype(int) * 2 + (x[:, 1] > 0)
    assert np.bincount(q).min() == 5 and np.bincount(q).max() == 6
    with pytest.raises(ValueError):
        drv.two_d_data(3, np.random.default_rng(0))


@pytest.fixture(scope="module")
def cert():
    return drv.certificate(SMALL, np.random.default_rng(1))


def test_certificate_small(cert):
    x, y = six_points()
    Z = T.with_bias(x)
    assert cert["p_cvx"] == pytest.approx(T.solve_convex_program(Z, y, 1e-2)["value"])
    assert [g["name"] for g in cert["groups"]] == ["spline", "certificate", "width 4"]
    assert [g["objective"].size for g in cert["groups"]] == [1, 3, 3]
    for g in cert["groups"]:
        assert np.all(g["excess"] >= -1e-6)      # weak duality: nobody beats the optimum
        assert np.all(g["dead_init"] <= g["width"])
    assert cert["lower"] <= cert["p_cvx"] + 1e-9 <= cert["p_gd"] + 1e-6
    assert cert["p_half"] < cert["p_cvx"]
    assert np.abs(cert["activity"] - 1).max() < 1e-4 and cert["feasibility"] < 1e-4
    assert cert["spline_cvx"]["sup"] < 2e-2 and cert["spline_cvx"]["max_knot_distance"] < 1e-6
    b, s = cert["sweep"]
    assert np.all(np.diff(s) > 0) and b.size == 3
    # a restart's recorded excess is its own objective against the certified optimum
    g = cert["groups"][1]
    assert cert["gap"] == pytest.approx(g["excess"].min())
    _, prof = drv.dual_profile(Z, cert["v"], cert["beta"])
    assert np.abs(prof).max() <= 1 + 1e-6 and np.abs(prof).max() > 1 - 1e-3


def test_cutting_plane_2d_small():
    out = drv.cutting_plane_2d(SMALL, np.random.default_rng(2), grid=21)
    assert out["cut"]["converged"] and out["cut"]["duality_gap"] < 1e-3
    assert out["outside"] <= 1e-6
    assert np.abs(out["activity"] - 1).max() < 1e-4
    assert out["f"].shape == (21, 21) and 0 <= out["accuracy"] <= 1
    assert out["n_patterns"] == 2 * (1 + 7 + 21) - 1


def test_figures_draw(cert):
    cp2 = drv.cutting_plane_2d(SMALL, np.random.default_rng(2), grid=21)
    for fn, args in ((drv.plot_certificate, (cert,)), (drv.plot_spline, (cert,)),
                     (drv.plot_stalls, (cert, 1e-2)), (drv.plot_cutting_plane, (cp2,))):
        fig, axes = plt.subplots(1, 2)
        fn(axes, *args)
        assert any(ax.lines or ax.collections for ax in axes)
        plt.close(fig)

"""Spline coordinates of shallow networks and the linear-spline interpolant (core.shallow)."""

import numpy as np
import pytest
from relubook.core import data, shallow


def test_six_point_interpolant_closed_form():
    x, y = data.six_points()
    ip = shallow.interpolant(x, y)
    np.testing.assert_allclose(ip.slopes, [2.5, -3.0, 3.25, -2.5, 7 / 3], rtol=1e-14)
    np.testing.assert_allclose(ip.delta_slopes, [-5.5, 6.25, -5.75, 29 / 6], rtol=1e-14)
    assert ip.tv == pytest.approx(67 / 3, rel=1e-14)
    np.testing.assert_array_equal(ip.knots, x[1:-1])
    np.testing.assert_allclose(ip(x), y, atol=1e-15)


def test_interpolant_is_linear_outside_and_between_points():
    x, y = data.six_points()
    ip = shallow.interpolant(x, y)
    t = np.array([-3.0, -2.0, 2.0, 3.0])
    np.testing.assert_allclose(ip(t[:2]), y[0] + ip.slopes[0] * (t[:2] - x[0]))
    np.testing.assert_allclose(ip(t[2:]), y[-1] + ip.slopes[-1] * (t[2:] - x[-1]))
    mid = 0.5 * (x[1:] + x[:-1])
    np.testing.assert_allclose(ip(mid), 0.5 * (y[1:] + y[:-1]), atol=1e-15)


def test_interpolant_equals_a_network_with_those_coordinates():
    x, y = data.six_points()
    ip = shallow.interpolant(x, y)
    # one hinge per knot, plus (x - x0)_+ - (x0 - x)_+ = x - x0 for the linear part
    beta = np.concatenate([ip.knots, [x[0], x[0]]])
    mu = np.concatenate([ip.delta_slopes, [ip.slopes[0], ip.slopes[0]]])
    s = np.concatenate([np.ones(ip.knots.size), [1.0, -1.0]])
    sp = shallow.Spline(beta[None], mu[None] * np.where(s > 0, 1, -1)[None], s[None],
                        np.array([y[0]]))
    t = np.linspace(-2, 2, 401)
    np.testing.assert_allclose(shallow.eval_spline(sp, t)[0], ip(t), atol=1e-12)
    assert shallow.roughness(shallow.Spline(ip.knots[None], ip.delta_slopes[None],
                                            np.ones((1, 4)), np.zeros(1)))["tv"][0] == \
        pytest.approx(ip.tv)


@pytest.mark.parametrize("x, y", [([0.0], [1.0]), ([0.0, 1.0], [1.0]), ([0.0, 0.0], [1.0, 2.0]),
                                  ([1.0, 0.0], [1.0, 2.0])])
def test_interpolant_rejects_bad_data(x, y):
    with pytest.raises(ValueError):
        shallow.interpolant(x, y)

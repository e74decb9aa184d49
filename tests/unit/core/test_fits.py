"""Unit tests of relubook.core.fits.loglog_slope against exact power laws."""

import numpy as np
import pytest

from relubook.core.fits import loglog_slope


@pytest.mark.parametrize("p", [-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.7])
@pytest.mark.parametrize("c", [1e-3, 1.0, 42.0])
def test_recovers_exact_exponent(p, c):
    x = np.geomspace(0.1, 1e3, 9)
    assert loglog_slope(x, c * x**p) == pytest.approx(p, abs=1e-10)


def test_two_points_and_list_input():
    # slope through two points: log(y2/y1) / log(x2/x1)
    assert loglog_slope([2.0, 8.0], [3.0, 48.0]) == pytest.approx(np.log(16) / np.log(4), abs=1e-12)
    assert isinstance(loglog_slope([1, 2, 4], [1, 2, 4]), float)


def test_is_the_least_squares_slope_on_noisy_data():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 100, 30)
    y = 3.0 * x**-1.3 * np.exp(0.1 * rng.standard_normal(30))
    lx, ly = np.log(x), np.log(y)
    ref = np.sum((lx - lx.mean()) * (ly - ly.mean())) / np.sum((lx - lx.mean()) ** 2)
    assert loglog_slope(x, y) == pytest.approx(ref, abs=1e-12)
    assert loglog_slope(x, y) != pytest.approx(-1.3, abs=1e-6)   # noise moved it


@pytest.mark.parametrize(
    "x, y",
    [
        ([1.0], [1.0]),                          # length 1
        ([1.0, 2.0], [1.0, 2.0, 3.0]),           # mismatched
        ([[1.0, 2.0]], [[1.0, 2.0]]),            # not 1-D
        ([1.0, 0.0], [1.0, 2.0]),                # x zero
        ([1.0, 2.0], [-1.0, 2.0]),               # y negative
        ([1.0, np.inf], [1.0, 2.0]),             # not finite
        ([1.0, 2.0], [np.nan, 2.0]),
    ],
)
def test_bad_inputs_raise(x, y):
    with pytest.raises(ValueError):
        loglog_slope(x, y)

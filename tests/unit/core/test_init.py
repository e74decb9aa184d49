"""Unit tests of relubook.core.init: the symmetric uniform law and nn.Linear's fan-in law."""

import math

import numpy as np
import pytest
import torch

from relubook.core.init import uniform, uniform_fan_in


def test_uniform_torch_is_affine_image_of_torch_rand():
    out = uniform((4, 3, 5), 0.7, torch.Generator().manual_seed(9))
    ref = (2 * torch.rand((4, 3, 5), generator=torch.Generator().manual_seed(9),
                          dtype=torch.float64) - 1) * 0.7
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert out.shape == (4, 3, 5)
    assert torch.equal(out, ref)


def test_uniform_numpy_is_rng_uniform():
    out = uniform([6, 2], 2.5, np.random.default_rng(4))
    ref = np.random.default_rng(4).uniform(-2.5, 2.5, (6, 2))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert np.array_equal(out, ref)


def test_uniform_advances_the_generator():
    g = torch.Generator().manual_seed(1)
    a, b = uniform((10,), 1.0, g), uniform((10,), 1.0, g)
    assert not torch.equal(a, b)
    rng = np.random.default_rng(1)
    assert not np.array_equal(uniform((10,), 1.0, rng), uniform((10,), 1.0, rng))


@pytest.mark.parametrize("fan_in", [1, 4, 64])
def test_fan_in_bound_is_one_over_sqrt_fan_in(fan_in):
    b = 1 / math.sqrt(fan_in)
    t = uniform_fan_in((3, 7), fan_in, torch.Generator().manual_seed(2))
    assert torch.equal(t, uniform((3, 7), b, torch.Generator().manual_seed(2)))
    n = uniform_fan_in((3, 7), fan_in, np.random.default_rng(2))
    assert np.array_equal(n, np.random.default_rng(2).uniform(-b, b, (3, 7)))


@pytest.mark.parametrize("make", [lambda: torch.Generator().manual_seed(0),
                                  lambda: np.random.default_rng(0)])
def test_fan_in_law_moments(make):
    fan_in, n = 25, 200_000
    b = 1 / math.sqrt(fan_in)
    u = np.asarray(uniform_fan_in((n,), fan_in, make()))
    assert np.abs(u).max() <= b
    assert np.abs(u).max() > 0.999 * b            # P(max < 0.999 b) = 0.999**n ~ e^-200
    assert abs(u.mean()) < 5 * b / math.sqrt(3 * n)
    # Var U(-b, b) = b^2/3; sd of the sample variance ~ b^2 sqrt(4/45/n)
    assert abs(u.var() - b**2 / 3) < 5 * b**2 * math.sqrt(4 / 45 / n)
    assert (u > 0).mean() == pytest.approx(0.5, abs=5 * 0.5 / math.sqrt(n))


def test_matches_nn_linear_default_law():
    # nn.Linear draws weight and bias from U(+-1/sqrt(in_features)): same bound
    lin = torch.nn.Linear(16, 400)
    bound = 1 / math.sqrt(16)
    w = uniform_fan_in((400, 16), 16, torch.Generator().manual_seed(0))
    for a in (lin.weight.detach(), lin.bias.detach(), w):
        assert float(a.abs().max()) <= bound
        assert float(a.abs().max()) > 0.95 * bound


@pytest.mark.parametrize("bound", [0, -1.0, float("nan")])
def test_bad_bound_raises(bound):
    with pytest.raises(ValueError, match="bound"):
        uniform((2,), bound, np.random.default_rng(0))


@pytest.mark.parametrize("fan_in", [0, -3, 2.5])
def test_bad_fan_in_raises(fan_in):
    with pytest.raises(ValueError, match="fan_in"):
        uniform_fan_in((2,), fan_in, torch.Generator())


@pytest.mark.parametrize("gen", [None, 0, np.random.RandomState(0), "rng"])
def test_bad_generator_type_raises(gen):
    with pytest.raises(TypeError, match="generator"):
        uniform((2,), 1.0, gen)

"""Unit tests of relubook.core.random: integer seeds turned into torch and NumPy generators."""

import numpy as np
import pytest
import torch

from relubook.core.random import numpy_rng, torch_generator


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**40 + 7])
def test_torch_generator_equals_manually_seeded_generator(seed):
    ref = torch.Generator().manual_seed(seed)
    g = torch_generator(seed)
    assert isinstance(g, torch.Generator)
    assert g.initial_seed() == seed
    assert torch.equal(torch.rand(50, generator=g, dtype=torch.float64),
                       torch.rand(50, generator=ref, dtype=torch.float64))
    assert torch.equal(torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=ref))


def test_torch_generator_seeds_give_different_streams():
    a = torch.rand(20, generator=torch_generator(3), dtype=torch.float64)
    b = torch.rand(20, generator=torch_generator(4), dtype=torch.float64)
    assert not torch.equal(a, b)


def test_torch_generator_accepts_numpy_integer_seed():
    # a NumPy integer is an int: the same stream as the Python int seed
    ref = torch.rand(10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.rand(10, generator=torch_generator(np.int64(5))), ref)


@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_numpy_rng_without_keys_equals_default_rng(seed):
    assert np.array_equal(numpy_rng(seed).random(100), np.random.default_rng(seed).random(100))
    assert np.array_equal(numpy_rng(seed).integers(0, 1000, 30),
                          np.random.default_rng(seed).integers(0, 1000, 30))


def test_numpy_rng_keys_are_distinct_named_streams():
    base = numpy_rng(11).random(20)
    k1, k2 = numpy_rng(11, 1).random(20), numpy_rng(11, 2).random(20)
    assert not np.array_equal(base, k1)
    assert not np.array_equal(k1, k2)
    assert not np.array_equal(numpy_rng(12, 1).random(20), k1)
    # a stream is named by its seed and keys: rebuilt anywhere, it is the same
    assert np.array_equal(numpy_rng(11, 1).random(20), k1)
    ss = np.random.SeedSequence(11, spawn_key=(1, 2))
    assert np.array_equal(numpy_rng(11, 1, 2).random(20), np.random.default_rng(ss).random(20))
    assert not np.array_equal(numpy_rng(11, 1, 2).random(20), numpy_rng(11, 2, 1).random(20))


@pytest.mark.parametrize("a, b", [((11,), (11, 0)), ((3, 1), (3, 1, 0))])
def test_numpy_rng_trailing_zero_key_is_its_own_stream(a, b):
    assert not np.array_equal(numpy_rng(*a).random(20), numpy_rng(*b).random(20))


@pytest.mark.parametrize("seed", [-1, 1.5, True, False, "3"])
def test_torch_generator_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        torch_generator(seed)


@pytest.mark.parametrize("parts", [(-1,), (1.5,), (True,), (0, -2), (0, 0.5), (3, False)])
def test_numpy_rng_rejects_bad_seeds_and_keys(parts):
    with pytest.raises(ValueError, match="seed"):
        numpy_rng(*parts)

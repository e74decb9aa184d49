"""Unit tests of relubook.topics.low_rank: the unrolled SGD identity, gradient ranks, the bound."""

import math

import numpy as np
import pytest
import torch
import samples
from relubook.core import mlp
from relubook.topics import low_rank

WIDTHS = [6, 5, 5, 3]


def _data(n=40, seed=0, dtype=torch.float64):
    return samples.classification(n, WIDTHS[0], WIDTHS[-1], seed, dtype)


def test_unroll_identity_exact_in_float64():
    x, y = _data(60)
    net = mlp.init_stacked_mlp(1, [6, 20, 20, 3], torch.Generator().manual_seed(7),
                               dtype=torch.float64)
    out = low_rank.unroll_identity(net, x, y, layer=1, lr=0.1, wd=0.05, batch_size=2, steps=4,
                             generator=torch.Generator().manual_seed(0))
    assert out["residual"] < 1e-12
    assert out["sum_rank"] <= out["n_times_b"] == 8
    assert 0 < out["old_memory"] < 2


def test_linear_gradient_ranks_at_most_batch_size():
    torch.manual_seed(0)
    x = torch.randn(3, 10, dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    for bn in (False, True):
        model = low_rank.make_torch_mlp([10, 12, 12, 4], batch_norm=bn)
        r = low_rank.linear_gradient_ranks(model, x, y)
        assert len(r) == 3 and all(v <= 3 for v in r) and max(r) == 3


def test_max_gradient_ranks_reach_the_batch_size_and_follow_the_rng():
    torch.manual_seed(0)
    x = torch.randn(30, 10, dtype=torch.float64)
    y = torch.randint(0, 4, (30,))
    model = low_rank.make_torch_mlp([10, 12, 12, 4])
    out = low_rank.max_gradient_ranks(model, x, y, [1, 3], 2, np.random.default_rng(0))
    assert sorted(out) == [1, 3]
    assert out[1].tolist() == [1, 1, 1] and out[3].tolist() == [3, 3, 3]  # generic data: = B
    # the batches are the rng's draws, in order: the first batch of B = 1, then the second, ...
    rng = np.random.default_rng(0)
    first = [low_rank.linear_gradient_ranks(model, x[i], y[i])
             for i in (torch.as_tensor(rng.choice(30, 1, replace=False)) for _ in range(2))]
    assert np.array_equal(np.max(first, 0), out[1])
    bn = low_rank.make_torch_mlp([10, 12, 12, 4], batch_norm=True)
    # batch norm removes the batch mean: one direction fewer before each normalisation
    assert low_rank.max_gradient_ranks(bn, x, y, [3], 1, np.random.default_rng(1))[3].tolist() \
        == [2, 2, 3]
    with pytest.raises(ValueError):
        low_rank.max_gradient_ranks(model, x, y, [31], 1, np.random.default_rng(0))


def test_theorem_bound_formula_uses_wd_equal_two_lambda():
    # paper: m B log(2/eps) / (2 mu lambda) with lambda = wd / 2
    b = low_rank.theorem_rank_bound(8, 0.1, 2e-2, 0.1)
    lam = 1e-2
    assert np.isclose(b, 8 * math.log(20) / (2 * 0.1 * lam))
    b3 = low_rank.theorem_rank_bound(8, 0.1, 2e-2, 0.1, uses_per_example=3)
    assert b3 == pytest.approx(3 * b)
    assert low_rank.theorem_rank_bound(8, 0.1, 0.0, 0.1) == math.inf


def test_old_memory():
    assert np.isclose(low_rank.old_memory(0.1, 0.02, 100), 0.998**100)
    assert np.isclose(low_rank.old_memory(0.1, 0.02, 10, norm_ratio=2.0), 2 * 0.998**10)
    assert low_rank.old_memory(0.1, 0.0, [0, 5]).tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "call",
    [
        lambda: low_rank.theorem_rank_bound(0, 0.1, 0.1, 0.1),
        lambda: low_rank.theorem_rank_bound(8, 0.0, 0.1, 0.1),
        lambda: low_rank.theorem_rank_bound(8, 0.1, -1.0, 0.1),
        lambda: low_rank.theorem_rank_bound(8, 0.1, 0.1, 3.0),
        lambda: low_rank.old_memory(0.1, 0.1, -1),
    ],
)
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()

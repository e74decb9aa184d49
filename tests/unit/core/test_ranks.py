"""Unit tests of relubook.ranks (rank measures and the low-rank bound)."""

import math

import numpy as np
import pytest
import torch

from relubook.core import ranks


def _matrix_with_spectrum(s, m=7, n=5, seed=0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, m)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    d = np.zeros((m, n))
    d[: len(s), : len(s)] = np.diag(s)
    return u @ d @ v.T


def test_normalised_spectrum_has_unit_norm_and_is_scale_free():
    w = _matrix_with_spectrum([3.0, 2.0, 1.0, 0.5, 0.1])
    s = ranks.normalised_spectrum(w)
    assert s.shape == (5,)
    assert np.isclose((s**2).sum(), 1.0)
    assert np.allclose(s, ranks.normalised_spectrum(17.0 * w))
    assert np.all(np.diff(s) <= 0)


def test_thresholded_rank_exact_on_known_spectrum():
    s = np.array([1.0, 0.5, 1e-2, 1e-5, 0.0])
    w = _matrix_with_spectrum(s)
    fro = np.linalg.norm(s)
    # normalised values: 0.89, 0.45, 8.9e-3, 8.9e-6, 0
    assert ranks.thresholded_rank(w, 1e-3) == 3
    assert ranks.thresholded_rank(w, 1e-2) == 2
    assert ranks.thresholded_rank(w, 1e-6) == 4
    assert np.isclose(ranks.normalised_spectrum(w)[2], 1e-2 / fro)


def test_eps_rank_is_eckart_young():
    s = np.array([1.0, 0.5, 0.2, 0.1, 0.05])
    w = _matrix_with_spectrum(s)
    fro2 = (s**2).sum()
    for k in range(5):
        err = math.sqrt((s[k:] ** 2).sum() / fro2)  # distance to the best rank-k matrix
        assert ranks.eps_rank(w, err * 1.0001) <= k
        assert ranks.eps_rank(w, err * 0.9999) > k
        # the best rank-k approximation (truncated SVD) is within err
        u, sv, vt = np.linalg.svd(w / np.linalg.norm(w))
        approx = (u[:, :k] * sv[:k]) @ vt[:k]
        assert np.isclose(np.linalg.norm(w / np.linalg.norm(w) - approx), err)
    assert ranks.eps_rank(w, 1.0) == 0


def test_eps_rank_exact_counts():
    s = np.array([1.0, 0.5, 0.2, 0.1, 0.05])
    w = _matrix_with_spectrum(s)
    fro2 = (s**2).sum()
    tails = [math.sqrt((s[k:] ** 2).sum() / fro2) for k in range(6)]  # tails[5] = 0
    for k in range(1, 6):
        mid = 0.5 * (tails[k] + tails[k - 1])  # between the rank-k and rank-(k-1) errors
        assert ranks.eps_rank(w, mid) == k


def test_stable_rank_values():
    assert np.isclose(ranks.stable_rank(np.eye(4)), 4.0)
    assert np.isclose(ranks.stable_rank(np.outer([1.0, 2, 3], [1.0, -1])), 1.0)
    w = _matrix_with_spectrum([2.0, 1.0])
    assert np.isclose(ranks.stable_rank(w), 5.0 / 4.0)


def test_batched_and_torch_inputs():
    w = torch.stack([torch.eye(3), torch.diag(torch.tensor([1.0, 0.0, 0.0]))])
    assert ranks.thresholded_rank(w).tolist() == [3, 1]
    assert ranks.stable_rank(w).shape == (2,)
    assert ranks.eps_rank(w.reshape(1, 2, 3, 3), 0.5).shape == (1, 2)


def test_zero_matrix():
    z = np.zeros((3, 4))
    assert ranks.thresholded_rank(z) == 0
    assert ranks.eps_rank(z, 0.1) == 0
    assert ranks.stable_rank(z) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: ranks.thresholded_rank(np.ones(3)),
        lambda: ranks.thresholded_rank(np.ones((2, 2)), tol=0),
        lambda: ranks.eps_rank(np.ones((2, 2)), -1),
        lambda: ranks.singular_values(np.ones((0, 3))),
    ],
)
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()

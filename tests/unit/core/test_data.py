"""Unit tests of relubook.core.data: the digits split and the digits on the unit sphere."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from relubook.core import data

X_RAW, Y_RAW = load_digits(return_X_y=True)


def test_digits_arrays_are_sklearns_digits():
    x, y = data.digits_arrays()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and y.dtype == np.int64
    assert np.array_equal(x, X_RAW) and np.array_equal(y, Y_RAW)
    assert x.min() == 0 and x.max() == 16 and set(np.unique(y)) == set(range(data.N_CLASSES))


def test_default_split_sizes_dtypes_and_disjointness():
    d = data.digits_split()
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.y_train.shape == (1437,) and d.y_test.shape == (360,)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.long
    assert data.digits_split(100, dtype=torch.float64).x_test.dtype == torch.float64
    # train and test rows together are the whole data set, each image once
    m = data.digits_split(scaling="max", dtype=torch.float64)
    rows = np.concatenate([m.x_train.numpy(), m.x_test.numpy()]) * 16
    assert np.array_equal(np.unique(rows, axis=0), np.unique(X_RAW, axis=0))
    assert sorted(np.bincount(np.concatenate([m.y_train, m.y_test]))) == sorted(np.bincount(Y_RAW))


@pytest.mark.parametrize("seed", [0, 3])
def test_unstratified_split_is_default_rng_permutation(seed):
    d = data.digits_split(200, seed, scaling="max", dtype=torch.float64)
    perm = np.random.default_rng(seed).permutation(1797)
    te, tr = perm[:200], perm[200:]
    assert np.array_equal(d.x_test.numpy(), X_RAW[te] / 16)
    assert np.array_equal(d.x_train.numpy(), X_RAW[tr] / 16)
    assert np.array_equal(d.y_test.numpy(), Y_RAW[te]) and np.array_equal(d.y_train.numpy(), Y_RAW[tr])


@pytest.mark.parametrize("stratify", [False, True])
def test_split_depends_only_on_seed(stratify):
    a = data.digits_split(seed=5, stratify=stratify)
    b = data.digits_split(seed=5, stratify=stratify)
    c = data.digits_split(seed=6, stratify=stratify)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_test, c.y_test)


def test_standardised_training_columns():
    d = data.digits_split(dtype=torch.float64)
    xtr = d.x_train.numpy()
    assert np.abs(xtr.mean(0)).max() < 1e-10
    raw = data.digits_split(scaling="max", dtype=torch.float64).x_train.numpy() * 16
    sd = raw.std(0)
    live = sd > 0
    # (x - mu) / (sd + 1e-6): unit std up to the 1e-6 guard; blank pixels stay 0
    assert np.allclose(xtr.std(0)[live], sd[live] / (sd[live] + 1e-6), atol=1e-12)
    assert np.all(xtr[:, ~live] == 0) and (~live).any()
    # the test set is scaled with the training statistics, not its own
    xte = d.x_test.numpy()
    ref = (data.digits_split(scaling="max", dtype=torch.float64).x_test.numpy() * 16 - raw.mean(0)) / (sd + 1e-6)
    assert np.allclose(xte, ref, atol=1e-12)
    assert np.abs(xte.mean(0)).max() > 1e-3


def test_max_scaling_in_unit_interval():
    d = data.digits_split(scaling="max", dtype=torch.float64)
    for x in (d.x_train, d.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.equal(d.x_train * 16, torch.round(d.x_train * 16))


@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_split_keeps_class_shares_and_is_sklearns(seed):
    d = data.digits_split(360, seed, stratify=True, scaling="max", dtype=torch.float64)
    counts, share = np.bincount(d.y_test.numpy(), minlength=10), np.bincount(Y_RAW) / 1797
    assert np.all(np.abs(counts - 360 * share) <= 1)
    xtr, xte, ytr, yte = train_test_split(X_RAW, Y_RAW, test_size=360, random_state=seed,
                                          stratify=Y_RAW)
    assert np.array_equal(d.x_test.numpy(), xte / 16) and np.array_equal(d.y_test.numpy(), yte)
    assert np.array_equal(d.x_train.numpy(), xtr / 16) and np.array_equal(d.y_train.numpy(), ytr)
    # differs from the unstratified split with the same seed
    assert not torch.equal(d.y_test, data.digits_split(360, seed, scaling="max").y_test)


@pytest.mark.parametrize("n_test", [0, -5, 1797, 2000])
def test_bad_n_test_raises(n_test):
    with pytest.raises(ValueError, match="n_test"):
        data.digits_split(n_test)


def test_bad_scaling_raises_naming_valid_values():
    with pytest.raises(ValueError, match="standardise") as e:
        data.digits_split(scaling="minmax")
    assert "max" in str(e.value) and "minmax" in str(e.value)


@pytest.mark.parametrize("n", [10, 256])
def test_digits_sphere(n):
    X, Y = data.digits_sphere(n, dtype=torch.float64)
    assert X.shape == (n, 64) and Y.shape == (n, 10)
    assert torch.allclose(X.norm(dim=1), torch.ones(n, dtype=torch.float64), atol=1e-12)
    assert torch.equal(Y.sum(1), torch.ones(n, dtype=torch.float64))
    assert set(Y.unique().tolist()) <= {0.0, 1.0}
    assert np.array_equal(Y.argmax(1).numpy(), Y_RAW[:n])
    # independent construction: centre the first n images, then normalise
    c = X_RAW[:n] - X_RAW[:n].mean(0)
    assert np.allclose(X.numpy(), c / np.linalg.norm(c, axis=1, keepdims=True), atol=1e-12)
    assert data.digits_sphere(n)[0].dtype == torch.float32


@pytest.mark.parametrize("n", [9, 0, -1, 1798, 12.0, True])
def test_digits_sphere_bad_n_raises(n):
    with pytest.raises(ValueError, match="n must be"):
        data.digits_sphere(n)

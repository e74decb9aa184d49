"""Unit tests of relubook.deep_init: initialisations, the log-norm statistic, batched training."""

import numpy as np
import pytest
import torch

from relubook.core.data import Digits
from relubook.topics import deep_init as di


def test_square_layer_laws():
    rng = np.random.default_rng(0)
    he = di.square_layer("he", 3, 64, 20, rng)
    assert he.shape == (20, 64, 64)
    assert np.var(he) == pytest.approx(2 / 64, rel=0.05)
    conv = di.square_layer("convergent", 10, 16, 50, rng) - np.eye(16)
    assert np.std(conv) == pytest.approx(1 / (4 * 100), rel=0.05)
    noise = di.square_layer("identity_noise", 10, 16, 50, rng) - np.eye(16)
    assert np.std(noise) == pytest.approx(0.1 / 4, rel=0.05)


def test_log_norm_ratio_identity_limit_and_nesting():
    z = di.log_norm_ratio("convergent", 8, [4, 16], 30, np.random.default_rng(1))
    assert z.shape == (2, 30)
    assert np.all(np.isfinite(z))
    # the convergent networks have (nearly) converged by depth 4
    assert np.max(np.abs(z[1] - z[0])) < 0.1
    # same seed, same draws: the depth-4 statistic does not depend on the other depths asked for
    z4 = di.log_norm_ratio("convergent", 8, [4], 30, np.random.default_rng(1))
    np.testing.assert_allclose(z4[0], z[0])


def test_log_norm_ratio_he_spread_grows():
    z = di.log_norm_ratio("he", 16, [4, 64], 400, np.random.default_rng(2))
    z = np.where(np.isinf(z), np.nan, z)
    assert np.nanstd(z[1]) > 2 * np.nanstd(z[0])


def test_train_deep_mlps_shapes_and_learning():
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((200, 6)), dtype=torch.float32)
    y = (X[:, 0] > 0).long()
    data = Digits(X[:150], y[:150], X[150:], y[150:])
    out = di.train_deep_mlps(data, inits=["convergent", "he"], depth=3, width=8, seeds=[0, 1],
                             steps=60, batch_size=32, lr=1e-2, eval_every=20)
    assert out["loss"].shape == (4, 60)
    assert out["inits"] == ["convergent", "convergent", "he", "he"]
    assert out["eval_steps"].tolist() == [20, 40, 60]
    assert out["test_acc"].shape == (4, 3)
    assert np.all(out["loss"][:, -10:].mean(1) < out["loss"][:, :10].mean(1))


def test_bad_inputs_raise():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="valid"):
        di.square_layer("xavier", 1, 4, 1, rng)
    with pytest.raises(ValueError):
        di.log_norm_ratio("he", 4, [], 3, rng)
    with pytest.raises(ValueError):
        di.train_deep_mlps(Digits(torch.ones(4, 2), torch.zeros(4, dtype=torch.long),
                                  torch.ones(2, 2), torch.zeros(2, dtype=torch.long)),
                           inits=["he"], depth=0, width=4, seeds=[0], steps=1, batch_size=2,
                           lr=0.1, eval_every=1)

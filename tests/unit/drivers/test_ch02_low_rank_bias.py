"""Unit tests of relubook.drivers.ch02_low_rank_bias (the batched training grid)."""

import numpy as np

from relubook.core import data as D
from relubook.drivers import ch02_low_rank_bias as ch02


def test_train_grid_layout():
    data = D.digits_split()
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    out = ch02.train_grid(data, [64, 8, 8, 10], [(0.1, 0.0), (0.1, 0.01)], seeds=[0, 1],
                        batch_size=64, steps=6, log_every=3, hidden=(1,))
    assert out["lr"].tolist() == [0.1] * 4 and out["wd"].tolist() == [0.0, 0.01] * 2
    assert out["seed"].tolist() == [0, 0, 1, 1]
    assert out["spectrum"].shape == (4, 1, 8, 3) and out["fro"].shape == (4, 1, 3)
    one = ch02.train_grid(data, [64, 8, 8, 10], [(0.1, 0.0), (0.1, 0.01)], seeds=[1],
                        batch_size=64, steps=6, log_every=3, hidden=(1,))
    assert np.allclose(one["spectrum"], out["spectrum"][2:])  # a seed's runs do not depend on other seeds

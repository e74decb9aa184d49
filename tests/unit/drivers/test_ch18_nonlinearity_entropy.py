"""Unit tests of relubook.drivers.ch18_nonlinearity_entropy: the batched sweep and summaries."""

import numpy as np
import pytest
import torch
from relubook.core.data import Digits
from relubook.core.random import torch_generator
from relubook.drivers import ch18_nonlinearity_entropy as drv

ALPHAS = [0.0, 0.3, 1.0]


def _data(n=96, d=6, k=3):
    g = torch_generator(0)
    x = torch.randn(n + 48, d, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()          # k = 3 classes, nonlinear
    return Digits(x[:n], y[:n], x[n:], y[n:])


@pytest.fixture(scope="module")
def res():
    return drv.sweep(_data(), shapes=["rectangle", "diamond"], widths=[4, 64], alphas=ALPHAS,
                     n_seeds=2, epochs=2, batch_size=16, lr=0.1, seed=0, kde_points=64,
                     progress=False)


def test_plan_groups_pads_small_architectures_together():
    plan = drv.plan_groups(["rectangle", "hourglass"], [4, 8, 64])
    assert plan[0] == [("rectangle", 4), ("hourglass", 4), ("rectangle", 8), ("hourglass", 8)]
    assert plan[1:] == [[("rectangle", 64)], [("hourglass", 64)]]
    assert drv.plan_groups(["rectangle"], [64]) == [[("rectangle", 64)]]


def test_sweep_layout_and_ranges(res):
    assert res["test_acc"].shape == (2, 2, 3, 2) and res["H_hist"].shape == (2, 2, 3, 2, 3)
    assert res["n_nets"] == 2 * 2 * 3 * 2 and res["steps"] == 2 * (96 // 16)
    for k in ("test_acc", "train_acc", "loss", "H_hist", "H_kde", "zeros", "dead"):
        assert np.all(np.isfinite(res[k])), k
    assert np.all((0 <= res["test_acc"]) & (res["test_acc"] <= 1))
    assert np.all((0 <= res["H_hist"]) & (res["H_hist"] <= np.log2(50) + 1e-9))
    # leaky nets (alpha > 0) have no exact zeros; ReLU nets do
    assert np.all(res["zeros"][:, :, 1:] == 0) and np.all(res["zeros"][:, :, 0] > 0)
    with pytest.raises(ValueError, match="include 0"):
        drv.sweep(_data(), shapes=["rectangle"], widths=[4], alphas=[0.0, 0.5], n_seeds=1,
                  epochs=1, batch_size=16, lr=0.1, seed=0, progress=False)


def test_sweep_is_deterministic_and_a_network_does_not_depend_on_the_grid(res):
    alone = drv.sweep(_data(), shapes=["diamond"], widths=[4], alphas=[0.0, 1.0], n_seeds=2,
                      epochs=2, batch_size=16, lr=0.1, seed=0, kde_points=64, progress=False)
    # diamond w=4 was padded with rectangle w=4 in `res`; alone it is unpadded
    assert np.allclose(alone["loss"][0, 0], res["loss"][1, 0][[0, 2]], rtol=1e-5)
    assert np.allclose(alone["H_hist"][0, 0], res["H_hist"][1, 0][[0, 2]], atol=1e-4)
    again = drv.sweep(_data(), shapes=["rectangle", "diamond"], widths=[4, 64], alphas=ALPHAS,
                      n_seeds=2, epochs=2, batch_size=16, lr=0.1, seed=0, kde_points=64,
                      progress=False)
    for k in ("test_acc", "loss", "H_hist", "H_kde"):
        assert np.array_equal(again[k], res[k]), k


def _fake(acc, h=None):
    """A hand-made result: acc of shape (shape, width, alpha, seed) in [0, 1]."""
    acc = np.asarray(acc, dtype=float)
    out = {"test_acc": acc, "shapes": [f"s{i}" for i in range(acc.shape[0])],
           "widths": [4, 64][:acc.shape[1]], "alphas": ALPHAS}
    if h is not None:
        out["H_hist"] = np.asarray(h, dtype=float)
    return out


def test_seed_stats():
    m, sd = drv.seed_stats(np.array([[1.0, 3.0]]))
    assert m[0] == 2.0 and sd[0] == pytest.approx(np.sqrt(2))
    m, sd = drv.seed_stats(np.array([[1.0]]))
    assert m[0] == 1.0 and np.isnan(sd[0])


def test_linear_gap_relu_lead_and_best_alpha_on_known_numbers():
    # one shape, widths (4, 64), alphas (0, 0.3, 1), two seeds
    acc = np.array([[[[0.40, 0.42], [0.50, 0.50], [0.30, 0.30]],       # w = 4: 0.3 best
                     [[0.70, 0.72], [0.65, 0.65], [0.35, 0.37]]]])     # w = 64: ReLU best
    r = _fake(acc)
    g = drv.linear_gap(r, 64)
    assert g["gap"][0] == pytest.approx(71 - 36) and g["best"][0] == 0.0
    assert g["spread"][0] == pytest.approx(np.std([70, 72], ddof=1))
    assert g["ratio"][0] == pytest.approx(35 / np.std([70, 72], ddof=1))
    lead = drv.relu_lead(r, 64)
    assert lead["lead"] == pytest.approx(71 - 65) and lead["to_best"] == 0.0
    assert lead["rival"] == 0.3
    small = drv.relu_lead(r, 4)
    assert small["lead"] == pytest.approx(41 - 50) and small["to_best"] == pytest.approx(-9)
    b = drv.best_alpha(r, 4)
    assert b["best"] == 0.3 and b["over_relu"] == pytest.approx(9) and b["beyond_spread"]
    assert b["per_shape"] == [0.3]
    text = drv.small_model_table(r, [4])
    assert "width w = 4" in text and "50.0 ± 0.0" in text


def test_entropy_gap_on_known_numbers():
    acc = np.full((1, 1, 3, 2), 0.5)
    h = np.zeros((1, 1, 3, 2, 3))
    h[0, 0, 0, :, 0] = [1.0, 1.2]       # ReLU first layer
    h[0, 0, 2, :, 0] = [3.0, 3.0]       # linear first layer
    e = drv.entropy_gap(_fake(acc, h))
    assert e["max_diff"] == pytest.approx(1.1 - 3.0)
    assert e["min_ratio"] == pytest.approx(1.9 / np.std([1.0, 1.2], ddof=1))


def test_relu_curve_and_estimator_agreement():
    acc = np.array([[[[0.40, 0.42], [0.50, 0.50], [0.30, 0.30]]]])
    d, sp = drv.relu_curve(_fake(acc), 4)
    assert d == pytest.approx([0, 9, -11]) and sp[1] == pytest.approx(np.std([40, 42], ddof=1))
    h = np.zeros((1, 1, 3, 2, 3))
    h[0, 0, :, :, :] = np.array([1.0, 2.0, 3.0])[:, None, None] + np.arange(3)   # rises
    h[0, 0, 2, :, 2] = 0.5                                         # layer 3 falls
    r = _fake(acc, h)
    r["H_kde"] = 2 * h + 1                                         # same order everywhere
    a = drv.estimator_agreement(r)
    assert a["spearman"] == pytest.approx(1.0)
    assert a["rises"] == pytest.approx(2 / 3) and a["rises_hist"] == a["rises_kde"]

"""Tests of relubook.drivers.ch12_label_noise on tiny settings."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from relubook.core import plotting
from relubook.core.random import numpy_rng
from relubook.drivers import ch12_label_noise as D
from relubook.topics import label_noise as T

TOY = {"toy_start": [4.0, 0.25], "toy_sigmas": [0.0, 1.0], "c2_starts": [-1.0, 1.0, 2.0],
       "c2_sigma": 1.0, "toy_seeds": 3, "toy_lr": 0.01, "toy_steps": 4000, "toy_records": 20}
RELU = {"width": 12, "init_scale": 2.0, "relu_seeds": 2, "relu_sigma": 0.3, "relu_lr": 0.01,
        "relu_steps": 2000, "relu_records": 10}


@pytest.fixture(scope="module")
def toy():
    return D.toy_experiment(TOY, 0)


@pytest.fixture(scope="module")
def relu():
    return D.relu_experiment(RELU, 0)


def test_toy_layout_and_determinism(toy):
    # blocks: c1 at each σ, then each c2 start with noise and without
    assert [g[0] for g in toy["groups"]] == ["c1", "c1"] + ["c2"] * 6
    assert toy["a"].shape == (21, 8 * 3)
    assert np.array_equal(toy["block"], np.repeat(np.arange(8), 3))
    again = D.toy_experiment(TOY, 0)
    assert np.array_equal(again["a"], toy["a"])
    other = D.toy_experiment(TOY, 1)
    assert not np.array_equal(other["a"], toy["a"])


def test_toy_summary(toy):
    s = D.toy_summary(toy)
    rows = {(r["group"], r["a0"], r["sigma"]): r for r in s["rows"]}
    assert rows[("c1", 4.0, 0.0)]["disp0"] == 0.0          # gradient descent does not move
    assert rows[("c2", 2.0, 0.0)]["disp0"] == 0.0
    assert rows[("c2", 1.0, 1.0)]["tangent"] == 0.0
    assert rows[("c2", 2.0, 1.0)]["dq0"] < 0                # drifts down the gradient
    # a = b stays exact on the stable start
    sel = toy["block"] == next(j for j, g in enumerate(toy["groups"])
                               if g[0] == "c2" and g[1] == 1.0 and g[3] > 0)
    assert np.array_equal(toy["a"][:, sel], toy["b"][:, sel])
    r = rows[("c1", 4.0, 1.0)]
    assert 0.5 < r["ou_ratio"] < 2 and 0.5 < r["rate_ratio"] < 2
    assert "ou_ratio" not in rows[("c1", 4.0, 0.0)]
    assert s["tail_steps"] == 2 * 200


def test_init_relu_shapes_and_law():
    net = D.init_relu(3, 2000, 2.0, numpy_rng(0, 1))
    assert net.w.shape == net.b.shape == net.v.shape == (3, 2000) and net.c.shape == (3,)
    assert abs(net.w.std() - 2.0) < 0.05 and abs(net.v.std() * np.sqrt(2000) - 1) < 0.05
    assert np.all(net.c == 0)


def test_relu_experiment_pairs_start_together(relu):
    k = RELU["relu_seeds"]
    start = relu["nets"][0]
    for p in start:
        np.testing.assert_array_equal(p[:k], p[k:])
    np.testing.assert_array_equal(relu["sigma"], [0.0, 0.0, 0.3, 0.3])
    assert len(relu["nets"]) == RELU["relu_records"] + 1


def test_relu_summary(relu):
    rs = D.relu_summary(relu)
    M = rs["metrics"]
    assert M["reg"].shape == (11, 4)
    np.testing.assert_allclose(M["reg"][-1], T.relu_reg(relu["nets"][-1], relu["x"]))
    assert np.all(M["reg"] >= M["reg_bal"] - 1e-9)
    np.testing.assert_allclose(rs["ratio_end"], M["reg"][-1, 2:] / M["reg"][-1, :2])
    assert rs["r2"].shape == rs["r2_pred"].shape == (10, 2)
    np.testing.assert_allclose(rs["tv_spline"], 67 / 3)
    assert rs["ou_ratio"].shape == (2,) and np.all(np.isfinite(rs["ou_ratio"]))


def test_figures_draw(toy, relu):
    ts, rs = D.toy_summary(toy), D.relu_summary(relu)
    plotting.use()
    for ncols, nrows, draw in ((2, 1, lambda ax: D.plot_toy(ax[0], toy, ts)),
                               (2, 1, lambda ax: D.plot_stability(ax[0], toy, ts)),
                               (2, 1, lambda ax: D.plot_ou(ax[0], toy, rs)),
                               (2, 2, lambda ax: D.plot_relu_curves(ax, rs)),
                               (2, 1, lambda ax: D.plot_relu_functions(ax[0], relu, 0,
                                                                       [1, 5, 10]))):
        fig, axes = plotting.figure(ncols, nrows)
        draw(axes)
        plotting.legend_outside(fig)
        plt.close(fig)

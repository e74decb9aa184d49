"""Unit tests of relubook.drivers.ch04_local_sgd: the measures read off Local (S)GD histories,
checked on histories with closed-form losses, and the H = 1 identity on a small network."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from relubook.core.data import digits_sphere
from relubook.drivers import ch04_local_sgd as ch04
from relubook.topics import local_sgd as ls

matplotlib.use("Agg")


def geometric(H, q, rounds, F0=1.0):
    """Loss after r rounds of a run with per-step contraction q: F0 q^(rH)."""
    return [F0 * q ** (r * H) for r in range(rounds + 1)]


def history(Hs, losses, seeds=None, drift=None, dis=None):
    h = ls.History(list(Hs))
    h.seed = list(seeds or range(len(Hs)))
    h.loss = [list(map(float, l)) for l in losses]
    h.drift = drift or [[0.0] for _ in Hs]
    h.disagreement = dis or [[0.0] for _ in Hs]
    return h


def test_steps_to_target_is_exact_for_geometric_decay_and_inf_when_not_reached():
    q = 0.97
    h = history([1, 4, 32], [geometric(1, q, 256), geometric(4, q, 64), geometric(32, q, 8)])
    expect = math.log(0.1) / math.log(q)             # the interpolation is exact in log F
    assert np.allclose(ch04.steps_to_target(h, 0.1), expect, rtol=0, atol=1e-9)
    slow = history([8], [geometric(8, 0.999, 4)])
    assert ch04.steps_to_target(slow, 0.1)[0] == np.inf
    with pytest.raises(ValueError, match="frac"):
        ch04.steps_to_target(h, 1.0)


def test_width_exponents_recover_a_power_law_in_width_and_inf_on_a_miss():
    widths, p = [64, 128, 256, 512], 0.3
    hists = {}
    for m in widths:
        c = 0.02 * (m / 64) ** -p                    # rate ∝ m^-p, so steps ∝ m^p
        q = math.exp(-c)
        hists[m] = history([1, 8, 1, 8], [geometric(1, q, 2048), geometric(8, q, 256)] * 2,
                           seeds=[0, 0, 1, 1])
    steps, slopes = ch04.width_exponents(hists, [1, 8])
    assert steps.shape == (2, 4)
    assert slopes[1] == pytest.approx(p, abs=1e-9) and slopes[8] == pytest.approx(p, abs=1e-9)
    hists[512] = history([1, 8], [geometric(1, 0.9999, 16), geometric(8, 0.9999, 2)])
    assert ch04.width_exponents(hists, [1])[1][1] == math.inf


def test_decay_acceleration_separates_power_law_geometric_and_levelling_off():
    T, H = 256, 8
    t = np.arange(T // H + 1) * H
    power = np.where(t > 0, np.maximum(t, 1.0) ** -0.7, 1.0)
    geo = np.exp(-0.01 * t)
    floor = 0.05 + 0.95 * np.exp(-0.03 * t)
    h = history([H, H, H], [power, geo, floor])
    res = {}
    for name, g in (("power", 0), ("geo", 1), ("floor", 2)):
        res[name] = ch04.decay_acceleration(history([H], [h.loss[g]]), H, T)
    e, l, r = res["power"]
    assert e == pytest.approx(-0.7) and l == pytest.approx(-0.7) and r == pytest.approx(1.0)
    # geometric: slope of -c t against log t over a window, closed form via the fit itself
    tt = t[(t >= 3 * T / 4)]
    assert res["geo"][1] == pytest.approx(np.polyfit(np.log(tt), -0.01 * tt, 1)[0])
    assert res["geo"][2] > 2.0                       # the local exponent steepens
    assert res["floor"][2] < 1.0                     # levels off
    flat = history([H], [np.ones_like(t, dtype=float)])
    assert math.isnan(ch04.decay_acceleration(flat, H, T)[2])
    with pytest.raises(ValueError, match="at least 2"):
        ch04.window_slope(t, geo, 10.0, 12.0)


def test_order_ratios_and_price_of_locality():
    # two seeds; after R = 2 rounds: H=1 -> 0.5/0.4, H=4 -> 0.2/0.3, H=16 -> 0.1/0.1
    h = history([1, 4, 16, 1, 4, 16],
                [[1, .7, .5], [1, .4, .2], [1, .3, .1], [1, .6, .4], [1, .5, .3], [1, .2, .1]],
                seeds=[0, 0, 0, 1, 1, 1])
    r = ch04.order_ratios(h, 2, [16, 1, 4])
    assert r == pytest.approx([max(.2 / .5, .3 / .4), max(.1 / .2, .1 / .3)])
    assert np.allclose(ch04.price_of_locality(h, 1, 16), [.1 / .5, .1 / .4])
    assert np.allclose(ch04.loss_ratios(h), [.5, .2, .1, .4, .3, .1])


def test_closeness_slopes_and_endpoint_ratio():
    widths = [64, 256, 1024]
    gd = {m: history([8, 32], [[1, 1], [1, 1]], drift=[[0.1, (m / 64) ** -0.5]] * 2,
                     dis=[[(m / 64) ** -0.25, 0.0]] * 2) for m in widths}
    std = {m: history([32], [[1, 1]], drift=[[(m / 64) ** 0.2]], dis=[[0.3]]) for m in widths}
    curves, slopes = ch04.closeness(gd, std, [8, 32], 32)
    assert slopes[("max_drift", "ntk", 8)] == pytest.approx(-0.5)
    assert slopes[("max_disagreement", "ntk", 32)] == pytest.approx(-0.25)
    assert slopes[("max_drift", "standard", 32)] == pytest.approx(0.2)
    assert slopes[("max_disagreement", "standard", 32)] == pytest.approx(0.0, abs=1e-12)
    y = curves[("max_drift", "ntk", 8)]
    assert ch04.endpoint_ratio(widths, y, 64, 1024) == pytest.approx(1 / 4)
    assert ch04.endpoint_ratio(widths, y, 64, 512) is None


def test_h1_local_gd_is_centralised_gd_in_float64():
    X, Y = digits_sphere(64, torch.float64)
    err = ch04.h1_vs_centralised(X, Y, width=16, K=4, lr=20.0, steps=10, seed=1)
    assert err < 1e-12
    # a different number of workers with H = 1 is still GD; float32 differs by rounding only
    assert ch04.h1_vs_centralised(X, Y, width=16, K=2, lr=20.0, steps=10, seed=1) < 1e-12
    X32, Y32 = X.float(), Y.float()
    assert 0 < ch04.h1_vs_centralised(X32, Y32, width=16, K=4, lr=20.0, steps=10, seed=1) < 1e-3


def test_sweeps_and_figures_run_on_a_tiny_problem():
    X, Y = digits_sphere(32)
    kw = dict(Hs=[1, 4], seeds=[0], K=2, T=8, lr=20.0)
    gd = ch04.width_sweep(X, Y, [8, 16], **kw)
    sgd = ch04.width_sweep(X, Y, [16], batch=4, **kw)
    assert list(gd) == [8, 16] and gd[8].H == [1, 4]
    comm = ls.sweep(X, Y, width=8, Hs=[1, 2], seeds=[0], K=2, T=4, lr=20.0, track=False)
    figs = [ch04.plot_convergence(gd, sgd, comm, width=16, comm_width=8, Hs=[1, 4],
                                  comm_Hs=[1, 2], R=2, T=8)]
    steps, slopes = ch04.width_exponents(gd, [1, 4], frac=0.9)
    figs.append(ch04.plot_rate(steps, slopes, list(gd), [1, 4],
                               {"Local GD": gd[16], "Local SGD": sgd[16]}, width=16, T=8))
    curves, sl = ch04.closeness(gd, gd, [4], 4)
    figs.append(ch04.plot_closeness(curves, sl, {"ntk": list(gd), "standard": list(gd)}, 4))
    figs.append(ch04.plot_shards({"i.i.d.": gd[16]}, [1, 4], 16))
    assert [len(f.axes) for f in figs] == [4, 2, 2, 1]
    # one colour per H in every panel: each line of H's colour is labelled H or drawn for H
    sty = ch04.h_styles([1, 2, 4])
    assert sty[1] == ch04.h_styles([1, 8, 32])[1] and len({v["color"] for v in sty.values()}) == 6
    from matplotlib.colors import to_hex
    allowed = {v["color"].lower() for v in sty.values()}
    for f in figs:
        for a in f.axes:
            for line in a.get_lines():
                c = to_hex(line.get_color())
                grey = len({c[1:3], c[3:5], c[5:7]}) == 1
                assert c in allowed or grey, (a.get_title(), c)
    conv = figs[0]
    (legend_ax,) = [a for a in conv.axes if a.get_legend() is not None]
    assert not legend_ax.axison and not legend_ax.get_lines()   # the legend has a slot of its own
    labels = [t.get_text() for t in legend_ax.get_legend().get_texts()]
    assert any(t.startswith("H = 1 ") for t in labels) and "H = 2" in labels
    import matplotlib.pyplot as plt
    for f in figs:
        assert f.get_size_inches()[0] <= 6.4 + 1e-9
        plt.close(f)

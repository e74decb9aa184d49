"""Unit tests of relubook.drivers.ch05_relu_inr (settings, compare, equal-fit selection)."""

import math

import numpy as np
import pytest
import torch

from relubook.drivers import ch05_relu_inr as ie


def test_settings():
    spec, lr = ie.settings("wire", "sr", 64, 64)
    assert (spec.omega0, spec.sigma0, lr) == (8.0, 6.0, 1e-2)
    spec, lr = ie.settings("pe", "ct", 64, 48)
    assert spec.freqs == 3 and lr == 1e-3
    spec, _ = ie.settings("bw", "representation", 64, 48, cs=(3.0, 9.0))
    assert spec.n == 2
    with pytest.raises(ValueError, match="valid"):
        ie.settings("bw", "denoise", 64, 48)
    with pytest.raises(ValueError, match="valid"):
        ie.settings("finer", "ct", 64, 48)


def test_compare_and_tables():
    truth = np.random.default_rng(0).random((8, 8, 1))
    res = ie.compare("representation", ["bw", "relu"], truth, torch.as_tensor(truth),
                     operator=None, iters=20, width=16, cs=(1.0, 3.0), track_norm=True)
    assert [r.name for r in res] == ["BW-ReLU c=1", "BW-ReLU c=3", "ReLU"]
    assert res[0].pn is not None and res[2].pn is None
    assert np.isclose(res[1].psnr, res[1].curve[-1], atol=2.0)
    assert "PSNR" in ie.table(res)
    assert ie.best(res, ["relu"]) == res[2].psnr
    assert ie.pick(res, "bw", 3.0) is res[1]


def _r(c, loss, psnr, pn):
    return ie.Result("x", "bw", c, np.zeros(1), 0, 0, curve=np.asarray(psnr, float),
                     loss=np.asarray(loss, float), pn=np.asarray(pn, float))


def test_equal_fit_reads_the_first_hit():
    rs = [_r(1, [1, .9, .8], [10, 11, 30], [5, 6, 7]),      # misses target 0.5
          _r(2, [1, .4, .3], [10, 20, 21], [1, 2, 3]),      # reaches at t=1: psnr 20, pn 2
          _r(3, [1, .6, .5], [10, 15, 18], [1, 1.5, 1.8]),  # reaches at t=2: psnr 18, pn 1.8
          _r(5, [.5, .4, .3], [9, 9, 9], [4, 4, 4])]        # reaches at t=0: psnr 9, pn 4
    fits = ie.equal_fit(rs, 0.5)
    assert [f.reached for f in fits] == [False, True, True, True]
    assert [f.iteration for f in fits] == [2, 1, 2, 0]
    assert [f.psnr for f in fits] == [30, 20, 18, 9] and [f.pn for f in fits] == [7, 2, 1.8, 4]
    with pytest.raises(ValueError):
        ie.equal_fit([ie.Result("x", "bw", 1.0, np.zeros(1), 0, 0)], 0.5)


def _fit(c, psnr, pn, reached=True):
    return ie.EqualFit(c, reached, 10, 0.1, psnr, pn)


def test_selection_passes_only_when_min_norm_c_is_best():
    # min PN at c=3 and best PSNR at c=3: the paper's rule holds
    ok = ie.selection_check([_fit(1, 20, 9), _fit(2, 21, 5), _fit(3, 24, 2), _fit(5, 18, 4)])
    assert (ok.c_pn, ok.c_psnr, ok.psnr_gap, ok.steps) == (3, 3, 0.0, 0)
    assert ok.rule_gap == 0.0 and ok.n_reached == ok.n_total == 4


def test_selection_fails_with_the_minimum_norm_c_in_the_middle():
    # the committed run's pattern: three c reach, min PN at the middle c (3), best PSNR at its
    # neighbour (2). The old one-grid-step rule passed here; the paper's rule must fail.
    sel = ie.selection_check([_fit(2, 24.0, 309), _fit(3, 19.5, 258), _fit(5, 17.3, 265)])
    assert (sel.c_pn, sel.c_psnr, sel.steps) == (3, 2, 1)
    assert math.isclose(sel.psnr_gap, -4.5) and sel.rule_gap < 0


def test_selection_with_a_missed_c_is_not_applied():
    fits = [_fit(1, 30, 700, reached=False), _fit(2, 22, 290), _fit(3, 23, 250)]
    sel = ie.selection_check(fits)
    assert sel.missed == (1,) and (sel.n_reached, sel.n_total) == (2, 3)
    assert (sel.c_pn, sel.c_psnr, sel.psnr_gap) == (3, 3, 0.0)    # among those that reached
    assert math.isnan(sel.rule_gap)                                # but the rule is not applied
    none = ie.selection_check([_fit(1, 30, 700, reached=False)])
    assert none.c_pn is None and none.psnr_gap == float("-inf") and math.isnan(none.rule_gap)


def test_equal_fit_sweep_stops_each_c_at_the_common_target():
    truth = np.random.default_rng(1).random((8, 8, 1))
    data = torch.as_tensor(truth, dtype=torch.float32)
    res, target = ie.equal_fit_sweep(truth, data, operator=lambda im: im, cs=(2.0, 3.0, 9.0),
                                     ref_c=3.0, ref_iters=40, cap=400, width=16, seed=0)
    assert [r.c for r in res] == [2.0, 3.0, 9.0]
    ref = res[1]
    assert len(ref.loss) == 41 and ref.loss[-1] == target
    fits = ie.equal_fit(res, target)
    for r, f in zip(res, fits):
        if r is ref:
            continue
        # a run that reached stops at its first hit; one that did not runs to the cap
        assert (f.reached and len(r.loss) == f.iteration + 1) or (not f.reached and
                                                                  len(r.loss) == 400)
        assert np.all(r.loss[:-1] > target) if f.reached else True
    assert sum(f.reached for f in fits) >= 2            # the reference and at least one other
    # the stopped model is the one scored: image PSNR equals the history's last entry
    assert all(np.isclose(r.psnr, r.curve[-1], atol=1e-3) for r in res if r is not ref)
    with pytest.raises(ValueError, match="reference"):
        ie.equal_fit_sweep(truth, data, operator=lambda im: im, cs=(2.0,), ref_c=3.0,
                           ref_iters=5, cap=10, width=8)


def test_gaps_and_cost_ratio():
    rs = [ie.Result("BW-ReLU c=3", "bw", 3.0, np.zeros(1), 20.0, 0, seconds=2.0),
          ie.Result("ReLU", "relu", None, np.zeros(1), 15.0, 0, seconds=1.0),
          ie.Result("SIREN", "siren", None, np.zeros(1), 21.0, 0, seconds=1.5),
          ie.Result("WIRE", "wire", None, np.zeros(1), 19.0, 0, seconds=5.0)]
    g = ie.gaps(rs, 3.0)
    assert (g.bw, g.relu, g.siren_wire) == (20.0, 5.0, -1.0) and math.isnan(g.pe)
    assert ie.cost_ratio(rs, "wire") == 2.5 and ie.cost_ratio(rs, "pe") is None


def test_texts_for_the_prose():
    rs = [ie.Result("BW-ReLU c=3", "bw", 3.0, np.zeros(1), 20.04, 0, seconds=2.0, flops=4e9),
          ie.Result("ReLU", "relu", None, np.zeros(1), 15.0, 0, seconds=1.0, flops=4e9)]
    t = ie.psnr_texts("ct", rs, [("bw", 3.0), ("relu", None), ("wire", None)])
    assert t == {"psnr_ct_bw3": "20.0", "psnr_ct_relu": "15.0", "psnr_ct_wire": "not run"}
    fits = [_fit(2.0, 21.04, 290.4), _fit(3.0, 19.5, 250.0, reached=False)]
    s = ie.sweep_texts(fits, [1.0, 2.0, 3.0], cap=100)
    assert s["c4_it_c1"] == "not run" and s["c4_it_c2"] == "10"
    assert s["c4_it_c3"] == "missed (cap 100)" and s["c4_pn_c2"] == "290"
    assert s["c4_psnr_c2"] == "21.0"
    lines = ie.sweep_table(fits).splitlines()
    assert len(lines) == 3 and lines[2].split()[:2] == ["3", "False"]
    table = ie.timing_table(rs, iters=10, n_pixels=100, gemm=40.0).splitlines()
    assert len(table) == 3 and table[1].split()[-1] == "50%"     # 4e9 / 0.2 s = 20 GFLOP/s


def test_grid_layout_balances_the_blocks():
    assert ie.grid_layout(5) == (1, 5) and ie.grid_layout(6) == (1, 6)
    assert ie.grid_layout(7) == (2, 4) and ie.grid_layout(8) == (2, 4)
    assert ie.grid_layout(9) == (2, 5) and ie.grid_layout(11, max_cols=5) == (3, 4)
    with pytest.raises(ValueError):
        ie.grid_layout(0)


@pytest.mark.parametrize("n_methods", [4, 6, 8])
def test_each_error_map_sits_under_its_own_reconstruction(n_methods):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from relubook.core import plotting

    plotting.use()
    rng = np.random.default_rng(1)
    truth = rng.random((12, 12, 1))
    res = [ie.Result(f"method {i}", "x", None, truth + 0.01 * (i + 1) * rng.random(truth.shape),
                     20.0 + i, 0.5) for i in range(n_methods)]
    fig = ie.plot_grid(truth, res, "test grid")
    fig.canvas.draw()                                    # constrained layout places the axes
    by_label = {a.get_label(): a for a in fig.axes}
    truth_ax = by_label["reconstruction: ground truth"]
    images_axes = [a for a in fig.axes if a.get_label().startswith(("reconstruction", "error"))]
    for r in res:
        top, bottom = by_label[f"reconstruction: {r.name}"], by_label[f"error: {r.name}"]
        assert top.get_title().startswith(r.name)
        assert top.title.get_fontsize() >= plotting.MIN_FONT_PT
        pt, pb = top.get_position(), bottom.get_position()
        assert pb.x0 == pytest.approx(pt.x0, abs=1e-6) and pb.x1 == pytest.approx(pt.x1, abs=1e-6)
        assert pb.y1 < pt.y0                              # below its reconstruction
        between = [a for a in images_axes if a not in (top, bottom)
                   and a.get_position().x0 == pytest.approx(pt.x0, abs=1e-6)
                   and pb.y1 < a.get_position().y0 < pt.y0]
        assert not between                                # directly below, nothing in between
        shown = bottom.get_images()[0].get_array()
        np.testing.assert_allclose(shown, np.abs(r.image - truth).mean(-1))
    # the slot right under the ground truth holds no error map
    pt = truth_ax.get_position()
    under = [a for a in fig.axes if a.get_position().x0 == pytest.approx(pt.x0, abs=1e-6)
             and a.get_position().y1 < pt.y0]
    nearest = max(under, key=lambda a: a.get_position().y1)
    assert not nearest.get_images() and not nearest.axison
    assert fig.get_size_inches()[0] <= plotting.TEXT_WIDTH + 1e-9
    plt.close(fig)


def _cfg(**kw):
    cfg = dict(iters=10, sr_iters=20, ct_iters=30, rep_size=8, rep_width=4, rep_cs=[9.0, 3.0],
               rep_models=["bw", "relu", "wire"], sr_size=16, sr_width=4, sr_cs=[3.0],
               sr_models=["bw"], ct_size=8, ct_width=8, ct_models=["siren"],
               sweep_cs=[1.0, 2.0], sweep_ref=5, sweep_size=8, sweep_width=4)
    cfg.update(kw)
    return cfg


def test_paper_cost_counts_networks_sizes_and_widths():
    # representation: 2 BW + ReLU + 2 (WIRE) = 5 units x 10; SR: 1 x 20 x (16/8)^2;
    # CT: 1 x 30 x (8/4)^2 (width); sweep: 2 c x 5
    assert ie.paper_cost(_cfg()) == pytest.approx(50 + 80 + 120 + 10)


def test_paper_scale_stops_on_a_cpu_with_an_estimate():
    with pytest.raises(RuntimeError, match=r"needs a GPU.*about \d+\.\d h"):
        ie.require_paper_scale(_cfg(), "cpu")
    per, total = ie.paper_estimate(_cfg(), "cpu", probe_steps=2)
    assert per > 0 and total == pytest.approx(per * ie.paper_cost(_cfg()))
    assert set(ie.PAPER_SETTINGS) <= {"iters", "sr_iters", "ct_iters", "rep_size", "rep_width",
                                      "sr_size", "sr_width", "ct_size", "ct_angles", "ct_width",
                                      "sweep_size", "sweep_angles", "sweep_width", "sweep_ref",
                                      "sweep_cap"}
    assert ie.PAPER_SETTINGS["rep_size"] == 256 and ie.PAPER_SETTINGS["ct_iters"] == 10000


def test_benchmark_summary_reads_the_committed_format(tmp_path):
    import json

    from relubook.topics import inr_bench
    row = inr_bench.Row("bw", "8x8, w4, L2", 2.0, 6.0, 1.5, 3.0)
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"date": "d", "machine": "m", "torch": "t", "threads": 1,
                                "activations": "compiled", "reps": 3,
                                "rows": [row.as_dict()],
                                "goals": {"speedup": [3.0, 4.0, False]}}))
    text, info = ie.benchmark_summary(path)
    assert "3.00x" in text and "75%" in text
    assert info["rows"]["bw"].speedup == 3.0 and info["goals"]["speedup"][2] is False

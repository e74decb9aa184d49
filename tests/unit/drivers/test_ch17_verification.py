"""Unit tests of relubook.drivers.ch17_verification, on small settings."""

import numpy as np
import pytest
from relubook.drivers import ch17_verification as drv

CFG = {
    "a_nets": [[2, 4, 4, 1], [3, 4, 1]], "a_grid": 101, "a_samples": 2000, "a_delta": 1e-4,
    "marabou_timeout": 20,
    "b_ns": [3, 5], "b_formulas": 4, "b_ratio": 4.26, "b_vertex_max_n": 4, "b_max_ns": [3],
    "b_max_formulas": 2,
    "c_widths": [2, 4, 4, 1], "c_eps": [0.1, 0.01],
    "d_iters_float": 60, "d_iters_exact": 80, "d_dps": 40,
}


def test_labels_and_box():
    assert drv.net_label([2, 8, 8, 1]) == "2-8-8-1"
    lo, hi = drv.unit_box(3)
    assert lo.tolist() == [-1, -1, -1] and hi.tolist() == [1, 1, 1]


def test_exact_vs_bounds():
    pytest.importorskip("maraboupy", reason="pip install --no-deps maraboupy==2.0.0")
    a = drv.exact_vs_bounds(CFG, seed=0)
    assert a["net"].tolist() == ["2-4-4-1", "3-4-1"]
    assert np.all(a["ibp_ub"] >= a["milp_max"]) and np.all(a["grid_max"] <= a["milp_max"] + 1e-9)
    assert np.all(np.abs(a["f_at_x"] - a["milp_max"]) < 1e-6)
    assert np.all(np.abs(a["region_lp"] - a["milp_max"]) < 1e-6)
    assert np.all(a["milp_min"] <= a["milp_max"])
    assert a["marabou_below"].tolist() == ["sat", "sat"]
    assert a["marabou_above"].tolist() == ["unsat", "unsat"]
    assert a["grid_kind"].tolist() == ["grid", "samples"]
    again = drv.exact_vs_bounds(CFG, seed=0)
    np.testing.assert_array_equal(a["milp_max"], again["milp_max"])


def test_region_map():
    mp = drv.region_map(CFG, seed=0, points=40)
    assert mp["f"].shape == (40, 40) and mp["ids"].shape == (40, 40)
    assert mp["regions"] == np.unique(mp["ids"]).size >= 1
    assert np.all(np.abs(mp["x_milp"]) <= 1) and mp["f"].max() <= mp["f"].max()
    with pytest.raises(ValueError, match="2 inputs"):
        drv.region_map({**CFG, "a_nets": [[3, 4, 1]]}, seed=0, points=10)


def test_sat_sweep_agrees_and_is_deterministic():
    b = drv.sat_sweep(CFG, seed=1)
    assert b["n"].tolist() == [3] * 4 + [5] * 4
    assert np.array_equal(b["sat_milp"], b["sat_pysat"])
    assert np.array_equal(b["sat_brute"], b["sat_pysat"])
    sat = b["sat_pysat"]
    assert np.all(b["min_y"][sat] <= 1e-6) and np.all(b["min_y"][~sat] >= 1 - 1e-6)
    assert np.all(b["witness_sat"][sat])
    assert b["vertex_err"] <= 1e-12 and b["vertex_formulas"] == 4
    assert b["encodings"]["n"].tolist() == [3, 3] and np.all(b["encodings"]["agree"])
    assert b["ns"].tolist() == [3, 5] and b["t_milp_median"].shape == (2,)
    again = drv.sat_sweep(CFG, seed=1)
    np.testing.assert_array_equal(b["min_y"], again["min_y"])


def test_reachability():
    c = drv.reachability(CFG, seed=0)
    assert c["eps"].tolist() == [0.1, 0.01]
    for act in drv.ACTS:
        assert np.all(c[act]["gap"] <= c["eps"])
        assert np.all(c[act]["ub"] >= c[act]["grid"] - 1e-9)
        assert c[act]["boxes"][1] >= c[act]["boxes"][0]
    assert c["relu"]["best"][-1] <= c["relu"]["exact"] <= c["relu"]["ub"][-1]
    assert c["tanh"]["exact"] is None


def test_bisection():
    d = drv.bisection(CFG)
    assert d["x_star"] == pytest.approx(np.log(3), abs=1e-15)
    assert d["width_dev_exact"] == 0.0 and d["err_over_width_exact"] <= 1.0
    assert 50 <= d["float_bits_max"] <= 56 and 45 <= d["float_first_stall"] <= 60
    assert d["bits_exact"][-1] > 75

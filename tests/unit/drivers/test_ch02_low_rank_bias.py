"""Unit tests of relubook.drivers.ch02_low_rank_bias: the batched grid and its rank tables."""

import math

import numpy as np
import pytest
import torch
from relubook.core import data as D
from relubook.core import ranks
from relubook.drivers import ch02_low_rank_bias as ch02

WIDTHS = [64, 8, 8, 10]
SETTINGS = [(0.1, 0.0), (0.1, 0.01)]


@pytest.fixture(scope="module")
def grid():
    data = D.digits_split()
    return ch02.train_grid(data, WIDTHS, SETTINGS, seeds=[0, 1], batch_size=64, steps=6,
                           log_every=3, hidden=(1,))


def test_train_grid_layout(grid):
    data = D.digits_split()
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    out = grid
    assert out["lr"].tolist() == [0.1] * 4 and out["wd"].tolist() == [0.0, 0.01] * 2
    assert out["seed"].tolist() == [0, 0, 1, 1]
    assert out["step"].tolist() == [0, 3, 6]
    assert out["spectrum"].shape == (4, 1, 8, 3) and out["fro"].shape == (4, 1, 3)
    assert out["tiny"] == pytest.approx(np.finfo(np.float32).tiny)
    one = ch02.train_grid(data, WIDTHS, SETTINGS, seeds=[1], batch_size=64, steps=6,
                          log_every=3, hidden=(1,))
    # a seed's runs do not depend on the other seeds
    assert np.allclose(one["spectrum"], out["spectrum"][2:])


def test_rank_measures_of_spectra_match_the_trained_weights(grid):
    # independent path: the core measures on the final weights themselves
    w = grid["net"].weights[1].detach()  # (C, 8, 8), the recorded matrix
    assert np.array_equal(ch02.hidden_rank(grid, 0.1)[:, 0], ranks.thresholded_rank(w, 0.1))
    assert np.allclose(ch02.hidden_stable_rank(grid)[:, 0], ranks.stable_rank(w))
    assert np.array_equal(ch02.hidden_eps_rank(grid, 0.3)[:, 0], ranks.eps_rank(w, 0.3))
    curve = ch02.hidden_rank(grid, 0.1, at=slice(None))
    assert curve.shape == (4, 1, 3) and np.array_equal(curve[..., -1], ch02.hidden_rank(grid, 0.1))


def _res(spectra, lr, wd, fro=None, steps=(0, 10), train_acc=None, test_acc=None):
    """A hand-made train_grid result: spectra (C, L, k, T) from a list of (C,) rows."""
    s = np.asarray(spectra, dtype=float)
    c = s.shape[0]
    return {"lr": np.asarray(lr, float), "wd": np.asarray(wd, float),
            "seed": np.arange(c), "step": np.asarray(steps),
            "spectrum": s, "fro": np.ones(s.shape[:2] + (len(steps),)) if fro is None
            else np.asarray(fro, float),
            "train_acc": np.ones(c) if train_acc is None else np.asarray(train_acc, float),
            "test_acc": np.ones(c) if test_acc is None else np.asarray(test_acc, float)}


def _spec(*vals, k=4):
    v = np.zeros(k)
    v[:len(vals)] = vals
    return v / np.linalg.norm(v)


def test_hidden_ranks_closed_forms():
    # spectra (C=2, L=1, k=4, T=2): equal values -> rank = stable rank = number of values
    a = np.stack([_spec(1, 1), _spec(1, 1, 1, 1)], -1)      # rank 2 at t=0, 4 at t=1
    b = np.stack([_spec(1), _spec(2, 1, 1e-4)], -1)          # rank 1, then 3 at tol 1e-5
    res = _res([[a], [b]], [0.1, 0.2], [0.01, 0.01])
    assert ch02.hidden_rank(res, 1e-5).tolist() == [[4], [3]]
    assert ch02.hidden_rank(res, 1e-3).tolist() == [[4], [2]]
    assert ch02.hidden_rank(res, 1e-5, at=0).tolist() == [[2], [1]]
    assert ch02.hidden_rank(res, 1e-5, at=slice(None)).tolist() == [[[2, 4]], [[1, 3]]]
    assert np.allclose(ch02.hidden_stable_rank(res, at=0), [[2], [1]])
    assert np.allclose(ch02.hidden_stable_rank(res), [[4], [(4 + 1 + 1e-8) / 4]])
    # eps-rank: the best rank-1 approximation of diag(2, 1, 1e-4)/||.|| misses 1/sqrt(5);
    # the best rank-3 approximation of diag(1, 1, 1, 1)/2 misses exactly 1/2
    assert ch02.hidden_eps_rank(res, 0.5).tolist() == [[3], [1]]
    assert ch02.hidden_eps_rank(res, 0.4).tolist() == [[4], [2]]


def test_select_and_mean_rank():
    s = np.stack([_spec(1, 1, 1), _spec(1, 1, 1)], -1)
    t = np.stack([_spec(1), _spec(1)], -1)
    # C = 4: (lr, wd) = (0.1, 0.01) for seeds 0 and 1, with L = 2 matrices each
    res = _res([[s, t], [t, t], [s, s], [s, t]], [0.1, 0.2, 0.1, 0.2], [0.01, 0.01, 0.01, 0.01])
    assert ch02.select(res, 0.1, 0.01).tolist() == [0, 2]
    assert ch02.mean_rank(res, 0.1, 0.01).tolist() == [2.0, 3.0]
    assert ch02.mean_rank(res, 0.2, 0.01).tolist() == [1.0, 2.0]
    assert ch02.rank_curve(res, 0.1, 0.01).shape == (2, 2)
    with pytest.raises(ValueError, match="no run with lr=0.3"):
        ch02.select(res, 0.3, 0.01)


def test_old_memory_terms_and_underflow():
    sp = np.stack([_spec(1), _spec(1), _spec(1)], -1)
    fro = [[[2.0, 1.0, 0.5]], [[1.0, 1.0, 1e-40]]]
    res = _res([[sp], [sp]], [0.1, 0.2], [0.02, 0.5], fro=fro, steps=(0, 50, 100))
    q = 1 - 0.1 * 0.02
    assert np.allclose(ch02.final_old_memory(res), [[q**100 * 4.0], [0.9**100 * 1e40]])
    assert np.allclose(ch02.old_memory_curve(res, 0.1, 0.02), [[[1.0, q**50 * 2, q**100 * 4]]])
    assert ch02.underflowed(res).tolist() == [False, True]
    res["tiny"] = 1e-45
    assert ch02.underflowed(res).tolist() == [False, False]


def test_first_step_below():
    full, low = _spec(1, 1, 1, 1), _spec(1)
    sp = np.stack([full, full, low, low], -1)
    res = _res([[sp]], [0.1], [0.02], fro=[[[1.0, 1.0, 1.0, 1.0]]], steps=(0, 10, 20, 30))
    step, mem = ch02.first_step_below(res, 0.1, 0.02, level=2)
    assert step == 20 and mem == pytest.approx((1 - 0.002) ** 20)
    assert all(math.isnan(v) for v in ch02.first_step_below(res, 0.1, 0.02, level=1))


def test_grid_means():
    s2, s4 = np.stack([_spec(1, 1)] * 2, -1), np.stack([_spec(1, 1, 1, 1)] * 2, -1)
    r8 = _res([[s2], [s4]], [0.1, 0.2], [0.01, 0.01])
    r128 = _res([[s4], [s4]], [0.1, 0.2], [0.01, 0.01])
    z = ch02.grid_means({8: r8, 128: r128}, [(0.1, 0.01), (0.2, 0.01)],
                        lambda r: ch02.hidden_rank(r))
    assert z.tolist() == [[2.0, 4.0], [4.0, 4.0]]


def test_bound_table_and_summary():
    lowr = np.stack([_spec(1, 1)] * 2, -1)                 # eps-rank 2 at eps 0.1
    fullr = np.stack([_spec(1, 1, 1, 1)] * 2, -1)          # eps-rank 4 (tail 1/4 > 0.01)
    fro = [[[1.0, 1.0]], [[1.0, 1.0]], [[1.0, 1.0]]]
    res = _res([[lowr], [fullr], [fullr]], [0.1, 0.1, 0.2], [0.0, 0.02, 0.5], fro=fro,
               steps=(0, 3000), train_acc=[1.0, 0.95, 0.1])
    rows = ch02.bound_table([("equal steps", 8, res)], eps=0.1)
    assert [(r["lr"], r["wd"]) for r in rows] == [(0.1, 0.02), (0.2, 0.5)]   # wd = 0 left out
    b = 8 * math.log(20) / (0.1 * 0.02)
    assert rows[0]["bound"] == pytest.approx(b) and rows[0]["eps_rank_max"] == 4
    assert rows[0]["thr_rank"] == 4 and rows[0]["stable"] == pytest.approx(4)
    assert rows[0]["old_memory"] == pytest.approx(0.998**3000)
    s = ch02.bound_summary(rows, width=4, eps=0.1)
    assert s["n_applies"] == 2 and s["n_learn"] == 1      # both old-memory terms are below eps
    assert s["max_ratio"] == pytest.approx(4 / (8 * math.log(20) / 0.1))
    assert s["min_bound_learn"] == pytest.approx(b)
    assert s["bound_over_width"] == pytest.approx(b / 4)
    # a run whose weights underflowed is not measured: left out of the statement
    res["fro"] = np.array([[[1.0, 1.0]], [[1.0, 1.0]], [[1.0, 1e-42]]])
    rows_u = ch02.bound_table([("x", 8, res)], eps=0.1)
    assert rows_u[1]["n_underflow"] == 1 and math.isnan(rows_u[1]["eps_rank"])
    assert math.isnan(rows_u[1]["old_memory"])
    assert rows_u[1]["bound"] == pytest.approx(8 * math.log(20) / 0.1)
    s = ch02.bound_summary(rows_u, width=4, eps=0.1)
    assert s["n_applies"] == 1 and s["max_ratio"] == pytest.approx(4 / b)
    assert s["eps_rank_min"] == s["eps_rank_max"] == 4
    text = ch02.bound_table_text(rows_u, batch_sizes=[8]).splitlines()
    assert len(text) == 3 and text[0].split()[:3] == ["sweep", "B", "lr"]
    assert "underflowed (1 seeds)" in text[2] and "nan" in text[2]
    assert len(ch02.bound_table_text(rows_u, batch_sizes=[1]).splitlines()) == 1
    # a hypothesis that never holds leaves the statement unmeasured (NaN fails every check)
    s = ch02.bound_summary([dict(r, old_memory=1.0) for r in rows], width=4, eps=0.1)
    assert s["n_applies"] == 0 and math.isnan(s["max_ratio"])


def test_fit_pool_picks_the_extreme_fitting_runs():
    r = {n: np.stack([_spec(*([1] * n), k=8)] * 2, -1) for n in (1, 2, 4, 8)}
    a = _res([[r[8]], [r[2]]], [0.1, 0.1], [0.0, 0.02], train_acc=[1.0, 0.99],
             test_acc=[0.97, 0.95])
    b = _res([[r[1]], [r[4]]], [0.1, 0.1], [0.0, 0.02], train_acc=[0.5, 0.98],
             test_acc=[0.4, 0.96])
    pool = ch02.fit_pool([("equal epochs", 8, a), ("equal steps", 128, b)])
    assert pool["rank"].tolist() == [8, 2, 1, 4] and pool["fit"].tolist() == [1, 1, 0, 1]
    assert pool["B"].tolist() == [8, 8, 128, 128] and pool["n_fit"] == 3
    assert (pool["hi"], pool["lo"]) == (0, 1)           # rank 1 does not fit: left out
    assert pool["ratio"] == 4.0 and pool["dacc"] == pytest.approx(0.02)
    none = ch02.fit_pool([("x", 8, b)], fit_acc=0.999)
    assert none["hi"] is None and math.isnan(none["ratio"]) and math.isnan(none["dacc"])
    with pytest.raises(ValueError):
        ch02.fit_pool([])


def test_trained_grid_old_memory_matches_the_unrolled_decay(grid):
    # at wd = 0 the old-memory term is the norm ratio ||W_0|| / ||W_T||
    i = ch02.select(grid, 0.1, 0.0)
    ratio = grid["fro"][i, 0, 0] / grid["fro"][i, 0, -1]
    assert np.allclose(ch02.final_old_memory(grid)[i, 0], ratio)
    assert not ch02.underflowed(grid).any()
    assert torch.is_tensor(grid["net"].weights[0])

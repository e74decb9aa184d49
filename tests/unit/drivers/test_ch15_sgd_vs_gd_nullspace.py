"""Unit tests of relubook.drivers.ch15_sgd_vs_gd_nullspace, on small synthetic low-rank data."""

import numpy as np
import pytest
import torch
from relubook.core import ranks
from relubook.core.random import torch_generator
from relubook.drivers import ch15_sgd_vs_gd_nullspace as drv
from relubook.topics import nullspace as T

N, D, K = 30, 16, 3


def data():
    g = torch_generator(0)
    X = torch.rand(N, 5, generator=g, dtype=torch.float64) @ torch.rand(5, D, generator=g,
                                                                       dtype=torch.float64)
    labels = torch.randint(0, K, (N,), generator=g)
    return X / X.max(), labels, torch.nn.functional.one_hot(labels, K).double()


@pytest.fixture(scope="module")
def lin():
    X, _, Y = data()
    ns = T.null_space(X)
    return drv.linear_runs(ns, X, Y, settings=[(0.05, 0.1), (0.05, 0.0)], seeds=[0, 1],
                           epochs={N: 4, 7: 4, 1: 1})


def test_linear_runs_layout_and_shared_initialisation(lin):
    r = lin[7]
    assert r["lr"].tolist() == [0.05] * 6 and r["wd"].tolist() == [0.1, 0.0, 0.1] * 2
    assert r["zero_init"].tolist() == [False, False, True] * 2
    assert r["seed"].tolist() == [0, 0, 0, 1, 1, 1]
    assert r["steps_per_epoch"] == 5 and r["step"].tolist() == [0, 5, 10, 15, 20]
    assert lin[N]["step"].tolist() == [0, 1, 2, 3, 4] and lin[1]["step"].tolist() == [0, 30]
    # GD and SGD start from the same W_0 (same seed, same settings)
    assert np.array_equal(lin[N]["perp"][:, 0], r["perp"][:, 0])
    assert np.all(r["perp"][r["zero_init"], 0] == 0)


def test_linear_summary_measures_the_law(lin):
    s = drv.linear_summary(lin)
    assert set(s) == {N, 7, 1}
    for v in s.values():
        assert v["law"] < 1e-12 and v["frozen"] < 1e-12 and v["zero"] < 1e-12
    assert s[7]["steps"] == 20 and s[1]["steps"] == 30
    # the measure can fail: a tampered norm shows up in the law error
    bad = {7: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in lin[7].items()}}
    bad[7]["perp"][0, -1] *= 1.001
    assert drv.linear_summary(bad)[7]["law"] == pytest.approx(1e-3, rel=1e-6)


def test_per_step_rates_are_equal_for_every_batch_size(lin):
    rates = {B: drv.per_step_rates(r, drv.select(r, wd=0.1, zero_init=False))
             for B, r in lin.items()}
    c = lin[7]["factor"][0]
    for v in rates.values():
        assert np.allclose(v, -np.log(c), rtol=1e-10)


def test_select_names_the_keys_when_nothing_matches(lin):
    assert drv.select(lin[7], wd=0.0).tolist() == [1, 4]
    with pytest.raises(ValueError, match="per-network keys"):
        drv.select(lin[7], wd=0.3)


def test_deep_runs_law_ranks_and_heads():
    X, y, _ = data()
    ns = T.null_space(X)
    out = drv.deep_runs(ns, X, y, widths=(D, 8, 8, K), settings=[(0.1, 0.05)], seeds=[0],
                        batch_sizes=[N, 8], epochs=3, tol=1e-3)
    for r in out.values():
        assert r["ce"].tolist() == [True, False]
        assert r["rank"].shape == (2, 3) and r["stable"].shape == (2, 3)
        assert np.all(r["rank"] <= [[8, 8, 3]])
        err = T.law_error(r["perp"], r["step"], r["factor"])
        assert np.nanmax(err) < 1e-4                                # float32
        assert r["factor"][0] == np.float32(1 - np.float32(0.1) * np.float32(0.05))
    assert out[8]["step"].tolist() == [0, 4, 8, 12]
    assert np.array_equal(out[N]["perp"][:, 0], out[8]["perp"][:, 0])
    # the ranks are the core's measures (an independent recomputation would need the weights:
    # check instead that a thresholded rank is never above the matrix size and the stable
    # rank never above the thresholded one plus rounding)
    assert np.all(out[8]["stable"] <= out[8]["rank"] + 1e-9)
    one = drv.deep_runs(ns, X, y, widths=(D, 8, 8, K), settings=[(0.1, 0.05)], seeds=[0],
                        batch_sizes=[N], epochs=1, heads=(True,))
    assert one[N]["ce"].tolist() == [True] and one[N]["rank"].shape == (1, 3)
    assert ranks.thresholded_rank(torch.eye(4), 1e-3) == 4      # the measure used


def test_noise_floor_shapes_and_gd_convergence():
    X, _, Y = data()
    out = drv.noise_floor(X, Y, lr=0.05, wd=0.1, gd_steps=3000, batch_size=7, epochs=3,
                          seeds=[0, 1])
    assert out["gd"].shape == (2, 3000) and out["sgd"].shape == (2, 15)
    assert out["steps_per_epoch"] == 5
    assert np.all(np.isfinite(out["sgd"]))
    assert np.all(out["gd"][:, -1] < 1e-3 * out["gd"][:, 0])     # GD converges
    assert np.all(out["sgd"][:, -5:].min(1) > 100 * out["gd"][:, -1])  # SGD keeps moving


def test_epoch_rates_follow_the_law_and_see_a_tampered_norm(lin):
    at = {"lr": 0.05, "wd": 0.1, "zero_init": False}
    r = drv.epoch_rates(lin, gd=N, batch=7, epochs=4, where=at)
    c = float(lin[N]["factor"][0])
    assert r.steps_per_epoch == 5 and r.ratio.shape == (2,)
    assert np.allclose(r.pred, c ** (4 * 4), rtol=1e-12)                 # E (ceil(n/B) - 1)
    assert r.max_diff < 1e-12 and r.max_ratio == pytest.approx(c ** 16, rel=1e-10)
    assert r.rate_dev < 1e-10 and set(r.rate) == {N, 7, 1}
    assert r.lin_dev == pytest.approx(abs(c ** 4 - (1 - 4 * (1 - c))), abs=0)
    assert r.lin_dev > 0
    bad = {B: dict(v) for B, v in lin.items()}
    bad[7]["perp"] = lin[7]["perp"].copy()
    bad[7]["perp"][0, 4] *= 1.01                                         # epoch 4 of seed 0
    r_bad = drv.epoch_rates(bad, gd=N, batch=7, epochs=4, where=at)
    assert r_bad.max_diff == pytest.approx(0.01 * c ** 16, rel=1e-8)
    bad[7]["perp"][0, -1] *= 1.01                                        # the last step
    assert drv.epoch_rates(bad, gd=N, batch=7, epochs=4, where=at).rate_dev > 1e-4


SETTINGS = [(0.1, 0.005), (0.1, 0.02)]
HID = slice(1, 3)


def fake_deep(ranks_ce, ranks_mse, stable_ce, steps, acc=0.5):
    """A deep_runs-like result: seeds x (CE, MSE) x SETTINGS networks of 4 layers.

    ``ranks_ce[s][k]`` is the thresholded rank of every layer of seed s, setting k (CE), ...
    """
    rank, stable, ce, lr, wd, seed = [], [], [], [], [], []
    for s, (rc, rm, sc) in enumerate(zip(ranks_ce, ranks_mse, stable_ce)):
        for head, rr, ss in ((True, rc, sc), (False, rm, sc)):
            for k, (a, b) in enumerate(SETTINGS):
                rank.append([100.0, rr[k], rr[k], 10.0])
                stable.append([20.0, ss[k], ss[k], 3.0])
                ce.append(head), lr.append(a), wd.append(b), seed.append(s)
    lr, wd = np.array(lr), np.array(wd)
    return {"rank": np.array(rank), "stable": np.array(stable), "ce": np.array(ce), "lr": lr,
            "wd": wd, "seed": np.array(seed), "factor": 1 - lr * wd,
            "step": np.arange(3) * steps, "train_acc": np.full(len(lr), acc)}


def ranks_pair():
    gd = fake_deep([[120, 120], [118, 119]], [[5, 5], [5, 5]], [[30, 30], [28, 29]], 1, 0.3)
    sgd = fake_deep([[110, 60], [112, 64]], [[128, 128], [128, 128]], [[20, 8], [21, 10]], 100,
                    0.9)
    return {N: gd, 16: sgd}


def ctrl_with(rank):
    return {"rank": np.array([[100.0, rank, rank, 10.0]]), "stable": np.array([[9, 7.26, 7.26, 1]]),
            "train_acc": np.array([0.8766])}


def test_hidden_ranks_on_constructed_ranks():
    deep = ranks_pair()
    r = drv.hidden_ranks(deep, None, gd=N, batch=16, settings=SETTINGS, hid=HID)
    # CE only: the MSE networks (SGD 128 > GD 5) would make the difference positive
    assert r.d_rank == max(110 - 120, 60 - 120, 112 - 118, 64 - 119) == -6
    assert r.r_stable == pytest.approx(max(20 / 30, 8 / 30, 21 / 28, 10 / 29))
    assert r.sgd_hi.tolist() == [60, 64] and r.sgd_hi_mean == 62
    assert r.gd_hi == 119.5 and r.lo_sgd == 111 and r.lo_gd == 119
    assert r.sgd_w1 == 100 and r.sgd_acc == 0.9 and r.gd_acc == 0.3
    assert r.sgd_steps == 200 and r.gd_steps == 2
    assert r.forget_lo == pytest.approx((1 - 0.1 * 0.005) ** 200, rel=1e-12)
    assert r.ctrl_rank is None and r.equal_steps_gap is None
    assert r.control_text == "not run at this profile"
    # a GD network of lower rank at one seed makes the check's value positive
    deep[N]["rank"][4, 1:3] = 50                                         # seed 1, CE, wd 0.005
    assert drv.hidden_ranks(deep, None, gd=N, batch=16, settings=SETTINGS, hid=HID).d_rank == 62


@pytest.mark.parametrize("ctrl_rank, refuted", [(55.0, True), (62.0, True), (62.5, False),
                                                (90.0, False)])
def test_refutation_and_phrases_follow_the_control(ctrl_rank, refuted):
    from relubook.pipeline import claims
    r = drv.hidden_ranks(ranks_pair(), ctrl_with(ctrl_rank), gd=N, batch=16, settings=SETTINGS,
                         hid=HID)
    assert r.equal_steps_gap == 60 - ctrl_rank                           # SGD's smallest: 60
    check = claims.at_least("equal steps", r.equal_steps_gap, -2)       # the notebook's rule
    assert check.passed is refuted
    assert r.control_text == f"{ctrl_rank:.1f} (stable rank 7.3, train accuracy 0.877)"
    g = drv.c3_glue(r, check.passed, ctrl_steps=1234, rank_x=64)
    assert g["c3_ctrl_phrase"] == (f"it reaches a mean hidden rank of {ctrl_rank:.1f}, against "
                                   "SGD's 60.0 to 64.0 over the seeds")
    assert ("advantage is gone" in g["c3_reading"]) is refuted
    assert g["c3_summary"] == ("but GD given as many steps is as low-rank or lower" if refuted
                               else "and GD given as many steps is not as low-rank")
    assert g["c3_ctrl_steps"] == 1234 and g["c3_sgd_hi"] == 62


def test_c3_glue_without_control_and_first_layer_relation():
    r = drv.hidden_ranks(ranks_pair(), None, gd=N, batch=16, settings=SETTINGS, hid=HID)
    g = drv.c3_glue(r, None, ctrl_steps=10, rank_x=64)
    assert g["c3_ctrl_phrase"] == "it runs only at the full profile"
    assert g["c3_summary"] == "the equal-steps control runs only at the full profile"
    assert g["c3_reading"].startswith("Whether SGD keeps its lower rank")
    assert g["c3_w1_rel"] == "not yet below"                             # W1 rank 100 >= 64
    assert drv.c3_glue(r, None, ctrl_steps=10, rank_x=101)["c3_w1_rel"] == "below"
    with pytest.raises(ValueError):
        drv.c3_glue(r, True, ctrl_steps=10, rank_x=64)                  # no control, a verdict
    rc = drv.hidden_ranks(ranks_pair(), ctrl_with(50.0), gd=N, batch=16, settings=SETTINGS,
                          hid=HID)
    with pytest.raises(ValueError):
        drv.equal_steps_words(rc, None)


def test_first_layer_law_per_method_and_head():
    deep = ranks_pair()
    for d in deep.values():
        f32 = (1 - d["lr"].astype(np.float32) * d["wd"].astype(np.float32)).astype(np.float64)
        d["factor"] = f32
        d["perp"] = np.linspace(1, 2, len(f32))[:, None] * f32[:, None] ** d["step"][None, :]
    methods = ((N, "GD"), (16, "SGD B = 16"))
    law, nominal = drv.first_layer_law(deep, methods)
    assert list(law) == [("GD", "cross-entropy"), ("GD", "MSE"), ("SGD B = 16", "cross-entropy"),
                         ("SGD B = 16", "MSE")]
    assert max(law.values()) < 1e-14
    # the nominal float64 factor differs from the float32 one: a small, nonzero deviation
    assert 0 < nominal["SGD B = 16", "MSE"] < 1e-3
    assert nominal["SGD B = 16", "MSE"] > 10 * nominal["GD", "MSE"]      # 200 steps against 2
    deep[16]["perp"][-1, -1] *= 1.001                                    # seed 1, MSE, wd 0.02
    law2, _ = drv.first_layer_law(deep, methods)
    assert law2["SGD B = 16", "MSE"] == pytest.approx(1e-3, rel=1e-6)
    assert law2["SGD B = 16", "cross-entropy"] == law["SGD B = 16", "cross-entropy"]


def test_noise_summary_reads_the_last_epoch():
    nf = {"gd": np.array([[1.0, 1e-3, 1e-9], [1.0, 1e-3, 4e-9]]),
          "sgd": np.array([[1e-5, 0.2, 0.3, 0.4], [0.1, 0.5, 0.6, 0.7]]), "steps_per_epoch": 3}
    s = drv.noise_summary(nf)
    assert s["gd_last"] == 4e-9 and s["sgd_floor"] == 0.2                # 1e-5 is epoch 0
    assert s["sgd_median"] == pytest.approx(0.45) and s["ratio"] == pytest.approx(0.2 / 4e-9)

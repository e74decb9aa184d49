"""Unit tests of relubook.drivers.ch19_diffractive_multitask: tasks, the batched sweep, noise,
summaries and the propagator study, on a tiny grid."""

import math

import numpy as np
import pytest
import torch
from relubook.drivers import ch19_diffractive_multitask as drv
from relubook.topics import diffractive as D

CFG = {"n": 16, "pad": 4, "patch": 8, "distance_factor": 0.45, "shared_layers": 2,
       "detector": 2, "temperature": 10.0, "n_test": 100, "shape_noise": 0.05, "lr": 0.05,
       "batch_size": 8, "steps": 4, "init_scale": 1.0, "omegas": [0.2, 0.5, 0.8],
       "task_weight": 1.0, "seeds": 2, "sigmas": [0.0, 0.3], "noise_draws": 2}


@pytest.fixture(scope="module")
def tasks():
    return drv.make_tasks(CFG, seed=0)


@pytest.fixture(scope="module")
def sweep(tasks):
    return drv.train_sweep(CFG, tasks, seed=0, progress=False)


def test_geometry():
    geo = drv.geometry(CFG)
    assert geo.n == 16 and geo.n_fft == 24
    assert geo.distance == pytest.approx(0.45 * 16 * D.PITCH ** 2 / D.WAVELENGTH)
    assert geo.max_shift_px() <= 2 * geo.pad
    with pytest.raises(ValueError, match="wrap around"):
        drv.geometry({**CFG, "pad": 2})


def test_case_table():
    tab = drv.case_table([0.2, 0.8], n_seeds=2, task_weight=0.5)
    assert [(r["case"], r["seed_index"]) for r in tab] == [
        ("single A", 0), ("single B", 0), ("multi", 0), ("multi", 0),
        ("single A", 1), ("single B", 1), ("multi", 1), ("multi", 1)]
    assert (tab[0]["w_a"], tab[0]["w_b"], tab[0]["w_task"]) == (1.0, 0.0, 0.0)
    assert (tab[1]["w_a"], tab[1]["w_b"], tab[1]["w_task"]) == (0.0, 1.0, 0.0)
    assert (tab[3]["omega"], tab[3]["w_a"], tab[3]["w_task"]) == (0.8, 0.8, 0.5)
    assert tab[3]["w_b"] == pytest.approx(0.2)


def test_make_tasks(tasks):
    n = CFG["n"]
    for t in ("A", "B"):
        xtr, xte = tasks["x"][t]["train"], tasks["x"][t]["test"]
        assert xtr.shape == (1797 - 100, n, n) and xte.shape == (100, n, n)
        assert xtr.dtype == torch.float32 and xtr.min() >= 0 and xtr.max() <= 1
        border = torch.ones(n, n, dtype=torch.bool)
        border[4:12, 4:12] = False
        assert torch.all(xtr[:, border] == 0)             # the patch sits at the centre
        assert sorted(set(tasks["y"][t]["test"].tolist())) == list(range(10))
    assert np.bincount(tasks["y"]["B"]["train"].numpy()).min() >= (1797 - 100) // 10
    again = drv.make_tasks(CFG, seed=0)
    assert torch.equal(again["x"]["B"]["train"], tasks["x"]["B"]["train"])
    other = drv.make_tasks(CFG, seed=1)
    assert not torch.equal(other["x"]["B"]["train"], tasks["x"]["B"]["train"])
    with pytest.raises(ValueError, match="multiple of 8"):
        drv.make_tasks({**CFG, "patch": 12}, seed=0)


def test_detector_set_and_readout():
    masks = drv.detector_set(16, 2)
    assert masks.shape == (11, 16, 16) and masks.sum(0).max() == 1
    p = torch.rand(3, 5, 2, 11)
    cls, task = drv.readout(p, 10.0)
    assert cls.shape == (3, 5, 2, 10) and task.shape == (3, 5, 2)
    assert torch.allclose(cls.sum(-1), torch.full((3, 5, 2), 10.0))
    assert torch.allclose(task, 10.0 * p[..., 10] / p.sum(-1))


def test_sweep_layout_and_losses(sweep):
    tab = sweep["table"]
    assert len(tab) == 10 and sweep["shared"].shape == (10, 2, 16, 16)
    assert sweep["branch"].shape == (10, 2, 16, 16) and sweep["loss"].shape == (4, 10)
    la, lb, lt = sweep["loss_a"], sweep["loss_b"], sweep["loss_task"]
    for i, r in enumerate(tab):
        want = r["w_a"] * la[:, i] + r["w_b"] * lb[:, i] + r["w_task"] * lt[:, i]
        assert np.allclose(sweep["loss"][:, i], want, rtol=1e-6)
    assert np.all(np.isfinite(sweep["loss"]))


def test_sweep_shares_init_within_a_seed_and_freezes_unused_branches(tasks, sweep):
    start = drv.train_sweep({**CFG, "steps": 0}, tasks, seed=0, progress=False)
    sh = start["shared"]
    assert torch.equal(sh[0], sh[4]) and not torch.equal(sh[0], sh[5])     # seed 0 vs seed 1
    assert start["shared"].min() >= 0 and start["shared"].max() < 2 * math.pi
    tab = sweep["table"]
    for i, r in enumerate(tab):
        if r["case"] == "single A":      # branch B gets no gradient, so Adam never moves it
            assert torch.equal(sweep["branch"][i, 1], start["branch"][i, 1])
            assert not torch.equal(sweep["branch"][i, 0], start["branch"][i, 0])
        if r["case"] == "single B":
            assert torch.equal(sweep["branch"][i, 0], start["branch"][i, 0])
        if r["case"] == "multi":
            assert not torch.equal(sweep["branch"][i], start["branch"][i])


def test_sweep_is_bitwise_reproducible(tasks, sweep):
    again = drv.train_sweep(CFG, tasks, seed=0, progress=False)
    assert torch.equal(again["shared"], sweep["shared"])
    assert torch.equal(again["branch"], sweep["branch"])


def test_evaluate(tasks, sweep):
    ev = drv.evaluate(sweep, tasks, CFG)
    for k in ("acc_a", "acc_b", "task_acc", "end_to_end"):
        assert ev[k].shape == (10,) and np.all((ev[k] >= 0) & (ev[k] <= 1))
        # accuracies are counts over the 100 test images of each task
        assert np.allclose(np.round(ev[k] * (200 if k in ("task_acc", "end_to_end") else 100)),
                           ev[k] * (200 if k in ("task_acc", "end_to_end") else 100))
    assert np.all(ev["end_to_end"] <= ev["task_acc"] + 1e-12)
    assert np.all(ev["end_to_end"] <= (ev["acc_a"] + ev["acc_b"]) / 2 + 1e-12)
    small = drv.evaluate(sweep, tasks, CFG, budget=40)       # other chunks, same answer
    for k in ev:
        assert np.array_equal(small[k], ev[k])


def test_noise_sweep(tasks, sweep):
    ev = drv.evaluate(sweep, tasks, CFG)
    ns = drv.noise_sweep(sweep, tasks, CFG, seed=0, nets=[2, 7])
    assert ns["acc_a"].shape == (2, 2, 2) and list(ns["sigmas"]) == [0.0, 0.3]
    for k in ("acc_a", "acc_b", "task_acc"):
        assert np.allclose(ns[k][0], ev[k][[2, 7]][None])      # σ = 0 is the clean network
    again = drv.noise_sweep(sweep, tasks, CFG, seed=0, nets=[2, 7])
    assert np.array_equal(again["acc_b"], ns["acc_b"])
    summ = drv.noise_summary(ns, sweep["table"])
    assert list(summ) == ["multi ω = 0.2"]             # nets 2 and 7: ω = 0.2 of both seeds
    d = summ["multi ω = 0.2"]
    assert np.allclose(d["acc_a"], ns["acc_a"].mean((1, 2)))
    assert np.allclose(d["drop_a"], d["acc_a"][0] - d["acc_a"])


def test_summaries_closed_form():
    tab = drv.case_table([0.2, 0.5, 0.8], n_seeds=2, task_weight=1.0)
    acc_a = np.array([0.9, 0.1, 0.7, 0.8, 0.85, 0.8, 0.1, 0.75, 0.8, 0.95])
    acc_b = np.array([0.1, 0.9, 0.9, 0.8, 0.7, 0.2, 0.8, 0.85, 0.8, 0.6])
    means = drv.seed_means(tab, {"acc_a": acc_a, "acc_b": acc_b})
    assert list(means) == ["single A", "single B", 0.2, 0.5, 0.8]
    assert means["single A"]["acc_a"] == pytest.approx(0.85)
    assert means[0.8]["acc_b"] == pytest.approx(0.65)
    to = drv.trade_off(means, [0.2, 0.5, 0.8], n_images=200)
    assert np.allclose(to["acc_a"], [0.725, 0.8, 0.9])
    assert to["min_step_a"] == pytest.approx(0.075) and to["max_step_b"] == pytest.approx(-0.075)
    se = math.hypot(math.sqrt(0.725 * 0.275 / 200), math.sqrt(0.9 * 0.1 / 200))
    assert to["rise_a_se"] == pytest.approx(0.175 / se)
    assert to["fall_b"] == pytest.approx(0.875 - 0.65)
    assert drv.standard_error(0.9, 100) == pytest.approx(0.03)
    with pytest.raises(ValueError, match="0.2, 0.5 and 0.8"):
        drv.trade_off(means, [0.2, 0.8], n_images=200)


def test_example_planes(tasks, sweep):
    ex = drv.example_planes(sweep, tasks, net=2, index=3)
    assert ex["x"].shape == (2, 16, 16) and ex["intensity"].shape == (2, 2, 16, 16)
    assert ex["powers"].shape == (2, 2, 11) and len(ex["labels"]) == 2
    assert np.allclose(ex["powers"][..., 0], (ex["intensity"] * sweep["masks"][0].numpy())
                       .sum((-1, -2)), rtol=1e-5)


def test_propagator_study():
    res = drv.propagator_study(drv.geometry(CFG), seed=0)
    assert res["energy"] < 1e-12 and res["reciprocity"] < 1e-12 and res["reversal"] < 1e-12
    assert res["composition"] < 1e-9 and res["gauss_err"] < 1e-5
    assert res["torchoptics"] < 1e-9 and res["deterministic"] is True
    assert res["ours_complex64"] < 1e-5 and res["torchoptics_float32"] > res["ours_complex64"]
    assert res["gauss_w"].shape == res["gauss_closed"].shape == (6,)


def test_propagation_timing():
    t = drv.propagation_timing(drv.geometry(CFG), n_nets=1, batch=2, layers=1, seed=0,
                               repeats=1)
    assert t["ours"] > 0 and t["torchoptics"] > 0
    import torchoptics
    assert torchoptics.get_default_dtype() == torch.float64      # restored

"""The torch.distributed (gloo) back-end: K = 4 processes on 127.0.0.1 must reproduce the
stacked simulation, and a failed or hung worker must end the run with a clear error."""

import time

import pytest
import torch

from relubook.core.data import digits_sphere
from relubook.topics import local_sgd as ls
from relubook.topics import local_sgd_dist as lsd

CFG = dict(width=32, H=4, rounds=3, seed=1, lr=20.0)
TOL = {"float32": 1e-4, "float64": 1e-9}


@pytest.fixture(scope="module")
def data():
    return digits_sphere(128, torch.float64)


def simulated(data, dtype, batch=None):
    X, Y = data[0].to(dtype), data[1].to(dtype)
    Xs, Ys = ls.shard(X, Y, 4, "iid", CFG["seed"])
    sizes = ls.layer_sizes(64, CFG["width"], 10)
    W = ls.init_groups(sizes, [CFG["seed"]], 4, dtype=dtype)
    ls.simulate(W, ls.scales(sizes), Xs[None], Ys[None], lr=CFG["lr"], H=CFG["H"],
                T=CFG["H"] * CFG["rounds"], batch=batch, seeds=[CFG["seed"]], track=False)
    return [w[0, 0] for w in W]


def check_equal(res, data, batch=None):
    assert res["world"] == 4
    for name, dtype in lsd.DTYPES.items():
        sim = simulated(data, dtype, batch)
        err = max(float((p - s).abs().max()) for p, s in zip(res["params"][name], sim))
        assert err < TOL[name], (name, err)
        assert len(res["round_s"][name]) == CFG["rounds"]


def test_forked_workers_equal_simulation_local_sgd(data):
    res = lsd.launch(4, method="fork", data=data, batch=8, timeout=60, **CFG)
    check_equal(res, data, batch=8)


def test_torchrun_workers_equal_simulation_local_gd(data):
    res = lsd.launch(4, method="torchrun", data=data, timeout=90, **CFG)
    check_equal(res, data)


@pytest.mark.parametrize("mode, match", [("raise", "injected failure on rank 2"),
                                         ("hang", "Timed out")])
def test_failed_worker_ends_run_with_clear_error(data, mode, match):
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=match):
        lsd.launch(3, method="fork", data=(data[0][:96], data[1][:96]), dtypes="float32",
                   fail_rank=2, fail_round=1, fail_mode=mode, collective_timeout=2, timeout=60, **CFG)
    assert time.perf_counter() - t0 < 60


def test_bad_arguments():
    with pytest.raises(ValueError, match="nproc"):
        lsd.launch(0)
    with pytest.raises(ValueError, match="method"):
        lsd.launch(2, method="mpi")
    with pytest.raises(ValueError, match="dtype"):
        lsd.launch(2, dtypes="float16")
    with pytest.raises(SystemExit, match="torchrun"):
        lsd.main(["--out", "x.pt"])


def test_out_path_is_checked_before_training(tmp_path, capsys):
    """--out under an existing file, or a folder, fails at once with one clear message."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        lsd.check_out_path(blocker / "sub" / "out.pt")
    with pytest.raises(ValueError, match="is a folder"):
        lsd.check_out_path(tmp_path)
    lsd.check_out_path(tmp_path / "new" / "out.pt")          # creatable: fine
    assert lsd.main(["--out", str(blocker / "out.pt"), "--rounds", "1"]) == 2
    assert capsys.readouterr().err.count("is a file") == 1


def test_fork_errors_skip_ranks_that_left_no_traceback(tmp_path):
    """A rank the launcher terminated leaves an empty error file: it is skipped, never read."""
    import pickle

    empty, done = tmp_path / "e0.pickle", tmp_path / "e1.pickle"
    empty.write_bytes(b"")
    done.write_bytes(pickle.dumps("Traceback ...\nRuntimeError: injected failure on rank 1\n"))
    assert lsd._fork_errors([str(empty), str(done)]) == (
        "[rank1]: RuntimeError: injected failure on rank 1")
    assert "no worker left a traceback" in lsd._fork_errors([str(empty)])

"""Unit tests of relubook.inr_experiments (settings, compare, equal-fit selection)."""

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


def test_equal_fit_and_selection():
    rs = [_r(1, [1, .9, .8], [10, 11, 30], [5, 6, 7]),      # misses target 0.5
          _r(2, [1, .4, .3], [10, 20, 21], [1, 2, 3]),      # reaches at t=1: psnr 20, pn 2
          _r(3, [1, .6, .5], [10, 15, 18], [1, 1.5, 1.8]),  # reaches at t=2: psnr 18, pn 1.8
          _r(5, [.5, .4, .3], [9, 9, 9], [4, 4, 4])]        # reaches at t=0: psnr 9, pn 4
    fits = ie.equal_fit(rs, 0.5)
    assert [f.reached for f in fits] == [False, True, True, True]
    assert [f.iteration for f in fits] == [2, 1, 2, 0]
    ok, c_pn, c_ps = ie.selection_check(fits)
    assert (ok, c_pn, c_ps) == (True, 3, 2)
    fits[2].pn = 10.0                       # now min PN at c=2 too
    assert ie.selection_check(fits)[0]
    fits[1].pn = 50.0                       # c=2 norm 50, c=3 10, c=5 4: argmin at c=5
    fits[3].pn = 4.0
    assert ie.selection_check(fits) == (False, 5, 2)
    assert ie.selection_check([fits[0]]) == (False, None, None)

"""Unit tests of relubook.core.norms: the l1 path norm and the layer-wise variation norm."""

import itertools
import math

import pytest
import torch

from relubook.core.norms import path_norm, variation_norm

D = torch.float64


def _layers(widths, batch=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*batch, o, i, generator=g, dtype=D) for i, o in zip(widths[:-1], widths[1:])]


def test_path_norm_one_hidden_layer_closed_form():
    W, V = _layers([3, 5, 1], seed=1)
    ref = sum(abs(float(V[0, k])) * float(W[k].abs().sum()) for k in range(5))
    assert float(path_norm([W, V])) == pytest.approx(ref, rel=1e-14)


def _brute_path_norm(ws):
    widths = [ws[0].shape[1]] + [w.shape[0] for w in ws]
    tot = 0.0
    for path in itertools.product(*(range(d) for d in widths)):
        tot += math.prod(abs(float(w[path[l + 1], path[l]])) for l, w in enumerate(ws))
    return tot


@pytest.mark.parametrize("widths", [[2, 3, 4, 2], [3, 2, 3, 2, 1], [4, 3]])
def test_path_norm_is_sum_over_paths(widths):
    ws = _layers(widths, seed=2)
    assert float(path_norm(ws)) == pytest.approx(_brute_path_norm(ws), rel=1e-13)


def test_path_norm_invariant_under_positive_rescaling():
    ws = _layers([3, 6, 4, 2], seed=3)
    a = torch.rand(6, generator=torch.Generator().manual_seed(4), dtype=D) * 5 + 0.1
    b = torch.rand(4, generator=torch.Generator().manual_seed(5), dtype=D) * 5 + 0.1
    r = [ws[0] * a[:, None], ws[1] / a[None, :] * b[:, None], ws[2] / b[None, :]]
    assert float(path_norm(r)) == pytest.approx(float(path_norm(ws)), rel=1e-13)
    # but not under an unbalanced change that is not a rescaling
    s = [ws[0] * 2, ws[1], ws[2]]
    assert float(path_norm(s)) == pytest.approx(2 * float(path_norm(ws)), rel=1e-13)


def test_variation_norm_one_hidden_layer_closed_form():
    W, V = _layers([3, 5, 1], seed=6)
    ref = sum(abs(float(V[0, k])) * float(W[k].norm()) for k in range(5))
    assert float(variation_norm([W, V])) == pytest.approx(ref, rel=1e-14)


def test_variation_norm_two_hidden_layers_closed_form():
    W1, W2, W3 = _layers([3, 4, 5, 2], seed=7)
    ref = sum(float(W1[k].norm() * W2[:, k].norm()) for k in range(4))
    ref += sum(float(W2[k].norm() * W3[:, k].norm()) for k in range(5))
    assert float(variation_norm([W1, W2, W3])) == pytest.approx(ref, rel=1e-14)


def test_variation_norm_one_hidden_layer_rescaling_and_balance():
    """One hidden layer: sum_k |v_k| ||w_k|| is invariant under (w_k, v_k) -> (a w_k, v_k / a);
    the weight-decay cost (||W||^2 + ||v||^2)/2 is not, is smallest at balance, and equals the
    variation norm there (AM-GM)."""
    W, V = _layers([3, 5, 1], seed=8)
    # balanced: ||w_k||_2 = |v_k|; there sum_k (||w_k||^2 + v_k^2)/2 equals the variation norm
    alpha = (V[0].abs() / W.norm(dim=1)).sqrt()
    Wb, Vb = W * alpha[:, None], V / alpha[None, :]
    assert torch.allclose(Wb.norm(dim=1), Vb[0].abs(), atol=1e-14)
    vb = float(variation_norm([Wb, Vb]))
    assert vb == pytest.approx(float(variation_norm([W, V])), rel=1e-13)   # invariant for 1 layer
    assert vb == pytest.approx(0.5 * float((Wb**2).sum() + (Vb**2).sum()), rel=1e-13)
    for seed in range(5):
        g = torch.Generator().manual_seed(100 + seed)
        a = torch.exp(torch.randn(5, generator=g, dtype=D))
        Wr, Vr = Wb * a[:, None], Vb / a[None, :]
        assert float(variation_norm([Wr, Vr])) == pytest.approx(vb, rel=1e-13)
        assert 0.5 * float((Wr**2).sum() + (Vr**2).sum()) > vb
    # in a deep net the variation norm itself changes under a hidden rescaling
    ws = _layers([3, 4, 4, 1], seed=9)
    a = torch.full((4,), 3.0, dtype=D)
    r = [ws[0] * a[:, None], ws[1] / a[None, :], ws[2]]
    assert float(variation_norm(r)) != pytest.approx(float(variation_norm(ws)), rel=1e-6)


def test_batch_axes():
    ws = _layers([3, 4, 2], batch=(2, 3), seed=11)
    pn, vn = path_norm(ws), variation_norm(ws)
    assert pn.shape == (2, 3) and vn.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        one = [w[i, j] for w in ws]
        assert float(pn[i, j]) == pytest.approx(_brute_path_norm(one), rel=1e-13)
        assert float(vn[i, j]) == pytest.approx(float(variation_norm(one)), rel=1e-13)
    assert not torch.allclose(pn[0, 0], pn[1, 2])


def test_complex_weights_use_moduli():
    ws = _layers([3, 4, 2], seed=12)
    ph = torch.exp(1j * torch.rand(4, 3, generator=torch.Generator().manual_seed(13), dtype=D))
    wc = [ws[0] * ph, ws[1].to(torch.complex128)]
    assert float(variation_norm(wc)) == pytest.approx(float(variation_norm(ws)), rel=1e-13)
    assert float(path_norm(wc).real) == pytest.approx(float(path_norm(ws)), rel=1e-13)


def test_too_few_layers_raise():
    W = torch.ones(3, 2, dtype=D)
    with pytest.raises(ValueError):
        variation_norm([W])
    with pytest.raises(ValueError):
        variation_norm([])
    with pytest.raises(ValueError):
        path_norm([])
    assert float(path_norm([W])) == 6.0       # one layer is fine for the path norm

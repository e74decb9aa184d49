"""Unit tests of relubook.core.mlp's options: NTK multipliers, no biases, shared inputs, loss
heads, several batch axes, SGD with weight decay, complex weights, other activations, select."""

import math

import numpy as np
import pytest
import torch

from relubook.core import mlp as bm

D = torch.float64
WIDTHS = [4, 6, 5, 3]


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _net(batch=(3,), widths=WIDTHS, biases=True, scales=(), seed=0, dtype=D):
    g = _g(seed)
    ws = [torch.randn(*batch, o, i, generator=g, dtype=dtype) for i, o in zip(widths[:-1], widths[1:])]
    bs = [torch.randn(*batch, o, generator=g, dtype=dtype) for o in widths[1:]] if biases else []
    return bm.StackedMLP(ws, bs, tuple(scales))


def _ntk_scales(widths=WIDTHS):
    return tuple([math.sqrt(2 / widths[0])] + [1 / math.sqrt(m) for m in widths[1:-1]])


def _autograd(net, x, loss_fn):
    ps = [p.clone().requires_grad_() for p in net.params()]
    L = len(net.weights)
    ref = bm.StackedMLP(ps[:L], ps[L:], net.scales)
    per = loss_fn(bm.forward(ref, x))
    per.sum().backward()
    return per.detach(), [p.grad for p in ps[:L]], [p.grad for p in ps[L:]]


def _manual_forward(net, x, act=torch.relu):
    """Independent forward: one network at a time, plain loops over layers."""
    outs = []
    for c in range(net.weights[0].shape[0]):
        h = x if x.ndim == 2 else x[c]
        for l, w in enumerate(net.weights):
            z = net.scale(l) * (h.to(w.dtype) @ w[c].T)
            if net.biases:
                z = z + net.biases[l][c]
            h = act(z) if l < len(net.weights) - 1 else z
        outs.append(h)
    return torch.stack(outs)


def test_forward_with_scales_equals_manual_forward():
    sc = _ntk_scales()
    for biases in (True, False):
        net = _net(biases=biases, scales=sc, seed=1)
        x = torch.randn(3, 7, 4, generator=_g(2), dtype=D)
        out = bm.forward(net, x)
        assert out.shape == (3, 7, 3)
        assert torch.allclose(out, _manual_forward(net, x), atol=1e-13, rtol=0)
        # the multipliers matter
        assert not torch.allclose(out, bm.forward(bm.StackedMLP(net.weights, net.biases), x))


def test_ntk_scales_no_biases_squared_error_backward_equals_autograd():
    net = _net(biases=False, scales=_ntk_scales(), seed=3)
    x = torch.randn(3, 9, 4, generator=_g(4), dtype=D)
    y = torch.randn(3, 9, 3, generator=_g(5), dtype=D)
    loss, gws, gbs = bm.loss_and_grads(net, x, y, head=bm.squared_error)
    assert gbs == []
    ref_loss, rw, _ = _autograd(net, x, lambda out: 0.5 * ((out - y) ** 2).sum((-1, -2)) / 9)
    assert torch.allclose(loss, ref_loss, atol=1e-14, rtol=0)
    for g, r in zip(gws, rw):
        assert g.shape == r.shape and torch.allclose(g, r, atol=1e-13, rtol=0)


@pytest.mark.parametrize("scales", [(), (0.7, 1.0, 1.3)])
def test_biases_cross_entropy_backward_equals_autograd(scales):
    net = _net(biases=True, scales=scales, seed=6)
    x = torch.randn(3, 10, 4, generator=_g(7), dtype=D)
    y = torch.randint(0, 3, (3, 10), generator=_g(8))

    def ce(out):
        return torch.nn.functional.cross_entropy(out.reshape(-1, 3), y.reshape(-1),
                                                 reduction="none").reshape(3, 10).mean(-1)

    loss, gws, gbs = bm.loss_and_grads(net, x, y, head=bm.cross_entropy)
    ref_loss, rw, rb = _autograd(net, x, ce)
    assert torch.allclose(loss, ref_loss, atol=1e-14, rtol=0)
    for g, r in zip(gws + gbs, rw + rb):
        assert g.shape == r.shape and torch.allclose(g, r, atol=1e-13, rtol=0)


def test_shared_input_equals_input_expanded_per_network():
    net = _net(batch=(3,), scales=_ntk_scales(), seed=9)
    x = torch.randn(8, 4, generator=_g(10), dtype=D)
    y = torch.randint(0, 3, (8,), generator=_g(11))
    xe = x.expand(3, 8, 4)
    assert torch.allclose(bm.forward(net, x), bm.forward(net, xe), atol=1e-14, rtol=0)
    l1, w1, b1 = bm.loss_and_grads(net, x, y)                 # (N,) labels shared too
    l2, w2, b2 = bm.loss_and_grads(net, xe, y.expand(3, 8))
    assert torch.allclose(l1, l2, atol=1e-14, rtol=0)
    for a, b in zip(w1 + b1, w2 + b2):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-13, rtol=0)


def test_two_batch_axes_with_shared_input_equal_autograd():
    net = _net(batch=(2, 3), biases=True, seed=12)
    assert net.batch_shape == (2, 3) and net.n_nets == 6 and net.depth == 3
    x = torch.randn(5, 4, generator=_g(13), dtype=D)
    y = torch.randn(2, 3, 5, 3, generator=_g(14), dtype=D)
    loss, gws, gbs = bm.loss_and_grads(net, x, y, head=bm.squared_error)
    assert loss.shape == (2, 3)
    ref_loss, rw, rb = _autograd(net, x, lambda out: 0.5 * ((out - y) ** 2).sum((-1, -2)) / 5)
    assert torch.allclose(loss, ref_loss, atol=1e-14, rtol=0)
    for g, r in zip(gws + gbs, rw + rb):
        assert g.shape == r.shape and torch.allclose(g, r, atol=1e-13, rtol=0)


def test_loss_heads_closed_forms():
    out = torch.randn(2, 4, 3, generator=_g(15), dtype=D)
    y = torch.randint(0, 3, (4,), generator=_g(16))
    loss, delta = bm.cross_entropy(out, y)
    p = torch.softmax(out, -1)
    onehot = torch.nn.functional.one_hot(y, 3).to(D)
    assert torch.allclose(loss, -(torch.log(p) * onehot).sum(-1).mean(-1), atol=1e-14)
    assert torch.allclose(delta, (p - onehot) / 4, atol=1e-15)
    t = torch.randn(2, 4, 3, generator=_g(17), dtype=D)
    sl, sd = bm.squared_error(out, t)
    assert torch.allclose(sl, torch.tensor([0.5 * float(((out[i] - t[i]) ** 2).sum()) / 4
                                            for i in range(2)], dtype=D), atol=1e-14)
    assert torch.allclose(sd, (out - t) / 4, atol=1e-15)
    with pytest.raises(ValueError):
        bm.cross_entropy(out, torch.zeros(5, dtype=torch.long))


def _copy_to_torch(net, c=0):
    widths = [net.weights[0].shape[-1]] + [w.shape[-2] for w in net.weights]
    layers = []
    for i, o in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(i, o).double(), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for m, w, b in zip(lins, net.weights, net.biases):
            m.weight.copy_(w[c])
            m.bias.copy_(b[c])
    return model, lins


def test_sgd_step_float_wd_equals_torch_sgd_over_several_steps():
    net = _net(batch=(1,), seed=18)
    model, lins = _copy_to_torch(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.03, momentum=0)
    g = _g(19)
    for _ in range(6):
        x = torch.randn(12, 4, generator=g, dtype=D)
        y = torch.randint(0, 3, (12,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        _, gws, gbs = bm.loss_and_grads(net, x, y)
        bm.sgd_step(net.params(), gws + gbs, 0.1, 0.03)
    for m, w, b in zip(lins, net.weights, net.biases):
        assert torch.allclose(m.weight, w[0], atol=1e-13, rtol=0)
        assert torch.allclose(m.bias, b[0], atol=1e-13, rtol=0)
    # weight decay changed the result (the same steps without it end elsewhere)
    assert not torch.allclose(net.weights[0], _net(batch=(1,), seed=18).weights[0], atol=1e-3)


def test_sgd_step_float_closed_form():
    p = [torch.tensor([[1.0, -2.0]], dtype=D)]
    bm.sgd_step(p, [torch.tensor([[0.5, 0.5]], dtype=D)], 0.2, 0.1)
    assert torch.allclose(p[0], torch.tensor([[0.98 * 1.0 - 0.1, 0.98 * -2.0 - 0.1]], dtype=D),
                          atol=1e-15)
    bm.sgd_step(p, [torch.ones(1, 2, dtype=D)], 0.5)            # wd = 0: plain SGD
    assert torch.allclose(p[0], torch.tensor([[0.38, -2.56]], dtype=D), atol=1e-15)


@pytest.mark.parametrize("kind", ["both", "lr", "wd"])
def test_sgd_step_per_network_tensors_equal_separate_runs(kind):
    # the float that goes with a tensor is dyadic (exact in float32): see the xfail below
    lr = torch.tensor([0.05, 0.2, 0.1], dtype=D)
    wd = torch.tensor([0.0, 0.1, 0.02], dtype=D)
    lr_arg = lr if kind in ("both", "lr") else 0.125
    wd_arg = wd if kind in ("both", "wd") else 0.0625
    net = _net(batch=(3,), scales=(1.0, 0.5, 1.0), seed=20)
    alone = [net.select(slice(c, c + 1)).clone() for c in range(3)]
    g = _g(21)
    for _ in range(4):
        x = torch.randn(3, 6, 4, generator=g, dtype=D)
        y = torch.randint(0, 3, (3, 6), generator=g)
        _, gws, gbs = bm.loss_and_grads(net, x, y)
        bm.sgd_step(net.params(), gws + gbs, lr_arg, wd_arg)
        for c in range(3):
            _, aw, ab = bm.loss_and_grads(alone[c], x[c:c + 1], y[c:c + 1])
            lc = float(lr[c]) if kind in ("both", "lr") else 0.125
            wc = float(wd[c]) if kind in ("both", "wd") else 0.0625
            bm.sgd_step(alone[c].params(), aw + ab, lc, wc)
    for c in range(3):
        for a, b in zip(alone[c].params(), net.select(slice(c, c + 1)).params()):
            assert torch.allclose(a, b, atol=1e-13, rtol=0)
    assert not torch.allclose(alone[0].weights[0][0], alone[1].weights[0][0], atol=1e-3)


@pytest.mark.parametrize("lr, wd, p0, g0, expected", [
    (torch.tensor([1.0], dtype=D), 0.1, 1.0, 0.0, 0.9),
    (0.1, torch.tensor([0.0], dtype=D), 0.0, 1.0, -0.1),
])
def test_sgd_step_mixed_float_and_tensor_keep_float64(lr, wd, p0, g0, expected):
    p = torch.full((1, 1), p0, dtype=D)
    bm.sgd_step([p], [torch.full((1, 1), g0, dtype=D)], lr, wd)
    assert abs(p.item() - expected) < 1e-15


def test_per_network():
    like = torch.zeros(1, dtype=D)
    assert torch.equal(bm.per_network(0.5, 3, like), torch.full((3,), 0.5, dtype=D))
    assert torch.equal(bm.per_network([1, 2, 3], 3, like), torch.tensor([1.0, 2.0, 3.0], dtype=D))
    assert bm.per_network(torch.tensor([2.0]), 4, like).shape == (4,)
    with pytest.raises(ValueError):
        bm.per_network([1.0, 2.0], 3, like)


def test_complex_weights_take_a_real_input():
    g = _g(22)
    w0 = torch.randn(2, 5, 3, generator=g, dtype=D)
    w1 = torch.complex(torch.randn(2, 2, 5, generator=g, dtype=D), torch.randn(2, 2, 5, generator=g, dtype=D))
    b0 = torch.randn(2, 5, generator=g, dtype=D)
    b1 = torch.complex(torch.randn(2, 2, generator=g, dtype=D), torch.randn(2, 2, generator=g, dtype=D))
    x = torch.randn(7, 3, generator=g, dtype=D)
    # a real first layer, a complex activation, then complex weights (WIRE's layout)
    def act(z):
        return torch.exp(1j * z) * torch.exp(-z.abs() ** 2)

    out = bm.forward(bm.StackedMLP([w0, w1], [b0, b1]), x, act=act)
    assert out.dtype == torch.complex128 and out.shape == (2, 7, 2)
    h = act(x @ w0.transpose(1, 2) + b0[:, None])
    assert torch.allclose(out, h @ w1.transpose(1, 2) + b1[:, None], atol=1e-13)
    # complex weights from the first layer: the real input is cast
    wc = torch.complex(w0, w0.flip(-1))
    out1 = bm.forward(bm.StackedMLP([wc]), x)
    assert out1.dtype == torch.complex128
    assert torch.allclose(out1, x.to(torch.complex128) @ wc.transpose(1, 2), atol=1e-13)
    assert out1.imag.abs().max() > 0.1


def test_other_activation_differs_from_relu_and_is_used():
    net = _net(batch=(2,), seed=23)
    x = torch.randn(6, 4, generator=_g(24), dtype=D)
    th = bm.forward(net, x, act=torch.tanh)
    assert torch.allclose(th, _manual_forward(net, x, torch.tanh), atol=1e-13, rtol=0)
    assert not torch.allclose(th, bm.forward(net, x), atol=1e-3)
    assert torch.allclose(bm.forward(net, x), _manual_forward(net, x), atol=1e-13, rtol=0)


def test_keep_cache_holds_layer_inputs_and_pre_activations():
    net = _net(batch=(2,), scales=(0.5, 2.0, 1.0), seed=25)
    x = torch.randn(2, 6, 4, generator=_g(26), dtype=D)
    out, cache = bm.forward(net, x, keep=True)
    assert torch.equal(out, bm.forward(net, x))
    assert len(cache.inputs) == 3 and len(cache.pre) == 2
    assert torch.equal(cache.inputs[0], x)
    z1 = 0.5 * x @ net.weights[0].transpose(1, 2) + net.biases[0][:, None]
    assert torch.allclose(cache.pre[0], z1, atol=1e-14)
    assert torch.allclose(cache.inputs[1], torch.relu(z1), atol=1e-14)


def test_select_returns_the_chosen_networks():
    net = _net(batch=(5,), scales=(1.0, 0.5, 2.0), seed=27)
    x = torch.randn(4, 4, generator=_g(28), dtype=D)
    full = bm.forward(net, x)
    s = net.select(slice(1, 4))
    assert s.scales == net.scales and s.n_nets == 3
    assert torch.equal(bm.forward(s, x), full[1:4])
    assert s.weights[0].data_ptr() == net.weights[0][1].data_ptr()       # a view
    idx = torch.tensor([4, 0, 4])
    t = net.select(idx)
    assert torch.equal(bm.forward(t, x), full[idx])
    assert torch.equal(t.biases[2], net.biases[2][idx])
    c = net.clone()
    c.weights[0].zero_()
    assert net.weights[0].abs().max() > 0                               # clone copies


def test_accuracy_in_chunks_equals_direct():
    net = _net(batch=(5,), seed=29)
    x = torch.randn(20, 4, generator=_g(30), dtype=D)
    y = torch.randint(0, 3, (20,), generator=_g(31))
    ref = (bm.forward(net, x).argmax(-1) == y).to(D).mean(-1).numpy()
    for chunk in (1, 2, 64):
        assert np.allclose(bm.accuracy(net, x, y, chunk=chunk), ref, atol=1e-7)
    assert len(set(ref.tolist())) > 1


def test_init_is_one_fan_in_draw_with_bias_last():
    g = _g(32)
    net = bm.init_stacked_mlp(2, [3, 4, 2], g, dtype=D)
    g2 = _g(32)
    u0 = (2 * torch.rand((2, 4, 4), generator=g2, dtype=D) - 1) * (1 / math.sqrt(3))
    u1 = (2 * torch.rand((2, 2, 5), generator=g2, dtype=D) - 1) * (1 / math.sqrt(4))
    assert torch.equal(net.weights[0], u0[..., :3]) and torch.equal(net.biases[0], u0[..., 3])
    assert torch.equal(net.weights[1], u1[..., :4]) and torch.equal(net.biases[1], u1[..., 4])


@pytest.mark.parametrize("call", [
    lambda: bm.StackedMLP([]),
    lambda: bm.StackedMLP([torch.zeros(1, 2, 3)], [], (1.0, 2.0)),
    lambda: bm.init_stacked_mlp(1, [3, 0, 2], _g(0)),
])
def test_bad_structures_raise(call):
    with pytest.raises(ValueError):
        call()

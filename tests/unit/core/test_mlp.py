"""Unit tests of relubook.core.mlp: stacked MLPs, the explicit backward pass, SGD steps, training."""

import numpy as np
import pytest
import torch

import samples
from relubook.core import data
from relubook.core import mlp as bm
from relubook.core.random import torch_generator

WIDTHS = [6, 5, 5, 3]


def _data(n=40, seed=0, dtype=torch.float64):
    return samples.classification(n, WIDTHS[0], WIDTHS[-1], seed, dtype)


def _single(net, c):
    return bm.StackedMLP([w[c:c + 1].clone() for w in net.weights], [b[c:c + 1].clone() for b in net.biases])


def test_init_shapes_and_bounds():
    net = bm.init_stacked_mlp(4, WIDTHS, torch.Generator().manual_seed(0))
    assert [tuple(w.shape) for w in net.weights] == [(4, 5, 6), (4, 5, 5), (4, 3, 5)]
    assert [tuple(b.shape) for b in net.biases] == [(4, 5), (4, 5), (4, 3)]
    assert float(net.weights[0].abs().max()) <= 1 / np.sqrt(6)
    assert not torch.equal(net.weights[0][0], net.weights[0][1])


def test_manual_gradients_match_autograd():
    x, y = _data(24)
    net = bm.init_stacked_mlp(3, WIDTHS, torch.Generator().manual_seed(1), dtype=torch.float64)
    xb, yb = x.reshape(3, 8, -1), y.reshape(3, 8)
    loss, gws, gbs = bm.loss_and_grads(net, xb, yb)
    ps = [p.clone().requires_grad_() for p in net.weights + net.biases]
    ref = bm.StackedMLP(ps[:3], ps[3:])
    logits = bm.forward(ref, xb)
    per = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), yb.reshape(-1), reduction="none")
    per.reshape(3, 8).mean(1).sum().backward()
    for p, g in zip(ps, gws + gbs):
        assert torch.allclose(p.grad, g, atol=1e-13)
    assert torch.allclose(loss, per.reshape(3, 8).mean(1).detach())


def test_sgd_step_is_torch_sgd_with_coupled_weight_decay():
    x, y = _data(8)
    net = bm.init_stacked_mlp(1, WIDTHS, torch.Generator().manual_seed(2), dtype=torch.float64)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 5),
                                torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for m, w, b in zip(lins, net.weights, net.biases):
            m.weight.copy_(w[0])
            m.bias.copy_(b[0])
    opt = torch.optim.SGD(model.parameters(), lr=0.3, weight_decay=0.05, momentum=0)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    _, gws, gbs = bm.loss_and_grads(net, x.unsqueeze(0), y.unsqueeze(0))
    bm.sgd_step(net.params(), gws + gbs, torch.tensor([0.3], dtype=torch.float64), torch.tensor([0.05], dtype=torch.float64))
    for m, w, b in zip(lins, net.weights, net.biases):
        assert torch.allclose(m.weight, w[0], atol=1e-14) and torch.allclose(m.bias, b[0], atol=1e-14)


def test_stacked_training_equals_separate_training():
    """Batching is exact: each network of a stack trains as if alone (own lr, wd, batches)."""
    x, y = _data(40)
    gens = [torch.Generator().manual_seed(s) for s in (5, 6)]
    nets = [bm.init_stacked_mlp(2, WIDTHS, g, dtype=torch.float64) for g in gens]
    stack = bm.StackedMLP([torch.cat(ws) for ws in zip(*(n.weights for n in nets))],
                          [torch.cat(bs) for bs in zip(*(n.biases for n in nets))])
    lr, wd = [0.1, 0.2, 0.3, 0.05], [0.0, 0.01, 0.1, 0.02]
    g_state = [g.get_state() for g in gens]
    bm.train(stack, x, y, lr=lr, wd=wd, batch_size=4, steps=25, generator=gens)
    for blk in range(2):
        g = torch.Generator()
        g.set_state(g_state[blk])
        alone = nets[blk].clone()
        bm.train(alone, x, y, lr=lr[2 * blk:2 * blk + 2], wd=wd[2 * blk:2 * blk + 2], batch_size=4,
                 steps=25, generator=g)
        for a, b in zip(alone.weights, stack.weights):
            assert torch.allclose(a, b[2 * blk:2 * blk + 2], atol=1e-12)


def test_train_monitor_and_learning():
    x, y = _data(40, dtype=torch.float32)
    net = bm.init_stacked_mlp(2, WIDTHS, torch.Generator().manual_seed(3))
    before = bm.accuracy(net, x, y)
    hist = bm.train(net, x, y, lr=0.2, wd=0.0, batch_size=8, steps=300,
                    generator=torch.Generator().manual_seed(0), log_every=100,
                    monitor=lambda t, n: {"w": n.weights[0].norm(dim=(1, 2)).numpy()})
    assert hist["step"].tolist() == [0, 100, 200, 300]
    assert hist["w"].shape == (2, 4)
    assert np.all(bm.accuracy(net, x, y) > before)


def test_weight_decay_alone_shrinks_geometrically():
    x, y = _data(8)
    net = bm.init_stacked_mlp(1, WIDTHS, torch.Generator().manual_seed(4), dtype=torch.float64)
    w0 = net.weights[1].clone()
    zero = [torch.zeros_like(w) for w in net.weights], [torch.zeros_like(b) for b in net.biases]
    for _ in range(10):
        bm.sgd_step(net.params(), zero[0] + zero[1], torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64))
    assert torch.allclose(net.weights[1], 0.95**10 * w0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: bm.init_stacked_mlp(0, WIDTHS, torch.Generator()),
        lambda: bm.init_stacked_mlp(1, [3], torch.Generator()),
        lambda: data.digits_split(n_test=0),
        lambda: bm.train(bm.init_stacked_mlp(2, WIDTHS, torch.Generator()), *_data(8, dtype=torch.float32),
                         lr=0.1, wd=0.0, batch_size=9, steps=1, generator=torch.Generator()),
        lambda: bm.train(bm.init_stacked_mlp(2, WIDTHS, torch.Generator()), *_data(8, dtype=torch.float32),
                         lr=[0.1, 0.1, 0.1], wd=0.0, batch_size=2, steps=1, generator=torch.Generator()),
        lambda: bm.train(bm.init_stacked_mlp(3, WIDTHS, torch.Generator()), *_data(8, dtype=torch.float32),
                         lr=0.1, wd=0.0, batch_size=2, steps=1,
                         generator=[torch.Generator(), torch.Generator()]),
        lambda: bm.loss_and_grads(bm.init_stacked_mlp(1, WIDTHS, torch.Generator()),
                                  torch.zeros(1, 4, 6), torch.zeros(1, 5, dtype=torch.long)),
        lambda: bm.squared_error(torch.zeros(2, 4, 3), torch.zeros(2, 4, 2)),
        lambda: bm.StackedMLP([torch.zeros(2, 3, 4)], [torch.zeros(2, 3)] * 2),
    ],
)
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


# ---- leaky ReLU (one negative slope per network) ----

def test_leaky_relu_closed_forms_with_one_alpha_per_network():
    z = torch.linspace(-2, 2, 9).expand(2, 3, 1, 9)          # (S, C, N, d)
    alpha = torch.tensor([[0.0, 0.25, 1.0]]).expand(2, 3)
    out = bm.leaky_relu(z, alpha)
    assert torch.equal(out[:, 0], torch.relu(z[:, 0]))
    assert torch.equal(out[:, 2], z[:, 2])
    assert torch.allclose(out[:, 1], torch.where(z[:, 1] > 0, z[:, 1], 0.25 * z[:, 1]))


def test_leaky_backward_is_relu_backward_at_alpha_zero_and_autograd_otherwise():
    net = bm.init_stacked_mlp(4, [5, 7, 6, 3], torch_generator(0), dtype=torch.float64)
    x = torch.randn(11, 5, generator=torch_generator(1), dtype=torch.float64)
    y = torch.randint(0, 3, (11,), generator=torch_generator(2))
    zero = torch.zeros(4, dtype=torch.float64)
    out, cache = bm.forward(net, x, keep=True)
    _, delta = bm.cross_entropy(out, y)
    gw0, gb0 = bm.backward(net, cache, delta)
    gw1, gb1 = bm.backward(net, cache, delta, negative_slope=zero)
    assert all(torch.equal(a, b) for a, b in zip(gw0 + gb0, gw1 + gb1))

    alpha = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    params = [p.clone().requires_grad_(True) for p in net.params()]
    auto_net = bm.StackedMLP(params[:3], params[3:])
    logits = bm.forward(auto_net, x, act=lambda z: bm.leaky_relu(z, alpha))
    loss, _ = bm.cross_entropy(logits, y)
    grads = torch.autograd.grad(loss.sum(), params)
    out, cache = bm.forward(net, x, act=lambda z: bm.leaky_relu(z, alpha), keep=True)
    _, delta = bm.cross_entropy(out, y)
    gw, gb = bm.backward(net, cache, delta, negative_slope=alpha)
    for a, b in zip(grads, gw + gb):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10)

"""Unit tests of relubook.batched_mlp (stacked MLPs, plain SGD, the unrolling identity)."""

import numpy as np
import pytest
import torch

from relubook import batched_mlp as bm

WIDTHS = [6, 5, 5, 3]


def _data(n=40, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, WIDTHS[0], generator=g, dtype=dtype)
    y = torch.randint(0, WIDTHS[-1], (n,), generator=g)
    return x, y


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
    logits, _ = bm.forward(ref, xb)
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
    bm.sgd_step(net, gws, gbs, torch.tensor([0.3], dtype=torch.float64), torch.tensor([0.05], dtype=torch.float64))
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
        bm.sgd_step(net, *zero, torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64))
    assert torch.allclose(net.weights[1], 0.95**10 * w0)


def test_unroll_identity_exact_in_float64():
    x, y = _data(60)
    net = bm.init_stacked_mlp(1, [6, 20, 20, 3], torch.Generator().manual_seed(7), dtype=torch.float64)
    out = bm.unroll_identity(net, x, y, layer=1, lr=0.1, wd=0.05, batch_size=2, steps=4,
                             generator=torch.Generator().manual_seed(0))
    assert out["residual"] < 1e-12
    assert out["sum_rank"] <= out["n_times_b"] == 8
    assert 0 < out["old_memory"] < 2


def test_linear_gradient_ranks_at_most_batch_size():
    torch.manual_seed(0)
    x = torch.randn(3, 10, dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    for bn in (False, True):
        model = bm.make_torch_mlp([10, 12, 12, 4], batch_norm=bn)
        r = bm.linear_gradient_ranks(model, x, y)
        assert len(r) == 3 and all(v <= 3 for v in r) and max(r) == 3


def test_train_grid_layout():
    from sklearn.datasets import load_digits  # noqa: F401  (data ships with scikit-learn)

    data = bm.load_digits_split()
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    out = bm.train_grid(data, [64, 8, 8, 10], [(0.1, 0.0), (0.1, 0.01)], seeds=[0, 1],
                        batch_size=64, steps=6, log_every=3, hidden=(1,))
    assert out["lr"].tolist() == [0.1] * 4 and out["wd"].tolist() == [0.0, 0.01] * 2
    assert out["seed"].tolist() == [0, 0, 1, 1]
    assert out["spectrum"].shape == (4, 1, 8, 3) and out["fro"].shape == (4, 1, 3)
    one = bm.train_grid(data, [64, 8, 8, 10], [(0.1, 0.0), (0.1, 0.01)], seeds=[1],
                        batch_size=64, steps=6, log_every=3, hidden=(1,))
    assert np.allclose(one["spectrum"], out["spectrum"][2:])  # a seed's runs do not depend on other seeds


@pytest.mark.parametrize(
    "call",
    [
        lambda: bm.init_stacked_mlp(0, WIDTHS, torch.Generator()),
        lambda: bm.init_stacked_mlp(1, [3], torch.Generator()),
        lambda: bm.load_digits_split(n_test=0),
        lambda: bm.train(bm.init_stacked_mlp(2, WIDTHS, torch.Generator()), *_data(8, dtype=torch.float32),
                         lr=0.1, wd=0.0, batch_size=9, steps=1, generator=torch.Generator()),
        lambda: bm.train(bm.init_stacked_mlp(2, WIDTHS, torch.Generator()), *_data(8, dtype=torch.float32),
                         lr=[0.1, 0.1, 0.1], wd=0.0, batch_size=2, steps=1, generator=torch.Generator()),
        lambda: bm.train(bm.init_stacked_mlp(3, WIDTHS, torch.Generator()), *_data(8, dtype=torch.float32),
                         lr=0.1, wd=0.0, batch_size=2, steps=1,
                         generator=[torch.Generator(), torch.Generator()]),
        lambda: bm.loss_and_grads(bm.init_stacked_mlp(1, WIDTHS, torch.Generator()),
                                  torch.zeros(4, 6), torch.zeros(4, dtype=torch.long)),
    ],
)
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()

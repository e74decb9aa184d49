"""Unit tests of relubook.topics.nonlinearity: leaky-ReLU nets, padding, entropy estimators."""

import math
import random

import numpy as np
import pytest
import torch
from relubook.core import mlp
from relubook.core.random import numpy_rng, torch_generator
from relubook.topics import nonlinearity as nl


def test_hidden_widths_of_the_five_shapes():
    assert nl.hidden_widths("rectangle", 8) == (8, 8, 8)
    assert nl.hidden_widths("expanding", 8) == (4, 8, 16)
    assert nl.hidden_widths("contracting", 8) == (16, 8, 4)
    assert nl.hidden_widths("diamond", 8) == (4, 16, 4)
    assert nl.hidden_widths("hourglass", 8) == (16, 4, 16)
    with pytest.raises(ValueError, match="unknown shape"):
        nl.hidden_widths("pyramid", 8)
    for bad in (3, 0, 2.5, True):
        with pytest.raises(ValueError, match="even integer"):
            nl.hidden_widths("rectangle", bad)


def _net(rng_seed, widths, n_nets, dtype=torch.float64):
    return mlp.init_stacked_mlp(n_nets, widths, torch_generator(rng_seed), dtype=dtype)


def _rngs(archs, n_seeds):
    return [[numpy_rng(7, i, s) for i in range(len(archs))] for s in range(n_seeds)]


def test_padded_group_layout_pairing_and_real_weights():
    archs = [("rectangle", 4), ("diamond", 4), ("hourglass", 8)]
    alphas = [0.0, 0.3, 1.0]
    g = nl.padded_group(archs, alphas, 6, 3, _rngs(archs, 2), dtype=torch.float64)
    assert g.net.batch_shape == (2, 9)
    assert [w.shape[-2:] for w in g.net.weights] == [(16, 6), (8, 16), (16, 8), (3, 16)]
    assert g.configs[3] == ("diamond", 4, 0.0) and g.alpha[1, 4].item() == 0.3
    # every alpha of an architecture starts from the same weights (paired comparison)
    for w in g.net.weights:
        assert torch.equal(w[:, 3], w[:, 4]) and torch.equal(w[:, 3], w[:, 5])
    # the real block of diamond w=4 (2, 8, 2) is the nn.Linear law's draw, the rest is zero
    assert g.masks[1][3].sum().item() == 8 and g.masks[0][3].sum().item() == 2
    w1 = g.net.weights[1][0, 3]
    assert torch.all(w1[:, 2:] == 0) and torch.all(w1[8:] == 0)
    assert w1[:8, :2].abs().max() <= 1 / math.sqrt(2) and w1[:8, :2].abs().min() > 0
    with pytest.raises(ValueError, match="alphas"):
        nl.padded_group(archs, [1.5], 6, 3, _rngs(archs, 1))
    with pytest.raises(ValueError, match="one generator per architecture"):
        nl.padded_group(archs, alphas, 6, 3, [[numpy_rng(0)]])


def _unpadded(g, s, c, arch):
    """The real weights of configuration c of seed s, as an unpadded StackedMLP."""
    real = [g.net.weights[0].shape[-1], *nl.hidden_widths(*arch), g.net.weights[-1].shape[-2]]
    ws = [g.net.weights[l][s, c, :real[l + 1], :real[l]].clone() for l in range(4)]
    bs = [g.net.biases[l][s, c, :real[l + 1]].clone() for l in range(4)]
    return mlp.StackedMLP(ws, bs)


def test_padded_training_equals_training_each_network_alone_with_autograd():
    archs = [("expanding", 4), ("contracting", 4)]
    alphas = [0.0, 0.2, 1.0]
    g = nl.padded_group(archs, alphas, 5, 3, _rngs(archs, 2), dtype=torch.float64)
    alone = {(s, c): _unpadded(g, s, c, archs[c // 3]) for s in range(2) for c in range(6)}
    gen = torch_generator(3)
    x = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=gen)
    lr = 0.1
    for step in range(5):
        idx = torch.stack([torch.arange(8) + 8 * step, torch.arange(8) + 8 * ((step + 2) % 5)])
        nl.train_step(g, x[idx], y[idx], lr)
        for (s, c), net in alone.items():        # independent path: autograd, one network
            ps = [p.requires_grad_(True) for p in net.params()]
            a = alphas[c % 3]
            z = x[idx[s]]
            for l in range(3):
                z = torch.nn.functional.leaky_relu(z @ ps[l].T + ps[4 + l], a) if a < 1 \
                    else z @ ps[l].T + ps[4 + l]
            loss = torch.nn.functional.cross_entropy(z @ ps[3].T + ps[7], y[idx[s]])
            grads = torch.autograd.grad(loss, ps)
            with torch.no_grad():
                alone[(s, c)] = mlp.StackedMLP([p - lr * gp for p, gp in zip(ps[:4], grads[:4])],
                                               [p - lr * gp for p, gp in zip(ps[4:], grads[4:])])
    for (s, c), net in alone.items():
        padded = _unpadded(g, s, c, archs[c // 3])
        for a, b in zip(padded.params(), net.params()):
            assert torch.allclose(a, b, atol=1e-12)
    # padded units stayed exactly zero: incoming rows, outgoing columns, biases
    for c, arch in enumerate([a for a in archs for _ in alphas]):
        h = nl.hidden_widths(*arch)
        for l in range(3):
            assert torch.all(g.net.weights[l][:, c, h[l]:] == 0)
            assert torch.all(g.net.biases[l][:, c, h[l]:] == 0)
            assert torch.all(g.net.weights[l + 1][:, c, :, h[l]:] == 0)
    logits, hs = nl.hidden_outputs(g, x)
    assert logits.shape == (2, 6, 40, 3) and hs[0].shape == (2, 6, 40, 8)
    assert torch.all(hs[2][:, :3, :, 8:] == 0)   # expanding w=4 has 8 real units in layer 3


def test_histogram_entropy_closed_forms():
    bins = 10
    u = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000          # 100 per bin
    assert nl.histogram_entropy(u.reshape(1000, 1), bins=bins).item() == pytest.approx(
        math.log2(bins), abs=1e-12)
    two = torch.tensor([0.0, 1.0] * 50, dtype=torch.float64).reshape(25, 4)
    assert nl.histogram_entropy(two, bins=bins).item() == pytest.approx(1.0, abs=1e-12)
    assert nl.histogram_entropy(torch.full((7, 3), 2.5), bins=bins).item() == 0.0
    # affine invariance, a batch of networks, and a mask that drops a padded unit
    h = torch.randn(2, 50, 3, generator=torch_generator(0), dtype=torch.float64)
    h2 = torch.cat([h, torch.full((2, 50, 1), 1e6, dtype=torch.float64)], -1)
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0])
    a = nl.histogram_entropy(h, bins=bins)
    assert torch.allclose(a, nl.histogram_entropy(3 * h - 7, bins=bins), atol=1e-12)
    assert torch.allclose(a, nl.histogram_entropy(h2, mask, bins=bins), atol=1e-12)
    # ReLU's zeros: half the mass in one bin lowers the entropy
    g = torch.randn(4000, 1, generator=torch_generator(1), dtype=torch.float64)
    assert nl.histogram_entropy(torch.relu(g), bins=50) < nl.histogram_entropy(g, bins=50) - 0.5
    with pytest.raises(ValueError, match="bins"):
        nl.histogram_entropy(g, bins=1)


def test_kde_entropy_of_a_gaussian_and_of_relu_zeros():
    g = torch.randn(4000, 1, generator=torch_generator(2), dtype=torch.float64)
    gen = torch_generator(0)
    h = nl.kde_entropy(g, gen, n_points=2000).item()
    assert h == pytest.approx(0.5 * math.log2(2 * math.pi * math.e), abs=0.08)
    same = nl.kde_entropy(5 * g + 1, torch_generator(0), n_points=500)
    assert torch.allclose(nl.kde_entropy(g, torch_generator(0), n_points=500), same, atol=1e-10)
    assert nl.kde_entropy(torch.relu(g), gen, n_points=1000) < h - 0.3
    n = 100
    flat = nl.kde_entropy(torch.zeros(20, 5), gen, n_points=n).item()
    assert flat == pytest.approx(math.log2(1.06 * n ** -0.2 * math.sqrt(2 * math.pi)), abs=1e-5)
    # an isolated outlier leaves the estimate finite (log-sum-exp, no underflow to log 0)
    far = torch.cat([g[:99], torch.tensor([[1e9]], dtype=torch.float64)])
    assert math.isfinite(nl.kde_entropy(far, gen, n_points=100).item())
    # masked padded units: rows with different numbers of real units in one batch
    h3 = torch.randn(2, 200, 3, generator=torch_generator(3), dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    out = nl.kde_entropy(h3, torch_generator(4), mask, n_points=50)
    assert out.shape == (2,) and torch.all(torch.isfinite(out))


def test_zero_and_dead_fractions():
    h = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]])           # (1, N=2, d=3)
    assert nl.zero_fraction(h).item() == pytest.approx(4 / 6)
    assert nl.dead_fraction(h).item() == pytest.approx(1 / 3)
    mask = torch.tensor([1.0, 1.0, 0.0])
    assert nl.zero_fraction(h, mask).item() == pytest.approx(3 / 4)
    assert nl.dead_fraction(h, mask).item() == pytest.approx(1 / 2)


def test_mnist1d_split_is_offline_deterministic_and_leaves_global_state_alone():
    random.seed(5)
    np.random.seed(5)
    before = (random.random(), np.random.random())
    random.seed(5)
    np.random.seed(5)
    d = nl.mnist1d_split(num_samples=500)
    assert (random.random(), np.random.random()) == before
    assert d.x_train.shape == (400, 40) and d.x_test.shape == (100, 40)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.long
    assert set(d.y_train.tolist()) == set(range(10))
    assert torch.equal(d.x_train, nl.mnist1d_split(num_samples=500).x_train)

"""Unit tests of relubook.topics.nullspace: the data, the projector and the decay law."""

import math

import numpy as np
import pytest
import torch
from relubook.core import mlp
from relubook.core.random import torch_generator
from relubook.topics import nullspace as T


def low_rank_data(n=40, d=12, r=4, seed=0, dtype=torch.float64):
    g = torch_generator(seed)
    a = torch.randn(n, r, generator=g, dtype=torch.float64)
    b = torch.randn(r, d, generator=g, dtype=torch.float64)
    return (a @ b).to(dtype)


# ---- data -----------------------------------------------------------------------------------

def test_upsample_is_linear_and_keeps_constants():
    g = torch_generator(1)
    a, b = torch.rand(3, 16, generator=g), torch.rand(3, 16, generator=g)
    up = T.upsample
    assert up(a).shape == (3, 64)
    assert torch.allclose(up(2 * a - 3 * b), 2 * up(a) - 3 * up(b), atol=1e-14)
    five = torch.full((1, 16), 5.0, dtype=torch.float64)
    assert torch.allclose(up(five), torch.full((1, 64), 5.0, dtype=torch.float64))
    # bilinear 2x with align_corners=False: an interior output pixel is 3/4, 1/4 of its neighbours
    img = torch.zeros(1, 16, dtype=torch.float64)
    img[0, 1 * 4 + 1] = 16.0                      # pixel (1, 1) of a 4x4 image
    out = up(img).view(8, 8)
    assert out[2, 2] == pytest.approx(16 * 0.75 * 0.75)
    assert out[2, 1] == pytest.approx(16 * 0.75 * 0.25)
    with pytest.raises(ValueError, match="square"):
        up(torch.zeros(2, 15))
    with pytest.raises(ValueError, match="factor"):
        up(torch.zeros(2, 16), factor=0)


def test_upsampled_digits_are_exact_in_float32_and_leave_a_null_space():
    X, y = T.upsampled_digits()
    assert X.shape == (1797, 256) and y.shape == (1797,) and X.dtype == torch.float64
    assert float(X.min()) >= 0 and float(X.max()) <= 1
    assert torch.equal(X * 256, torch.round(X * 256))            # multiples of 1/256
    assert torch.equal(X.float().double(), X)
    ns = T.null_space(X)
    assert ns.rank <= 64 and 256 - ns.rank >= 192              # the image of a 64-pixel map


# ---- the projector --------------------------------------------------------------------------

def test_null_space_projector_of_a_known_low_rank_matrix():
    X = low_rank_data()
    ns = T.null_space(X)
    assert ns.rank == 4 and ns.row_basis.shape == (12, 4) and ns.Q.shape == (12, 12)
    Q = ns.Q
    assert torch.allclose(Q, Q.T, atol=1e-14)
    assert torch.linalg.matrix_norm(Q @ Q - Q) < 1e-13
    assert torch.linalg.matrix_norm(X @ Q) < 1e-12 * torch.linalg.matrix_norm(X)
    assert abs(float(torch.trace(Q)) - 8) < 1e-12
    # independent: a vector orthogonal to the rows (from the SVD of numpy) is kept by Q
    _, _, vh = np.linalg.svd(X.numpy())
    v = torch.as_tensor(vh[-1])
    assert torch.allclose(Q @ v, v, atol=1e-12)
    assert ns.singular[4] < ns.tol < ns.singular[3]


def test_null_space_rejects_bad_input():
    with pytest.raises(ValueError, match="matrix"):
        T.null_space(torch.zeros(3))
    with pytest.raises(ValueError, match="rtol"):
        T.null_space(torch.eye(3), rtol=0.0)


def test_null_norm_of_row_space_and_null_space_matrices():
    X = low_rank_data()
    ns = T.null_space(X)
    g = torch_generator(2)
    A = torch.randn(2, 3, 40, generator=g, dtype=torch.float64)
    in_rows = A @ X                                              # (2, 3, 12): rows in span X
    assert T.null_norm(in_rows, ns).shape == (2,)
    assert np.all(T.null_norm(in_rows, ns) < 1e-12)
    perp = torch.randn(2, 3, 12, generator=g, dtype=torch.float64) @ ns.Q
    assert np.allclose(T.null_norm(perp, ns), torch.linalg.matrix_norm(perp).numpy())


# ---- the factor and the law -----------------------------------------------------------------

def test_applied_factor_matches_the_dtype_arithmetic():
    lr, wd = torch.tensor([0.1, 0.01]), torch.tensor([5e-3, 0.05])
    lr64, wd64 = torch.tensor([0.1, 0.01], dtype=torch.float64), torch.tensor([5e-3, 0.05],
                                                                               dtype=torch.float64)
    f64 = T.applied_factor(lr64, wd64, 2, torch.float64)
    assert np.allclose(f64, [1 - 0.1 * 5e-3, 1 - 0.01 * 0.05], rtol=0, atol=1e-15)
    f32 = T.applied_factor(lr, wd, 2, torch.float32)
    expected = (1 - torch.tensor([0.1], dtype=torch.float32) * torch.tensor([5e-3])).item()
    assert f32[0] == expected
    assert f32[0] != 1 - 0.1 * 5e-3                              # float32 rounding is visible
    assert np.allclose(T.applied_factor(0.1, 0.0, 3, torch.float64), 1.0)


def test_law_error_is_zero_on_a_geometric_sequence_and_positive_otherwise():
    steps = np.array([0, 1, 5, 10])
    c = np.array([0.9, 0.5])
    norms = np.array([2.0, 3.0])[:, None] * c[:, None] ** steps
    assert np.nanmax(T.law_error(norms, steps, c)) < 1e-14
    bad = norms.copy()
    bad[0, -1] *= 1.01
    assert T.law_error(bad, steps, c)[0, -1] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="step must be 0"):
        T.law_error(norms, steps + 1, c)


def test_steps_per_epoch_is_the_ceiling():
    assert T.steps_per_epoch(1797, 16) == 113 == math.ceil(1797 / 16)
    assert T.steps_per_epoch(1797, 1797) == 1 and T.steps_per_epoch(128, 16) == 8


def test_mixed_head_is_cross_entropy_or_squared_error_per_network():
    g = torch_generator(3)
    out = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=g)
    loss, delta = T.mixed_head([True, False, True])(out, y)
    l_ce, d_ce = mlp.cross_entropy(out, y)
    l_se, d_se = mlp.squared_error(out, torch.nn.functional.one_hot(y, 4).double().expand(3, 5, 4))
    assert torch.allclose(loss[[0, 2]], l_ce[[0, 2]]) and torch.allclose(loss[1], l_se[1])
    assert torch.allclose(delta[[0, 2]], d_ce[[0, 2]]) and torch.allclose(delta[1], d_se[1])
    with pytest.raises(ValueError, match="head flags"):
        T.mixed_head([True])(out, y)


# ---- training -------------------------------------------------------------------------------

def _linear(c, d, k, seed):
    return mlp.StackedMLP([mlp.init_stacked_mlp(c, (d, k), torch_generator(seed),
                                                dtype=torch.float64).weights[0]])


def test_gd_epoch_is_one_full_batch_step():
    X = low_rank_data()
    Y = torch.randn(40, 3, generator=torch_generator(4), dtype=torch.float64)
    a, b = _linear(2, 12, 3, 5), _linear(2, 12, 3, 5)
    T.train_epochs(a, X, Y, lr=0.05, wd=0.1, batch_size=40, epochs=3, head=mlp.squared_error)
    for _ in range(3):                                           # by hand, with the core step
        _, gws, _ = mlp.loss_and_grads(b, X, Y, mlp.squared_error)
        mlp.sgd_step(b.weights, gws, 0.05, 0.1)
    assert torch.allclose(a.weights[0], b.weights[0], atol=1e-14)


def test_sgd_law_holds_exactly_with_an_incomplete_last_batch():
    X = low_rank_data()                                          # n = 40, B = 7: 6 steps/epoch
    ns = T.null_space(X)
    Y = torch.randn(40, 3, generator=torch_generator(6), dtype=torch.float64)
    net = _linear(4, 12, 3, 7)
    lr = torch.tensor([0.05, 0.05, 0.02, 0.05], dtype=torch.float64)
    wd = torch.tensor([0.1, 0.0, 0.3, 0.1], dtype=torch.float64)
    hist = T.train_epochs(net, X, Y, lr=lr, wd=wd, batch_size=7, epochs=4,
                          generators=[torch_generator(8), torch_generator(9)],
                          head=mlp.squared_error, log_steps=[2, 3],
                          monitor=lambda m: {"perp": T.null_norm(m.weights[0], ns)})
    assert hist["step"].tolist() == [0, 2, 3, 6, 12, 18, 24]
    assert np.allclose(hist["epoch"], np.array([0, 2, 3, 6, 12, 18, 24]) / 6)
    factor = T.applied_factor(lr, wd, 4, torch.float64)
    assert np.nanmax(T.law_error(hist["perp"], hist["step"], factor)) < 1e-12
    # the law is not vacuous: the null-space component did shrink, and the data were fitted
    assert hist["perp"][0, -1] < 0.95 * hist["perp"][0, 0]


def test_sgd_visits_every_example_once_per_epoch():
    # a linear model with lr so small that every step's gradient is the one at W_0: the
    # epoch's total change is lr times the sum of the batch-mean gradients, which with B | n
    # equals n/B times the full gradient only if every example is in exactly one batch
    X = low_rank_data(n=24)
    Y = torch.randn(24, 2, generator=torch_generator(10), dtype=torch.float64)
    W0 = torch.zeros(1, 2, 12, dtype=torch.float64)
    net = mlp.StackedMLP([W0.clone()])
    T.train_epochs(net, X, Y, lr=1e-12, wd=0.0, batch_size=6, epochs=1,
                   generators=[torch_generator(11)], head=mlp.squared_error)
    full = mlp.loss_and_grads(mlp.StackedMLP([W0.clone()]), X, Y, mlp.squared_error)[1][0]
    assert torch.allclose((W0 - net.weights[0]) / 1e-12, 4 * full, rtol=0, atol=1e-8)


def test_blocks_of_networks_draw_their_own_batches():
    X = low_rank_data()
    Y = torch.randn(40, 3, generator=torch_generator(12), dtype=torch.float64)
    both = mlp.StackedMLP([torch.cat([_linear(1, 12, 3, 13).weights[0]] * 2)])
    one = _linear(1, 12, 3, 13)
    T.train_epochs(both, X, Y, lr=0.05, wd=0.1, batch_size=8, epochs=2,
                   generators=[torch_generator(14), torch_generator(15)], head=mlp.squared_error)
    T.train_epochs(one, X, Y, lr=0.05, wd=0.1, batch_size=8, epochs=2,
                   generators=[torch_generator(15)], head=mlp.squared_error)
    assert torch.equal(both.weights[0][1:], one.weights[0])
    assert not torch.allclose(both.weights[0][0], both.weights[0][1])


def test_train_epochs_rejects_bad_settings():
    X, Y = low_rank_data(), torch.zeros(40, 3, dtype=torch.float64)
    net = _linear(2, 12, 3, 16)
    with pytest.raises(ValueError, match="batch_size"):
        T.train_epochs(net, X, Y, lr=0.1, wd=0.0, batch_size=41, epochs=1)
    with pytest.raises(ValueError, match="generators"):
        T.train_epochs(net, X, Y, lr=0.1, wd=0.0, batch_size=8, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        T.train_epochs(net, X, Y, lr=0.1, wd=0.0, batch_size=40, epochs=-1)


def test_relative_step():
    a = [torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0]])]
    b = [torch.tensor([[3.0, 4.0 + 0.5]]), torch.tensor([[0.0]])]
    assert T.relative_step(a, b) == pytest.approx([0.1])


def test_gd_least_squares_matches_the_core_backward_pass():
    X = low_rank_data()
    Y = torch.randn(40, 3, generator=torch_generator(17), dtype=torch.float64)
    W = _linear(2, 12, 3, 18).weights[0]
    ref = mlp.StackedMLP([W.clone()])
    rels = []
    for _ in range(5):
        before = ref.weights[0].clone()
        _, gws, _ = mlp.loss_and_grads(ref, X, Y, mlp.squared_error)
        mlp.sgd_step(ref.weights, gws, 0.05, 0.1)
        rels.append(T.relative_step([before], ref.weights))
    got = W.clone()
    rel = T.gd_least_squares(got, X, Y, lr=0.05, wd=0.1, steps=5)
    assert torch.allclose(got, ref.weights[0], atol=1e-13)
    assert rel.shape == (2, 5) and np.allclose(rel, np.stack(rels, 1), rtol=1e-10)
    with pytest.raises(ValueError, match="stack"):
        T.gd_least_squares(W[0], X, Y, lr=0.05, wd=0.1, steps=1)

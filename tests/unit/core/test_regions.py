"""Unit tests of relubook.core.regions: activation patterns and the affine map on each region."""

import itertools

import numpy as np
import pytest

from relubook.core.regions import affine_form, forward_patterns, pattern_ids

WIDTHS = [3, 5, 4, 2]


def _net(widths=WIDTHS, seed=0):
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((o, i)) for i, o in zip(widths[:-1], widths[1:])]
    b = [0.5 * rng.standard_normal(o) for o in widths[1:]]
    return W, b


def _manual(W, b, x):
    outs, pats = [], []
    for xi in x:
        y, ps = xi, []
        for w, v in zip(W, b):
            pre = [sum(w[j, k] * y[k] for k in range(w.shape[1])) + v[j] for j in range(w.shape[0])]
            ps.append(np.array([p > 0 for p in pre]))
            y = np.array([max(p, 0.0) for p in pre])
        outs.append(y)
        pats.append(ps)
    return np.array(outs), [np.array([p[k] for p in pats]) for k in range(len(W))]


def test_forward_patterns_equals_manual_forward():
    W, b = _net()
    x = np.random.default_rng(1).standard_normal((40, 3))
    y, pats = forward_patterns(W, b, x)
    y_ref, pats_ref = _manual(W, b, x)
    assert y.shape == (40, 2) and [p.shape for p in pats] == [(40, 5), (40, 4), (40, 2)]
    assert np.allclose(y, y_ref, atol=1e-12, rtol=0)
    for p, q in zip(pats, pats_ref):
        assert p.dtype == bool and np.array_equal(p, q)
    assert 0 < pats[0].mean() < 1            # the inputs are not all in one region


def test_zero_pre_activation_is_inactive():
    # d_k = 1[W y + b > 0]: a neuron exactly at 0 is off
    W = [np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, -1.0, 0.0]])]
    b = [np.array([0.0, -1.0, 0.5]), np.array([0.0])]
    y, pats = forward_patterns(W, b, np.array([[0.0, 1.0], [2.0, 0.0]]))
    assert np.array_equal(pats[0], [[False, False, True], [True, False, True]])
    assert np.array_equal(pats[1], [[False], [True]])
    assert np.array_equal(y, [[0.0], [2.0]])


def test_affine_form_reproduces_outputs():
    W, b = _net(seed=2)
    x = np.random.default_rng(3).standard_normal((200, 3)) * 2
    y, pats = forward_patterns(W, b, x)
    A, c = affine_form(W, b, pats)
    assert A.shape == (200, 2, 3) and c.shape == (200, 2)
    assert np.allclose(np.einsum("nij,nj->ni", A, x) + c, y, atol=1e-12, rtol=0)
    assert np.abs(y).max() > 0.1


def test_affine_form_closed_form_product():
    # A = D3 W3 D2 W2 D1 W1 and c = D3 b3 + D3 W3 D2 b2 + D3 W3 D2 W2 D1 b1, one input
    W, b = _net(seed=4)
    x = np.random.default_rng(5).standard_normal((1, 3))
    _, pats = forward_patterns(W, b, x)
    D = [np.diag(p[0].astype(float)) for p in pats]
    A_ref = D[2] @ W[2] @ D[1] @ W[1] @ D[0] @ W[0]
    c_ref = D[2] @ b[2] + D[2] @ W[2] @ D[1] @ b[1] + D[2] @ W[2] @ D[1] @ W[1] @ D[0] @ b[0]
    A, c = affine_form(W, b, pats)
    assert np.allclose(A[0], A_ref, atol=1e-13) and np.allclose(c[0], c_ref, atol=1e-13)


def test_affine_map_is_constant_on_a_region_and_exact_nearby():
    # the affine map of x's region, applied to a point x + e with the same pattern, gives f(x + e)
    W, b = _net(seed=6)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((50, 3))
    xe = x + 1e-6 * rng.standard_normal((50, 3))
    _, px = forward_patterns(W, b, x)
    ye, pe = forward_patterns(W, b, xe)
    same = np.all(np.concatenate(px, 1) == np.concatenate(pe, 1), axis=1)
    assert same.sum() > 40
    A, c = affine_form(W, b, px)
    assert np.allclose(np.einsum("nij,nj->ni", A, xe)[same] + c[same], ye[same], atol=1e-12)


def test_square_layers_as_arrays_equal_lists():
    rng = np.random.default_rng(8)
    W, b = rng.standard_normal((3, 4, 4)), rng.standard_normal((3, 4))
    x = rng.standard_normal((30, 4))
    y1, p1 = forward_patterns(W, b, x)
    y2, p2 = forward_patterns(list(W), list(b), x)
    assert np.array_equal(y1, y2) and all(np.array_equal(a, c) for a, c in zip(p1, p2))
    A, c = affine_form(W, b, p1)
    assert np.allclose(np.einsum("nij,nj->ni", A, x) + c, y1, atol=1e-12)


def _lex_rank(rows):
    keys = [tuple(int(v) for v in r) for r in rows]
    order = {k: i for i, k in enumerate(sorted(set(keys)))}
    return np.array([order[k] for k in keys])


def test_pattern_ids_equal_iff_patterns_equal_and_lexicographic():
    W, b = _net(seed=9)
    x = np.random.default_rng(10).standard_normal((300, 3))
    _, pats = forward_patterns(W, b, x)
    ids = pattern_ids(pats)
    flat = np.concatenate(pats, axis=1)
    assert ids.shape == (300,)
    same_pat = np.all(flat[:, None, :] == flat[None, :, :], axis=-1)
    assert np.array_equal(ids[:, None] == ids[None, :], same_pat)
    assert 3 < len(np.unique(ids)) < 300
    assert np.array_equal(ids, _lex_rank(flat))


def test_pattern_ids_list_equals_concatenated_array_and_long_patterns():
    rng = np.random.default_rng(11)
    layers = [rng.random((60, 7)) < 0.5, rng.random((60, 13)) < 0.5]
    layers[1][30:] = layers[1][:30]
    layers[0][30:] = layers[0][:30]                    # every pattern appears twice
    ids = pattern_ids(layers)
    assert np.array_equal(ids, pattern_ids(np.concatenate(layers, axis=1)))
    assert np.array_equal(ids, pattern_ids(tuple(layers)))
    assert np.array_equal(ids[:30], ids[30:]) and len(np.unique(ids)) == 30
    assert np.array_equal(ids, _lex_rank(np.concatenate(layers, axis=1)))
    # (N, L, m) arrays are flattened per input
    cube = rng.random((20, 3, 4)) < 0.5
    assert np.array_equal(pattern_ids(cube), pattern_ids(cube.reshape(20, 12)))


def test_pattern_ids_distinguish_patterns_differing_in_last_bit():
    # 9 bits pack into 2 bytes; patterns differing only in bit 9 must get different ids
    p = np.array(list(itertools.product([False, True], repeat=9)))
    ids = pattern_ids(p)
    assert np.array_equal(ids, np.arange(512))


@pytest.mark.parametrize(
    "call",
    [
        lambda W, b: forward_patterns(W, b, np.zeros(3)),              # x not 2-D
        lambda W, b: forward_patterns(W, b, np.zeros((4, 2))),         # wrong input width
        lambda W, b: forward_patterns(W[:2], b, np.zeros((4, 3))),     # biases != layers
        lambda W, b: forward_patterns([], [], np.zeros((4, 3))),
        lambda W, b: forward_patterns([W[0], W[2]], [b[0], b[2]], np.zeros((4, 3))),  # chain
        lambda W, b: forward_patterns([W[0]], [b[1]], np.zeros((4, 3))),  # bias shape
        lambda W, b: forward_patterns([W[0][0]], [b[0]], np.zeros((4, 3))),  # W not 2-D
        lambda W, b: affine_form(W, b, [np.zeros((4, 5), bool)] * 2),   # too few patterns
        lambda W, b: affine_form(W, b, [np.zeros((4, 5), bool), np.zeros((4, 4), bool),
                                        np.zeros((3, 2), bool)]),       # pattern rows
        lambda W, b: pattern_ids(np.zeros(5, bool)),
    ],
)
def test_shape_errors_raise(call):
    W, b = _net()
    with pytest.raises(ValueError):
        call(W, b)

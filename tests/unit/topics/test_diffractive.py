"""Unit tests of relubook.topics.diffractive: the angular-spectrum propagator against its analytic
properties (energy, reciprocity, reversal, composition, Gaussian beam spreading, a tilted
beam's walk-off) and against torchoptics; masks, detectors, the multi-task forward pass, data."""

import math

import numpy as np
import pytest
import torch
from relubook.core.random import numpy_rng
from relubook.topics import diffractive as D

C128 = torch.complex128
LAM, DX = D.WAVELENGTH, D.PITCH
GEO = D.Geometry(n=24, pad=6, distance=0.5 * 24 * DX ** 2 / LAM)


def _random_field(shape, seed=0):
    rng = numpy_rng(seed)
    return torch.as_tensor(rng.standard_normal(shape) + 1j * rng.standard_normal(shape), dtype=C128)


def _h(m, z):
    return D.transfer_function(m, DX, LAM, z, C128)


def _window(u, m):
    w = torch.zeros(*u.shape[:-2], m, m, dtype=u.dtype)
    w[..., :u.shape[-1], :u.shape[-1]] = u
    return w


# ---- the transfer function -------------------------------------------------------------------

def test_transfer_function_closed_form():
    m, z = 16, 0.03
    h = _h(m, z)
    f = np.fft.fftfreq(m, d=DX)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    want = np.exp(2j * np.pi * z * np.sqrt(LAM ** -2 - fx ** 2 - fy ** 2))
    assert np.allclose(h.numpy(), want, rtol=0, atol=1e-9)
    assert torch.allclose(h.abs(), torch.ones(m, m, dtype=torch.float64), atol=1e-14)
    assert abs(h[0, 0] - np.exp(2j * np.pi * z / LAM)) < 1e-9      # the carrier at f = 0
    assert h.dtype == C128 and D.transfer_function(m, DX, LAM, z).dtype == torch.complex64


def test_transfer_function_zeroes_evanescent_waves():
    pitch = 0.4 * LAM      # the grid's outer frequencies exceed 1/λ
    h = D.transfer_function(32, pitch, LAM, 1e-6, C128)
    f = np.fft.fftfreq(32, d=pitch)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    evan = fx ** 2 + fy ** 2 >= LAM ** -2
    assert evan.any() and (~evan).any()
    assert torch.all(h[torch.as_tensor(evan)] == 0)
    assert torch.allclose(h[torch.as_tensor(~evan)].abs(), torch.tensor(1.0, dtype=torch.float64))


def test_transfer_functions_compose():
    m = 20
    assert torch.allclose(_h(m, 0.01) * _h(m, 0.025), _h(m, 0.035), atol=1e-9)
    assert torch.allclose(_h(m, 0.02) * _h(m, -0.02), torch.ones(m, m, dtype=C128), atol=1e-12)


# ---- the propagator: analytic properties ------------------------------------------------------

def test_energy_is_conserved_on_the_whole_window():
    m = GEO.n_fft
    u = _window(_random_field((3, GEO.n, GEO.n)), m)
    out = D.propagate(u, _h(m, GEO.distance), crop=False)
    e0, e1 = (u.abs() ** 2).sum((-1, -2)), (out.abs() ** 2).sum((-1, -2))
    assert torch.allclose(e1, e0, rtol=1e-13, atol=0)


def test_cropping_loses_energy_but_never_gains_it():
    u = _random_field((3, GEO.n, GEO.n), seed=1)
    out = D.propagate(u, _h(GEO.n_fft, GEO.distance))
    assert out.shape == u.shape
    e0, e1 = (u.abs() ** 2).sum((-1, -2)), (out.abs() ** 2).sum((-1, -2))
    assert torch.all(e1 < e0) and torch.all(e1 > 0.5 * e0)


def test_reciprocity_point_sources():
    h = _h(GEO.n_fft, GEO.distance)
    rng = numpy_rng(2)
    for a, b in rng.integers(0, GEO.n, (6, 2, 2)):
        ea = torch.zeros(GEO.n, GEO.n, dtype=C128)
        eb = torch.zeros(GEO.n, GEO.n, dtype=C128)
        ea[tuple(a)] = 1
        eb[tuple(b)] = 1
        pab, pba = D.propagate(ea, h)[tuple(b)], D.propagate(eb, h)[tuple(a)]
        assert abs(pab) > 1e-4 and abs(pab - pba) < 1e-13


def test_reversal_and_composition():
    m, z = GEO.n_fft, GEO.distance
    u = _window(_random_field((2, GEO.n, GEO.n), seed=3), m)
    there = D.propagate(u, _h(m, z), crop=False)
    assert torch.allclose(D.propagate(there, _h(m, -z), crop=False), u, atol=1e-12)
    twice = D.propagate(there, _h(m, z), crop=False)
    assert torch.allclose(twice, D.propagate(u, _h(m, 2 * z), crop=False), atol=1e-9)


def test_end_padding_equals_centred_padding():
    n, p = GEO.n, GEO.pad
    u = _random_field((2, n, n), seed=4)
    h = _h(GEO.n_fft, GEO.distance)
    centred = torch.nn.functional.pad(u, (p, p, p, p))
    want = torch.fft.ifft2(torch.fft.fft2(centred) * h)[..., p:p + n, p:p + n]
    assert torch.allclose(D.propagate(u, h), want, atol=1e-12)


def test_plane_wave_keeps_its_shape_and_gains_the_carrier_phase():
    m, z = 16, 0.05
    out = D.propagate(torch.ones(m, m, dtype=C128), _h(m, z), crop=False)
    assert torch.allclose(out, torch.full((m, m), np.exp(2j * np.pi * z / LAM), dtype=C128),
                          atol=1e-9)


def test_gaussian_beam_spreads_as_the_closed_form():
    n, w0 = 256, 4 * DX
    zr = math.pi * w0 ** 2 / LAM
    u0 = D.gaussian_field(n, DX, w0)
    assert abs(float(D.beam_width(u0.abs() ** 2, DX)) / w0 - 1) < 1e-10
    assert D.gaussian_width(zr, w0, LAM) == pytest.approx(math.sqrt(2) * w0, rel=1e-14)
    for z in (0.5 * zr, zr, 3 * zr):
        w = float(D.beam_width(D.propagate(u0, _h(n, z), crop=False).abs() ** 2, DX))
        assert w / D.gaussian_width(z, w0, LAM) - 1 == pytest.approx(0, abs=1e-5)
    # and a wrong propagator would fail: twice the distance is far off
    w = float(D.beam_width(D.propagate(u0, _h(n, 2 * zr), crop=False).abs() ** 2, DX))
    assert abs(w / D.gaussian_width(zr, w0, LAM) - 1) > 0.3


def test_tilted_beam_walks_off_by_z_tan_theta():
    n, w0, z = 256, 5 * DX, 0.05
    f0 = 8 / (n * DX)                          # a grid frequency: sin θ = λ f0
    x = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * DX
    u = D.gaussian_field(n, DX, w0) * torch.exp(2j * math.pi * f0 * x)[None, :]
    inten = D.propagate(u, _h(n, z), crop=False).abs() ** 2
    px = inten.sum(0)
    shift = float((px * x).sum() / px.sum())
    s = LAM * f0
    assert shift == pytest.approx(z * s / math.sqrt(1 - s * s), rel=1e-6)


# ---- torchoptics as an independent implementation ----------------------------------------------

def test_agrees_with_torchoptics():
    u = _random_field((3, GEO.n, GEO.n), seed=5)
    ours = D.propagate(u, _h(GEO.n_fft, GEO.distance))
    theirs = D.torchoptics_propagate(u, GEO)
    assert theirs.shape == ours.shape and theirs.dtype == C128
    # the carrier phase 2πz/λ is ~5e5 rad, so float64 agreement is ~1e-10, not 1e-16
    assert float((ours - theirs).abs().max() / ours.abs().max()) < 1e-9
    other = D.torchoptics_propagate(u, GEO, z=1.1 * GEO.distance)
    assert float((ours - other).abs().max() / ours.abs().max()) > 1e-2


def test_propagation_is_bitwise_deterministic():
    u = _random_field((4, GEO.n, GEO.n), seed=6).to(torch.complex64)
    h = D.transfer_function(GEO.n_fft, DX, LAM, GEO.distance)
    assert torch.equal(D.propagate(u, h), D.propagate(u, h))


# ---- geometry ----------------------------------------------------------------------------------

def test_geometry():
    g = D.Geometry(n=32, pad=8, distance=0.04)
    assert g.n_fft == 48
    s = LAM / (math.sqrt(2) * DX)
    assert g.max_shift_px() == pytest.approx(0.04 * s / math.sqrt(1 - s * s) / DX)
    assert g.fresnel_number() == pytest.approx((32 * DX) ** 2 / (LAM * 0.04))
    with pytest.raises(ValueError, match="n >= 2"):
        D.Geometry(n=1, pad=0, distance=0.1)
    with pytest.raises(ValueError, match="positive"):
        D.Geometry(n=8, pad=0, distance=-1.0)
    with pytest.raises(ValueError, match="evanescent"):
        D.Geometry(n=8, pad=0, distance=0.1, pitch=0.5 * LAM)
    with pytest.raises(ValueError, match="no larger"):
        D.propagate(torch.zeros(8, 8, dtype=C128), _h(6, 0.01))


# ---- the network -----------------------------------------------------------------------------

def _loop_forward(x, shared, branch, h):
    """The forward pass written out network by network, branch by branch."""
    out = []
    for i in range(shared.shape[0]):
        u = x.to(h.dtype)
        for s in range(shared.shape[1]):
            u = D.propagate(u, h) * torch.exp(1j * shared[i, s])
        u = D.propagate(u, h)
        planes = [D.propagate(u / math.sqrt(branch.shape[1]) * torch.exp(1j * branch[i, t]), h)
                  .abs() ** 2 for t in range(branch.shape[1])]
        out.append(torch.stack(planes, 1))
    return torch.stack(out)


def test_forward_matches_a_plain_loop_and_batches():
    rng = numpy_rng(7)
    n, h = 12, _h(18, 0.01)
    x = torch.as_tensor(rng.random((5, n, n)))
    shared = torch.as_tensor(rng.random((3, 2, n, n)) * 6)
    branch = torch.as_tensor(rng.random((3, 2, n, n)) * 6)
    got = D.forward(x, shared, branch, h)
    assert got.shape == (3, 5, 2, n, n) and got.dtype == torch.float64
    assert torch.allclose(got, _loop_forward(x, shared, branch, h), atol=1e-13)
    pre = D.propagate(x.to(C128), h)
    assert torch.allclose(D.forward(pre, shared, branch, h, propagated=True), got, atol=1e-14)
    per_net = D.forward(x.expand(3, 5, n, n), shared, branch, h)
    assert torch.allclose(per_net, got, atol=1e-14)
    with pytest.raises(ValueError, match="same n_nets"):
        D.forward(x, shared, branch[:2], h)


def test_split_shares_the_power_between_branches():
    rng = numpy_rng(8)
    n, h = 12, _h(18, 0.01)
    x = torch.as_tensor(rng.random((2, n, n)))
    shared = torch.as_tensor(rng.random((1, 2, n, n)))
    b1 = torch.as_tensor(rng.random((1, 1, n, n)))
    one = D.forward(x, shared, b1, h)
    two = D.forward(x, shared, b1.repeat(1, 2, 1, 1), h)
    assert torch.allclose(two.sum(2), one[:, :, 0], atol=1e-14)


def test_forward_is_differentiable():
    rng = numpy_rng(9)
    n, h = 8, _h(12, 0.01)
    x = torch.as_tensor(rng.random((2, n, n)))
    shared = torch.as_tensor(rng.random((1, 2, n, n)), dtype=torch.float64).requires_grad_()
    branch = torch.as_tensor(rng.random((1, 2, n, n)), dtype=torch.float64)
    w = torch.as_tensor(rng.random((n, n)))

    def f(s):
        return (D.forward(x, s, branch, h)[:, :, 0] * w).sum()

    f(shared).backward()
    e = torch.zeros_like(shared)
    e[0, 1, 3, 4] = 1e-6
    with torch.no_grad():
        fd = (f(shared + e) - f(shared - e)) / 2e-6
    assert float(shared.grad[0, 1, 3, 4]) == pytest.approx(float(fd), rel=1e-6)


# ---- detectors, logits -----------------------------------------------------------------------

def test_detector_masks_and_powers():
    masks = D.detector_masks(32, 4, D.class_layout() + [(0.12, 0.5)])
    assert masks.shape == (11, 32, 32)
    assert torch.all(masks.sum((-1, -2)) == 16) and masks.sum(0).max() == 1
    inten = torch.as_tensor(numpy_rng(10).random((3, 32, 32)), dtype=torch.float32)
    p = D.region_powers(inten, masks)
    want = torch.stack([(inten * m).sum((-1, -2)) for m in masks], -1)
    assert p.shape == (3, 11) and torch.allclose(p, want, rtol=1e-6)
    with pytest.raises(ValueError, match="overlap"):
        D.detector_masks(32, 8, D.class_layout())
    with pytest.raises(ValueError, match="leaves"):
        D.detector_masks(32, 4, [(0.01, 0.5)])
    with pytest.raises(ValueError, match="3-4-3"):
        D.class_layout(4)


def test_logits_are_scale_free_shares():
    p = torch.tensor([[1.0, 3.0, 0.0, 4.0]])
    lg = D.logits(p, 10.0)
    assert torch.allclose(lg, torch.tensor([[1.25, 3.75, 0.0, 5.0]]))
    assert torch.allclose(D.logits(7.0 * p, 10.0), lg)


# ---- data on the grid ---------------------------------------------------------------------------

def test_embed_and_upsample():
    img = torch.arange(4.0).reshape(1, 2, 2)
    up = D.upsample(img, 3)
    assert up.shape == (1, 6, 6) and torch.all(up[0, :3, :3] == 0) and torch.all(up[0, 3:, 3:] == 3)
    e = D.embed(up, 10)
    assert e.shape == (1, 10, 10) and torch.equal(e[0, 2:8, 2:8], up[0]) and e.sum() == up.sum()
    with pytest.raises(ValueError, match="no larger"):
        D.embed(up, 4)
    with pytest.raises(ValueError, match="positive int"):
        D.upsample(img, 0)


def test_draw_shapes():
    labels = np.arange(40) % 10
    a = D.draw_shapes(labels, 16, numpy_rng(11))
    b = D.draw_shapes(labels, 16, numpy_rng(11))
    assert a.shape == (40, 16, 16) and np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    clean = D.draw_shapes(np.zeros(50, int), 16, numpy_rng(12), noise=0.0)
    area = clean.mean((1, 2))             # a disc of radius 0.8 s in a patch of side 2
    assert np.all(area > math.pi * 0.48 ** 2 / 4 - 0.02)
    assert np.all(area < math.pi * 0.76 ** 2 / 4 + 0.02)
    means = np.stack([D.draw_shapes(np.full(30, c), 16, numpy_rng(13, c), noise=0.0).mean(0)
                      for c in range(10)])
    gaps = [np.abs(means[i] - means[j]).mean() for i in range(10) for j in range(i)]
    assert min(gaps) > 0.02               # every pair of classes looks different on average
    g = np.arange(16.0)
    for c, wide in ((7, True), (8, False)):       # bars: longer along x (7) or along y (8)
        img = D.draw_shapes(np.full(20, c), 16, numpy_rng(14), noise=0.0)
        w = img / img.sum((1, 2), keepdims=True)
        vx = (w.sum(1) * (g - (w.sum(1) * g).sum(1, keepdims=True)) ** 2).sum(1)
        vy = (w.sum(2) * (g - (w.sum(2) * g).sum(1, keepdims=True)) ** 2).sum(1)
        assert np.all((vx > 2 * vy) if wide else (vy > 2 * vx))
    with pytest.raises(ValueError, match="unknown shape class"):
        D.draw_shapes(np.array([10]), 8, numpy_rng(0))

"""Unit tests of relubook.topics.bw_inr: the BW-ReLU identities, the models, training, the norms."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from relubook.topics import bw_inr as inr


def grid_with_knots():
    t = torch.linspace(-1, 4, 20001, dtype=torch.float64)
    return torch.cat([t, torch.tensor(inr.KNOTS, dtype=torch.float64)])


def test_coefficients_exact_identities():
    a, k = np.array(inr.A), np.array(inr.KNOTS)
    assert np.isclose(np.abs(a).sum(), 16.0, atol=1e-14)
    assert abs(a.sum()) < 1e-14 and abs((a * k).sum()) < 1e-14
    # slopes are the partial sums of a; intercepts make psi continuous
    assert np.allclose(np.cumsum(a), inr.SLOPES[1:], atol=1e-14)


@pytest.mark.parametrize("c", [1.0, 3.0, 9.0])
def test_both_forms_equal_values_and_gradients(c):
    t = grid_with_knots()
    a, b = t.clone().requires_grad_(), t.clone().requires_grad_()
    ya, yb = inr.psi_relu(c * a), inr.psi(b, c)
    (ya * torch.cos(t)).sum().backward()
    (yb * torch.cos(t)).sum().backward()
    assert (ya - yb).abs().max() <= 1e-12
    assert (a.grad - b.grad).abs().max() <= 1e-12


def test_support_symmetry_knot_values_float64():
    t = grid_with_knots()
    y = inr.psi(t)
    assert torch.all(y[(t <= 0) | (t >= 3)] == 0)
    assert (inr.psi(3 - t) - y).abs().max() <= 1e-12
    kv = inr.psi(torch.tensor(inr.KNOTS, dtype=torch.float64))
    assert torch.allclose(kv, torch.tensor(inr.KNOT_VALUES, dtype=torch.float64), atol=1e-15)
    assert math.isclose(float(inr.psi(torch.tensor(1.5, dtype=torch.float64))), 5 / 6)


def _moment_closed_form(p, center):
    """∫(t - t0)^p ψ(t) dt in exact rational arithmetic from the 7-ReLU form:
    Σ_j a_j ∫_{k_j}^3 (t - t0)^p (t - k_j) dt (ψ vanishes outside [0, 3])."""
    a = [Fraction(x, 6) for x in (1, -8, 23, -32, 23, -8, 1)]
    t0 = Fraction(center)
    tot = Fraction(0)
    for aj, kj in zip(a, (Fraction(j, 2) for j in range(7))):
        lo, hi, d = kj - t0, 3 - t0, kj - t0
        tot += aj * ((hi ** (p + 2) - lo ** (p + 2)) / (p + 2)
                     - d * (hi ** (p + 1) - lo ** (p + 1)) / (p + 1))
    return tot


def test_moments_closed_forms():
    assert abs(inr.psi_moment(0)) < 1e-15                   # ∫ψ = 0
    assert abs(inr.psi_moment(1)) < 1e-15                   # ∫tψ = 0
    assert math.isclose(inr.psi_moment(2, 1.5), -1 / 24, rel_tol=1e-13)
    assert _moment_closed_form(2, 1.5) == Fraction(-1, 24)


@pytest.mark.parametrize("p", range(7))
@pytest.mark.parametrize("center", [0.0, 1.5, -0.75])
def test_moments_match_exact_rationals(p, center):
    ref = float(_moment_closed_form(p, center))
    assert abs(inr.psi_moment(p, center) - ref) <= 1e-13 * max(1.0, abs(ref))


def test_moment_is_not_trivially_zero_and_validates():
    # a wrong rule (e.g. too few nodes) would miss these nonzero moments
    assert math.isclose(inr.psi_moment(3), -3 / 16, rel_tol=1e-13)
    assert math.isclose(inr.psi_moment(4), -25 / 48, rel_tol=1e-13)
    with pytest.raises(ValueError):
        inr.psi_moment(-1)
    with pytest.raises(ValueError):
        inr.psi_moment(1.5)


def test_psi_identities_gaps_are_rounding():
    g = inr.psi_identities(n_grid=2001)
    for k in ("value_gap", "grad_gap", "symmetry_gap", "knot_gap", "moment0", "moment1",
              "sum_a", "sum_ak"):
        assert abs(g[k]) <= 1e-13, k
    assert g["outside_max"] == 0.0
    assert math.isclose(g["moment2_centered"], -1 / 24, rel_tol=1e-13)
    assert math.isclose(g["sum_abs_a"], 16.0, rel_tol=1e-14)
    with pytest.raises(ValueError):
        inr.psi_identities(1)


def test_interval_index_matches_bucketize():
    t = grid_with_knots()
    knots = torch.tensor(inr.KNOTS, dtype=torch.float64)
    assert torch.equal(inr.interval_index(t), torch.bucketize(t, knots, right=False))


def test_psi_bad_input():
    with pytest.raises(ValueError):
        inr.psi(torch.arange(3))
    with pytest.raises(ValueError):
        inr.psi(torch.zeros(3), c=-1.0)


@pytest.mark.parametrize("kind", inr.MODELS)
def test_models_shapes_and_param_count(kind):
    spec = inr.Spec(kind, 16, layers=3, c=(1.0, 2.0), freqs=2)
    m = inr.INR(spec, 2, 3, seed=0)
    y = m(inr.grid(5, 4))
    assert y.shape == (spec.n, 20, 3) and y.dtype == torch.float32 and not y.is_complex()
    if kind in ("bw", "relu", "siren", "gauss"):
        assert m.n_params() == 2 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 3 + 3
    if kind == "wire":
        assert spec.hidden == 11


def test_batched_bw_equals_separate_networks():
    x = inr.grid(6, 6, dtype=torch.float64)
    both = inr.INR(inr.Spec("bw", 8, c=(2.0, 5.0)), 2, 1, seed=3, dtype=torch.float64)(x)
    one = inr.INR(inr.Spec("bw", 8, c=(5.0,)), 2, 1, seed=3, dtype=torch.float64)(x)
    assert torch.allclose(both[1], one[0], atol=1e-14)


def test_bw_forward_equals_relu_form():
    m = inr.INR(inr.Spec("bw", 8, layers=2, c=(3.0,)), 2, 1, seed=1, dtype=torch.float64)
    x = inr.grid(7, 7, dtype=torch.float64)
    W, b = m.weights, m.biases
    h = x
    for l in range(2):
        h = inr.psi_relu(3.0 * (h @ W[l][0].T + b[l][0]))
    ref = h @ W[2][0].T + b[2][0]
    assert torch.allclose(m(x)[0], ref, atol=1e-13)


def test_siren_init_bounds():
    m = inr.INR(inr.Spec("siren", 64, omega0=30.0), 2, 1)
    assert m.weights[0].abs().max() <= 1 / 2
    assert m.weights[1].abs().max() <= math.sqrt(6 / 64) / 30


def test_spec_validation():
    with pytest.raises(ValueError, match="valid"):
        inr.Spec("finer", 8)
    with pytest.raises(ValueError):
        inr.Spec("bw", 8, c=(0.0,))
    with pytest.raises(ValueError):
        inr.INR(inr.Spec("relu", 8), 2, 1)(torch.zeros(4, 3))


def test_positional_encoding_and_nyquist():
    x = torch.tensor([[0.5, -0.25]])
    g = inr.positional_encoding(x, 2)
    assert g.shape == (1, 10)
    assert torch.allclose(g[0, 2:4], torch.sin(math.pi * x[0]))
    assert inr.nyquist_freqs(48) == 3 and inr.nyquist_freqs(64) == 4 and inr.nyquist_freqs(512) == 7
    with pytest.raises(ValueError):
        inr.nyquist_freqs(3)


def test_grid_xy_order():
    g = inr.grid(2, 3)
    assert torch.equal(g[:3, 0], torch.tensor([-1.0, 0.0, 1.0])) and torch.all(g[:3, 1] == -1)


def test_path_norm_formula_and_linear_in_c():
    m = inr.INR(inr.Spec("bw", 6, layers=2, c=(1.0, 2.0)), 2, 1, seed=0, dtype=torch.float64)
    W = [w[0] for w in m.weights]
    # neuron k of layer l: in-weights are row k of W_l (out, in), out-weights column k of W_{l+1}
    ref = sum(float((W[l].detach().norm(dim=1) * W[l + 1].detach().norm(dim=0)).sum())
              for l in range(2))
    pn = inr.path_norm(m)
    assert math.isclose(float(pn[0]), ref, rel_tol=1e-12)
    assert math.isclose(float(pn[1]), 2 * ref, rel_tol=1e-12)
    with pytest.raises(ValueError):
        inr.path_norm(inr.INR(inr.Spec("relu", 4), 2, 1))


def test_fit_learns_and_is_deterministic():
    img = torch.rand(8, 8, 1, generator=torch.Generator().manual_seed(0))
    kw = dict(iters=60, lr=3e-3, truth=img, track_norm=True, seed=1)
    a = inr.fit(inr.Spec("bw", 32, c=(3.0,)), (8, 8, 1), img, **kw)
    b = inr.fit(inr.Spec("bw", 32, c=(3.0,)), (8, 8, 1), img, **kw)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.loss, b.loss)
    assert a.loss[-1, 0] < 0.5 * a.loss[0, 0]
    assert np.allclose(a.psnr[:, 0], -10 * np.log10(a.loss[:, 0]), atol=1e-3)
    assert a.pn.shape == (60, 1) and a.flops_per_step > 0
    with pytest.raises(ValueError):
        inr.fit(inr.Spec("relu", 4), (8, 8, 1), img, iters=0, lr=1e-3)


def test_fit_stop_rule_truncates_at_the_stopping_model():
    img = torch.rand(8, 8, 1, generator=torch.Generator().manual_seed(0))
    kw = {"lr": 3e-3, "truth": img, "track_norm": True, "seed": 1}
    full = inr.fit(inr.Spec("bw", 32, c=(3.0,)), (8, 8, 1), img, iters=60, **kw)
    target = float(full.loss[30, 0])
    hit = int(np.flatnonzero(full.loss[:, 0] <= target)[0])
    s = inr.fit(inr.Spec("bw", 32, c=(3.0,)), (8, 8, 1), img, iters=60,
                stop=lambda t, loss: bool((loss <= target).all()), **kw)
    assert s.loss.shape == (hit + 1, 1) and s.pn.shape == (hit + 1, 1)
    assert np.array_equal(s.loss, full.loss[:hit + 1])
    # the returned image is the model that reached the target (no update after the stop)
    assert np.isclose(-10 * np.log10(np.mean((s.image[0] - img.numpy()) ** 2)),
                      s.psnr[-1, 0], atol=1e-3)
    # a stop that never fires changes nothing
    n = inr.fit(inr.Spec("bw", 32, c=(3.0,)), (8, 8, 1), img, iters=60,
                stop=lambda t, loss: False, **kw)
    assert np.array_equal(n.loss, full.loss) and np.array_equal(n.image, full.image)


def test_shallow_1d_tv_equals_norm_and_doubles_with_c():
    x = np.linspace(-1, 1, 20)
    y = np.where(x < -1 / 3, 0.0, np.where(x < 1 / 3, 0.5, 1.0))
    net, hist = inr.fit_1d(x, y, [1.0, 3.0], width=20, iters=200, seed=0)
    assert hist[-1].max() < hist[0].min()
    tv = inr.tv_derivative(net)
    assert np.allclose(tv, net.norm_bound(), rtol=1e-9)
    dbl = net.with_c(2 * net.c)
    assert np.allclose(inr.tv_derivative(dbl), 2 * tv, rtol=1e-9)
    # on a window the TV can only be smaller
    assert np.all(inr.tv_derivative(net, -1, 1) <= tv + 1e-12)
    # derivative matches finite differences of f away from kinks
    xs = np.array([0.123, -0.456])
    fd = (net(xs + 1e-7) - net(xs - 1e-7)) / 2e-7
    assert np.allclose(fd, net.derivative(xs), atol=1e-5)


def test_gemm_gflops_positive():
    assert inr.gemm_gflops(64, 32, 32, repeats=2) > 0


# ---- fused activations (torch.compile) -------------------------------------------------------

def _wire_ref(z, om, sg):
    return torch.exp(1j * om * z - (sg * z).abs().square())


@pytest.fixture
def compile_small(monkeypatch):
    """Compile even the tests' small tensors."""
    monkeypatch.setattr(inr, "COMPILE_MIN_ELEMENTS", 0)


@pytest.mark.parametrize("name", ["bw", "siren", "gauss", "wire_real_block", "wire_block"])
def test_fused_activations_equal_their_definitions(name, compile_small):
    g = torch.Generator().manual_seed(0)
    z = (torch.rand(2, 37, 6, generator=g, dtype=torch.float64) * 4 - 1).requires_grad_()
    c = torch.tensor([3.0, 0.5], dtype=torch.float64).view(2, 1, 1)
    om, sg = torch.tensor(7.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
    zr = z.detach().clone().requires_grad_()
    if name == "bw":
        out, ref = inr.fused_activation("bw")(z, c), inr.psi_relu(c * zr)
    elif name == "siren":
        out, ref = inr.fused_activation("siren")(z, om), torch.sin(om * zr)
    elif name == "gauss":
        out, ref = inr.fused_activation("gauss")(z, sg), torch.exp(-(sg * zr) ** 2)
    elif name == "wire_real_block":
        out = inr.fused_activation("wire_real_block")(z, om, sg)
        w = _wire_ref(zr, om, sg)
        ref = torch.cat([w.real, w.imag], dim=-1)
    else:                                   # z = [Re | Im]: 3 complex features
        out = inr.fused_activation("wire_block")(z, om, sg)
        w = _wire_ref(torch.complex(zr[..., :3], zr[..., 3:]), om, sg)
        ref = torch.cat([w.real, w.imag], dim=-1)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    weights = torch.rand(out.shape, generator=g, dtype=torch.float64)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    assert torch.allclose(z.grad, zr.grad, rtol=0, atol=1e-11)


def test_fused_activation_rejects_unknown_name():
    with pytest.raises(ValueError, match="valid"):
        inr.fused_activation("tanh")


def test_compile_failure_falls_back_to_eager_with_a_warning(monkeypatch, compile_small):
    def broken(fn, **kw):
        def call(*a):
            raise RuntimeError("no C compiler\nsecond line")
        return call
    monkeypatch.setattr(inr, "_FUSED", {})
    monkeypatch.setitem(inr._COMPILE, "mode", None)
    monkeypatch.setitem(inr._COMPILE, "reason", "")
    monkeypatch.setattr(torch, "compile", broken)
    z = torch.linspace(-1, 4, 101, dtype=torch.float64).view(1, 1, -1)
    c = torch.ones(1, 1, 1, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="eager"):
        out = inr.fused_activation("bw")(z, c)
    assert torch.allclose(out, inr.psi_relu(z), atol=1e-14)
    assert inr.compile_mode().startswith("eager (torch.compile failed: RuntimeError: no C")
    out2 = inr.fused_activation("siren")(z, torch.tensor(2.0, dtype=torch.float64))
    assert torch.equal(out2, torch.sin(2 * z))             # stays eager, no second warning


def test_relubook_compile_0_selects_eager(monkeypatch, compile_small):
    monkeypatch.setattr(inr, "_FUSED", {})
    monkeypatch.setitem(inr._COMPILE, "mode", None)
    monkeypatch.setenv("RELUBOOK_COMPILE", "0")
    z = torch.linspace(-1, 4, 11).view(1, 1, -1)
    out = inr.fused_activation("bw")(z, torch.full((1, 1, 1), 2.0))
    assert inr.compile_mode() == "eager (RELUBOOK_COMPILE=0)"
    assert torch.allclose(out, inr.psi_relu(2 * z), atol=1e-5)   # float32 rounding of the sum


def test_small_tensors_stay_eager(monkeypatch):
    monkeypatch.setattr(inr, "_FUSED", {})
    monkeypatch.setitem(inr._COMPILE, "mode", None)
    monkeypatch.setitem(inr._COMPILE, "small", False)
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: pytest.fail("compiled a small tensor"))
    z = torch.linspace(-1, 4, 11).view(1, 1, -1)
    inr.fused_activation("bw")(z, torch.ones(1, 1, 1))
    assert inr.compile_mode() == "eager (every tensor below the compile threshold)"


def test_wire_block_forward_equals_complex_forward(compile_small):
    from relubook.core import mlp
    m = inr.INR(inr.Spec("wire", 12, layers=3, omega0=5.0, sigma0=2.0), 2, 3, seed=2,
                dtype=torch.float64)
    x = inr.grid(5, 4, dtype=torch.float64)
    fast = m(x)
    ref = mlp.forward(m.net(), x, act=m.activation).real
    assert fast.shape == ref.shape == (1, 20, 3)
    assert torch.allclose(fast, ref, rtol=0, atol=1e-12)
    fast.sum().backward()
    g_fast = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    ref.sum().backward()
    for a, b in zip(g_fast, (p.grad for p in m.parameters())):
        assert torch.allclose(a, b, rtol=0, atol=1e-11)

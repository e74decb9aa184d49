"""Unit tests of relubook.tomography (Radon, FBP, box average, bicubic)."""

import numpy as np
import pytest
import torch

from relubook.topics import images, tomography as tg


@pytest.mark.parametrize("size", [32, 33])
def test_radon_equals_skimage(size):
    from skimage.transform import radon

    img = images.stand_in("phantom", size)[..., 0].astype(np.float64)
    th = tg.angles(12)
    ours = tg.Radon(size, th, dtype=torch.float64)(torch.from_numpy(img)).numpy()
    ref = radon(img, theta=th, circle=True).T
    assert ours.shape == (12, size)
    assert np.abs(ours - ref).max() <= 1e-10 * np.abs(ref).max()


def test_radon_gap_is_rounding():
    img = images.stand_in("phantom", 32)[..., 0].astype(np.float64)
    assert tg.radon_gap(img, tg.angles(8)) <= 1e-12
    rnd = np.random.default_rng(0).random((33, 33)) * images.disc_mask(33)
    assert tg.radon_gap(rnd, tg.angles(7)) <= 1e-12
    with pytest.raises(ValueError):
        tg.radon_gap(np.zeros((4, 5)), [0.0])


def test_radon_batched_and_differentiable():
    R = tg.Radon(16, tg.angles(5), dtype=torch.float64)
    x = torch.rand(3, 16, 16, dtype=torch.float64, requires_grad=True)
    s = R(x)
    assert s.shape == (3, 5, 16)
    assert torch.allclose(s[1], R(x[1].detach()))
    # linear operator: <R x, y> = <x, R^T y> checked through autograd
    y = torch.rand_like(s)
    (s * y).sum().backward()
    z = torch.rand(3, 16, 16, dtype=torch.float64)
    assert torch.allclose((R(z) * y).sum(), (z * x.grad).sum())
    # angle 0 sums the columns of the unrotated image
    assert torch.allclose(s[0, 0].detach(), x[0].detach().sum(0))


def test_radon_bad_input():
    with pytest.raises(ValueError):
        tg.Radon(16, [])
    with pytest.raises(ValueError):
        tg.Radon(16, [0.0])(torch.zeros(8, 8))
    with pytest.raises(ValueError):
        tg.angles(0)


def test_angles_exclude_endpoint():
    a = tg.angles(4)
    assert np.allclose(a, [0, 45, 90, 135])


def test_fbp_reasonable():
    img = images.stand_in("phantom", 48)[..., 0]
    rec = tg.fbp(img, tg.angles(60))
    assert rec.shape == img.shape
    assert images.psnr(rec, img) > 20
    with pytest.raises(ValueError):
        tg.fbp(np.zeros((4, 5)), [0.0])


def test_box_down_and_bicubic():
    img = torch.arange(64, dtype=torch.float64).reshape(8, 8, 1)
    lr = tg.box_down(img[None], 4)
    assert lr.shape == (1, 2, 2, 1)
    assert float(lr[0, 0, 0, 0]) == float(img[:4, :4].mean())
    const = np.full((4, 4, 3), 0.25)
    assert np.allclose(tg.bicubic_up(const, 4), 0.25)
    assert tg.bicubic_up(const, 4).shape == (16, 16, 3)
    with pytest.raises(ValueError):
        tg.box_down(torch.zeros(1, 6, 8, 1), 4)


def test_measurements_per_pixel():
    assert abs(tg.measurements_per_pixel(30, 96) - 30 * 96 / (np.pi * 96 ** 2 / 4)) < 1e-12


def test_sparse_matrix_equals_grid_sample_values_and_gradients():
    for size, n_angles in ((17, 5), (32, 12)):
        theta = tg.angles(n_angles)
        sparse = tg.Radon(size, theta, dtype=torch.float64)
        grid = tg.Radon(size, theta, dtype=torch.float64, method="grid")
        g = torch.Generator().manual_seed(size)
        x = torch.rand(3, size, size, generator=g, dtype=torch.float64, requires_grad=True)
        y = x.detach().clone().requires_grad_()
        a, b = sparse(x), grid(y)
        assert a.shape == b.shape == (3, n_angles, size)
        assert torch.allclose(a, b, rtol=0, atol=1e-12)
        w = torch.rand(a.shape, generator=g, dtype=torch.float64)
        (a * w).sum().backward()
        (b * w).sum().backward()
        assert torch.allclose(x.grad, y.grad, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="valid"):
        tg.Radon(8, tg.angles(3), method="fft")

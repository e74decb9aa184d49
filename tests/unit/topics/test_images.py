"""Unit tests of relubook.images (stand-ins, PSNR, SSIM)."""

import numpy as np
import pytest

from relubook.topics import images


@pytest.mark.parametrize("name,ch", [("camera", 1), ("phantom", 1), ("astronaut", 3)])
def test_stand_in_shapes_and_range(name, ch):
    img = images.stand_in(name, 32)
    assert img.shape == (32, 32, ch) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() <= 1


def test_phantom_is_zero_outside_disc():
    img = images.stand_in("phantom", 40)[..., 0]
    assert np.all(img[images.disc_mask(40) == 0] == 0)


def test_bad_names():
    with pytest.raises(ValueError, match="valid"):
        images.stand_in("lena", 32)
    with pytest.raises(ValueError):
        images.psnr(np.zeros(3), np.zeros(4))


def test_psnr_ssim():
    ref = np.zeros((8, 8, 1))
    assert np.isclose(images.psnr(ref + 0.1, ref), 20.0)
    assert images.psnr(ref, ref) == float("inf")
    rng = np.random.default_rng(0)
    a = rng.random((16, 16, 3))
    assert np.isclose(images.ssim(a, a), 1.0)
    assert images.ssim(a, rng.random((16, 16, 3))) < 0.5

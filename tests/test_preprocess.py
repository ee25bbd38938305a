"""Each pre-processing step on inputs with known outcomes, and the pipeline's switches."""

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from benchmark.data.preprocess import (PreprocessConfig, center_crop, corner_mask, gaussian_blur, inpaint_corners,
                                       preprocess_image, preprocess_pair, resize_image, resize_mask, unsharp_mask,
                                       zscore)
from benchmark.core.errors import BenchmarkError

OFF = PreprocessConfig(crop=None, inpaint_corners=False, unsharp_amount=0.0, zscore=False, size=None)


def test_center_crop_keeps_the_centred_square():
    a = np.arange(100).reshape(10, 10)
    assert np.array_equal(center_crop(a, 0.6), a[2:8, 2:8])
    assert np.array_equal(center_crop(a, 1.0), a)


def _with_corners(size=128, bright=150.0):
    rng = np.random.default_rng(0)
    image = bright + rng.normal(0, 3, (size, size))
    yy, xx = np.mgrid[:size, :size]
    corners = (np.abs(xx - size / 2 + 0.5) + np.abs(yy - size / 2 + 0.5)) > 0.8 * size
    image[corners] = 15.0
    return image.astype(np.float32), corners


def test_inpainting_fills_the_dark_corners_and_leaves_the_interior():
    image, corners = _with_corners()
    assert corner_mask(image)[corners].all()
    filled = inpaint_corners(image)
    assert abs(filled[corners].mean() - 150.0) < 10
    found = corner_mask(image)
    assert np.array_equal(filled[~found], image[~found])


def test_a_dark_vessel_inside_the_image_is_not_taken_for_a_corner():
    image, _ = _with_corners()
    image[40:44, 30:100] = 10.0
    assert not corner_mask(image)[40:44, 40:90].any()


def test_unsharp_mask_leaves_a_constant_image_and_overshoots_a_step_on_both_sides():
    constant = np.full((64, 64), 7.0, np.float32)
    assert np.allclose(unsharp_mask(constant, 5, 1.0), 7.0, atol=1e-4)
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    out = unsharp_mask(step, 4, 1.0)
    assert out[:, 30].mean() < -0.05 and out[:, 33].mean() > 1.05
    assert np.allclose(out[:, :2], 0.0, atol=0.01) and np.allclose(out[:, -2:], 1.0, atol=0.01)


def test_fft_blur_equals_scipy_gaussian_filter():
    image = np.random.default_rng(1).normal(size=(80, 96)).astype(np.float32)
    assert np.allclose(gaussian_blur(image, 6.0), ndimage.gaussian_filter(image, 6.0, mode="reflect"), atol=1e-4)


def test_zscore_gives_zero_mean_unit_std_and_zeros_for_a_constant_image():
    x = zscore(np.random.default_rng(0).uniform(0, 255, (32, 32)))
    assert abs(x.mean()) < 1e-5 and x.std() == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(zscore(np.full((4, 4), 3.0)), np.zeros((4, 4), np.float32))


def test_resize_mask_is_nearest_and_stays_binary():
    mask = np.zeros((8, 8), bool)
    mask[:4, :4] = True
    small = resize_mask(mask, 4)
    assert small.dtype == bool and np.array_equal(small, np.kron([[1, 0], [0, 0]], np.ones((2, 2))).astype(bool))
    assert resize_image(np.ones((8, 8)), 4).shape == (4, 4)


def test_every_step_can_be_switched_off():
    image = np.random.default_rng(0).integers(0, 255, (40, 40)).astype(np.uint8)
    assert np.array_equal(preprocess_image(image, OFF), image.astype(np.float32))
    only_crop = dataclasses.replace(OFF, crop=0.5)
    assert preprocess_image(image, only_crop).shape == (20, 20)
    only_z = dataclasses.replace(OFF, zscore=True)
    assert abs(preprocess_image(image, only_z).mean()) < 1e-5


def test_the_paper_pipeline_keeps_image_and_mask_aligned():
    image = np.full((64, 64), 120, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[28:36, :] = True
    image[mask] = 40
    cfg = dataclasses.replace(PreprocessConfig.paper(), size=32)
    x, m = preprocess_pair(image, mask, cfg)
    assert x.shape == m.shape == (32, 32) and m.dtype == bool
    assert x[m].mean() < x[~m].mean() - 1.0


def test_mismatched_image_and_mask_are_refused():
    with pytest.raises(BenchmarkError, match="differ in shape"):
        preprocess_pair(np.zeros((8, 8), np.uint8), np.zeros((8, 9), bool), OFF)


def test_bad_settings_name_the_option():
    with pytest.raises(BenchmarkError, match="preprocess.crop"):
        PreprocessConfig(crop=1.5)


def test_center_crop_of_a_wide_array_takes_a_square_of_the_shorter_side():
    a = np.arange(200).reshape(10, 20)
    assert np.array_equal(center_crop(a, 0.5), a[2:7, 7:12])


def test_paper_crop_keeps_475_of_512():
    assert center_crop(np.zeros((512, 512)), PreprocessConfig.paper().crop).shape == (475, 475)


def test_inpainting_continues_the_brightness_of_the_nearby_tissue():
    image, corners = _with_corners()
    image[:, 64:][~corners[:, 64:]] += 80.0  # right half brighter: its corners must be filled brighter
    filled = inpaint_corners(image)
    left, right = corners.copy(), corners.copy()
    left[:, 64:], right[:, :64] = False, False
    assert abs(filled[left].mean() - 150.0) < 15 and abs(filled[right].mean() - 230.0) < 15


def test_unsharp_step_overshoot_matches_the_gaussian_tail():
    # 0.5 px from a step, a sigma-4 blur is Φ(−1/8) ≈ 0.450 away from the step's value,
    # so amount 1 undershoots to −0.450 on the dark side and overshoots to 1.450 on the bright one.
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    out = unsharp_mask(step, 4, 1.0)
    assert out[:, 31] == pytest.approx(-0.450, abs=0.005) and out[:, 32] == pytest.approx(1.450, abs=0.005)
    assert np.allclose(unsharp_mask(step, 4, 3.0), step + 3.0 * (step - ndimage.gaussian_filter(step, 4)), atol=1e-4)


def test_resize_mask_upsampling_repeats_each_pixel():
    mask = np.array([[True, False], [False, True]])
    assert np.array_equal(resize_mask(mask, 4), np.kron(mask, np.ones((2, 2), bool)))
    assert np.allclose(resize_image(np.full((10, 10), 3.0), 7), 3.0, atol=1e-5)


@pytest.mark.parametrize("step", ["crop", "inpaint", "unsharp", "zscore", "size"])
def test_a_pipeline_with_one_step_on_equals_that_step_alone(step):
    image, _ = _with_corners(size=256)
    image = np.clip(image, 0, 255).astype(np.uint8)
    x = image.astype(np.float32)
    only, expected = {
        "crop": (dict(crop=0.75), lambda: center_crop(x, 0.75)),
        "inpaint": (dict(inpaint_corners=True), lambda: inpaint_corners(x, 0.3, scale=0.5)),
        "unsharp": (dict(unsharp_amount=2.0), lambda: unsharp_mask(x, 30.0, 2.0)),  # radius 60 at 512 → 30 at 256
        "zscore": (dict(zscore=True), lambda: zscore(x)),
        "size": (dict(size=64), lambda: resize_image(x, 64)),
    }[step]
    assert np.allclose(preprocess_image(image, dataclasses.replace(OFF, **only)), expected(), atol=1e-5)

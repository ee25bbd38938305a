"""Each batched augmentation's effect, checked alone with probability 1."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from benchmark.data.augment import AugmentConfig, augment_batch, gaussian_blur
from benchmark.core.errors import BenchmarkError

OFF = AugmentConfig.none()


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(b=4, size=16):
    torch.manual_seed(0)
    images = torch.randn(b, 1, size, size)
    masks = torch.zeros(b, size, size, dtype=torch.bool)
    masks[:, 2:6, 3:12] = True
    return images, masks


def test_none_is_the_identity():
    images, masks = _batch()
    x, m = augment_batch(images, masks, OFF, _gen())
    assert torch.equal(x, images) and torch.equal(m, masks)


def test_horizontal_flip_mirrors_image_and_mask_alike():
    images, masks = _batch()
    x, m = augment_batch(images, masks, dataclasses.replace(OFF, hflip_p=1.0), _gen())
    assert torch.equal(x, images.flip(3)) and torch.equal(m, masks.flip(2))


def test_rotation_turns_image_and_mask_by_the_same_multiple_of_90_degrees():
    images, masks = _batch(b=8)
    x, m = augment_batch(images, masks, dataclasses.replace(OFF, rot90_p=1.0), _gen())
    for i in range(8):
        turns = [k for k in (1, 2, 3) if torch.equal(x[i], torch.rot90(images[i], k, (1, 2)))]
        assert len(turns) == 1
        assert torch.equal(m[i], torch.rot90(masks[i], turns[0], (0, 1)))


def test_geometric_transforms_keep_the_mask_on_the_image():
    images, masks = _batch(b=6, size=32)
    images = masks[:, None].float()  # the image is its mask: geometry must keep them equal
    config = dataclasses.replace(OFF, crop_p=1.0, hflip_p=0.5, vflip_p=0.5, rot90_p=0.5)
    x, m = augment_batch(images, masks, config, _gen(3))
    assert m.dtype == torch.bool and m.shape == masks.shape
    seen = x[:, 0] > 0.5  # bilinear image vs nearest mask: they may differ only along edges
    iou = (seen & m).flatten(1).sum(1) / (seen | m).flatten(1).sum(1)
    assert (iou > 0.8).all(), iou
    assert not torch.equal(m, masks)  # the crops did change something


def test_noise_adds_the_configured_standard_deviation():
    images = torch.zeros(8, 1, 64, 64)
    x, _ = augment_batch(images, torch.zeros(8, 64, 64, dtype=torch.bool),
                         dataclasses.replace(OFF, noise_p=1.0, noise_std=0.3), _gen())
    assert x.std().item() == pytest.approx(0.3, rel=0.05)


def test_blur_lowers_the_variance_of_a_checkerboard_and_keeps_its_mean():
    board = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2).float()[None, None].repeat(2, 1, 1, 1)
    x, _ = augment_batch(board, torch.zeros(2, 16, 16, dtype=torch.bool),
                         dataclasses.replace(OFF, blur_p=1.0, blur_sigma=(1.0, 1.0)), _gen())
    assert x.var() < 0.1 * board.var()
    assert x.mean().item() == pytest.approx(0.5, abs=0.02)


def test_brightness_and_contrast_shift_and_scale_around_the_mean():
    images, masks = _batch()
    config = dataclasses.replace(OFF, intensity_p=1.0, brightness=(0.5, 0.5), contrast=(2.0, 2.0))
    x, _ = augment_batch(images, masks, config, _gen())
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(x, (images - mean) * 2.0 + mean + 0.5, atol=1e-6)


def test_downscale_keeps_the_shape_and_loses_detail():
    board = ((torch.arange(32)[:, None] + torch.arange(32)[None]) % 2).float()[None, None]
    x, _ = augment_batch(board, torch.zeros(1, 32, 32, dtype=torch.bool),
                         dataclasses.replace(OFF, downscale_p=1.0, downscale=(0.5, 0.5)), _gen())
    assert x.shape == board.shape and x.var() < 0.1 * board.var()


def test_same_generator_seed_gives_identical_batches():
    images, masks = _batch(b=6, size=32)
    a = augment_batch(images, masks, AugmentConfig(), _gen(7))
    b = augment_batch(images, masks, AugmentConfig(), _gen(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = augment_batch(images, masks, AugmentConfig(), _gen(8))
    assert not torch.equal(a[0], c[0])


def test_vertical_flip_mirrors_image_and_mask_alike():
    images, masks = _batch()
    x, m = augment_batch(images, masks, dataclasses.replace(OFF, vflip_p=1.0), _gen())
    assert torch.equal(x, images.flip(2)) and torch.equal(m, masks.flip(1))


def test_geometry_moves_each_mask_pixel_with_the_image_coordinate_it_came_from():
    # Images are coordinate ramps, which bilinear resampling reproduces exactly; the mask is the
    # quadrant x < 10.5, y < 6.5 (half-integer bounds, so nearest rounding lands on the same side).
    size = 24
    coords = torch.arange(size, dtype=torch.float64)
    x_ramp = coords[None, None, None, :].expand(6, 1, size, size).contiguous()
    y_ramp = coords[None, None, :, None].expand(6, 1, size, size).contiguous()
    masks = (x_ramp[:, 0] < 10.5) & (y_ramp[:, 0] < 6.5)
    config = dataclasses.replace(OFF, crop_p=1.0, crop_scale=(0.5, 0.9), hflip_p=0.5, vflip_p=0.5, rot90_p=0.5)
    seen_x, m = augment_batch(x_ramp, masks, config, _gen(5))
    seen_y, m_again = augment_batch(y_ramp, masks, config, _gen(5))  # same draws: they ignore content
    assert torch.equal(m, m_again)
    assert torch.equal(m, (seen_x[:, 0] < 10.5) & (seen_y[:, 0] < 6.5))
    assert not torch.equal(m, masks)


def test_crop_zooms_by_the_drawn_scale():
    # A crop keeping half the side stretches a unit-slope ramp to slope 1/2 everywhere inside.
    ramp = torch.arange(32, dtype=torch.float64)[None, None, None, :].expand(3, 1, 32, 32).contiguous()
    x, _ = augment_batch(ramp, torch.zeros(3, 32, 32, dtype=torch.bool),
                         dataclasses.replace(OFF, crop_p=1.0, crop_scale=(0.5, 0.5)), _gen())
    assert torch.allclose(x[..., 2:-2].diff(dim=-1), torch.full_like(x[..., 2:-3], 0.5), atol=1e-9)


def test_integer_label_masks_keep_their_dtype_and_labels():
    images, _ = _batch(b=4, size=16)
    labels = torch.zeros(4, 1, 16, 16, dtype=torch.long)
    labels[:, :, 2:6, 3:9] = 1
    labels[:, :, 9:14, 4:12] = 2
    config = dataclasses.replace(OFF, crop_p=1.0, hflip_p=0.5, rot90_p=0.5)
    _, m = augment_batch(images, labels, config, _gen(1))
    assert m.dtype == torch.long and m.shape == labels.shape
    assert set(m.unique().tolist()) == {0, 1, 2}


def test_downscale_equals_shrinking_and_stretching_back_by_interpolation():
    images = torch.randn(3, 1, 30, 30, generator=_gen(2))
    x, _ = augment_batch(images, torch.zeros(3, 30, 30, dtype=torch.bool),
                         dataclasses.replace(OFF, downscale_p=1.0, downscale=(0.7, 0.7)), _gen())
    small = F.interpolate(images, size=(21, 21), mode="bilinear", align_corners=False)
    assert torch.allclose(x, F.interpolate(small, size=(30, 30), mode="bilinear", align_corners=False), atol=1e-5)


def test_each_sample_draws_its_own_low_resolution():
    images = torch.randn(6, 1, 16, 16, generator=_gen(2))
    x, _ = augment_batch(images, torch.zeros(6, 16, 16, dtype=torch.bool),
                         dataclasses.replace(OFF, downscale_p=1.0, downscale=(0.2, 1.0)), _gen(4))

    def round_trip(i, side):
        small = F.interpolate(images[i:i + 1], size=(side, side), mode="bilinear", align_corners=False)
        return F.interpolate(small, size=(16, 16), mode="bilinear", align_corners=False)[0]

    sides = [[s for s in range(1, 17) if torch.allclose(x[i], round_trip(i, s), atol=1e-5)] for i in range(6)]
    assert all(len(found) == 1 for found in sides), sides
    assert len({found[0] for found in sides}) > 1


def test_bad_settings_name_the_option():
    with pytest.raises(BenchmarkError, match="augment.crop_scale"):
        AugmentConfig(crop_scale=(0.0, 1.0))
    with pytest.raises(BenchmarkError, match="augment.hflip_p"):
        AugmentConfig(hflip_p=1.5)


def test_blur_of_an_impulse_has_variance_sigma_squared():
    impulse = torch.zeros(1, 1, 41, 41)
    impulse[0, 0, 20, 20] = 1.0
    sigma = 2.0
    blurred = gaussian_blur(impulse, torch.tensor([sigma]), max_sigma=sigma)[0, 0]
    offsets = torch.arange(-20, 21, dtype=torch.float32)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)
    variance_x = (blurred.sum(dim=0) * offsets**2).sum().item()
    assert variance_x == pytest.approx(sigma**2, rel=0.03)  # truncation at 3σ removes ~1 %


def test_blur_leaves_unselected_images_and_constant_images_unchanged():
    torch.manual_seed(0)
    images = torch.randn(2, 1, 12, 12)
    images[1] = 0.7
    out = gaussian_blur(images, torch.tensor([0.0, 1.5]), max_sigma=1.5)
    assert torch.equal(out[0], images[0])
    assert torch.allclose(out[1], images[1], atol=1e-6)

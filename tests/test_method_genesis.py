"""Models Genesis: each corruption does exactly what the paper says, and the loss restores the original."""

from dataclasses import replace

import pytest
import torch

from benchmark.model.unet import UNet, UNetConfig
from methods._genesis_transforms import (
    Boxes,
    bezier_map,
    local_pixel_shuffle,
    nonlinear_intensity,
    paint,
    random_flip,
    shuffle_within_blocks,
)
from methods.genesis import GenesisConfig, ModelsGenesis

CFG = GenesisConfig()


@pytest.fixture(autouse=True)
def _seeded_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def distinct_images(batch: int, size: int) -> torch.Tensor:
    """Every pixel a different value, so a pixel's value tells where it came from."""
    return torch.arange(batch * size * size, dtype=torch.float32).view(batch, 1, size, size)


def test_shuffle_keeps_each_blocks_pixels_and_leaves_unselected_blocks_alone():
    x = distinct_images(2, 16)
    rows, cols = torch.meshgrid(torch.arange(16) // 4, torch.arange(16) // 4, indexing="ij")
    ids = (rows * 4 + cols).expand(2, 16, 16)  # a 4×4 grid of 4×4 blocks
    selected = (rows + cols) % 2 == 0  # a checkerboard of blocks: 8 shuffled per image
    out = shuffle_within_blocks(x, ids, selected.expand(2, 16, 16))
    assert torch.equal(out[:, 0][:, ~selected], x[:, 0][:, ~selected])
    for block in range(16):
        inside = ids[0] == block
        before, after = x[:, 0][:, inside], out[:, 0][:, inside]
        assert torch.equal(after.sort(dim=1).values, before.sort(dim=1).values)
        if selected[inside].all():  # 16 distinct pixels left in place by chance: p = 1/16!
            assert (after != before).any(dim=1).all()


def test_local_shuffle_moves_pixels_by_less_than_a_block_side():
    size, max_side = 32, 4
    x = distinct_images(3, size)
    out = local_pixel_shuffle(x, p=1.0, max_side=max_side, coverage=1.0)
    assert torch.equal(out.flatten(1).sort(dim=1).values, x.flatten(1).sort(dim=1).values)
    source = out.long() % (size * size)
    dy = (source // size - torch.arange(size).view(1, 1, size, 1)).abs()
    dx = (source % size - torch.arange(size).view(1, 1, 1, size)).abs()
    assert dy.max() <= max_side - 1 and dx.max() <= max_side - 1
    assert (out != x).float().mean() > 0.5  # coverage 1: most pixels move
    assert torch.equal(local_pixel_shuffle(x, p=0.0, max_side=max_side, coverage=1.0), x)


def test_bezier_with_evenly_spaced_collinear_controls_is_the_identity_or_its_inverse():
    ramp = torch.linspace(0, 1, 64 * 64).view(1, 1, 64, 64).expand(2, 1, 64, 64)
    controls = torch.tensor([[1 / 3, 1 / 3, 2 / 3, 2 / 3]]).expand(2, 4)
    out = bezier_map(ramp, controls, inverted=torch.tensor([False, True]))
    torch.testing.assert_close(out[0], ramp[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], 1 - ramp[1], atol=1e-5, rtol=0)


def test_random_bezier_maps_are_monotone_from_end_to_end_of_unit_range():
    ramp = torch.linspace(0, 1, 32 * 32).view(1, 1, 32, 32).expand(64, 1, 32, 32)
    out = nonlinear_intensity(ramp, p=1.0, invert_p=0.5).flatten(1)
    assert out.min() >= 0 and out.max() <= 1
    steps = out.diff(dim=1)
    rising = out[:, 0] < out[:, -1]
    assert 0 < rising.sum() < 64  # both directions occur
    assert (steps[rising] >= -1e-6).all() and (steps[~rising] <= 1e-6).all()
    torch.testing.assert_close(out[rising][:, [0, -1]], torch.tensor([[0.0, 1.0]]).expand(int(rising.sum()), 2))
    torch.testing.assert_close(out[~rising][:, [0, -1]], torch.tensor([[1.0, 0.0]]).expand(int((~rising).sum()), 2))
    assert (out - ramp.flatten(1)).abs().amax(dim=1).gt(0.01).float().mean() > 0.9  # not the identity


def test_outpainting_keeps_inner_boxes_exactly_and_fills_the_frame_with_noise():
    x = torch.full((16, 1, 64, 64), 2.0)  # outside the [0, 1) noise range: any change shows
    out, noisy = paint(x, p=1.0, outpaint_p=1.0, inpaint=CFG.inpaint, outpaint=CFG.outpaint)
    assert (out[~noisy] == 2.0).all() and (out[noisy] < 1.0).all()
    frame = torch.ones(64, 64, dtype=torch.bool)
    frame[3:-3, 3:-3] = False
    assert noisy[:, 0][:, frame].all()  # boxes keep a 3-px margin, so the border is always noise
    smallest_first_box = int(3 / 7 * 64) ** 2
    assert ((~noisy).flatten(1).sum(dim=1) >= smallest_first_box).all()


def test_inpainting_changes_only_inside_its_boxes():
    x = torch.full((16, 1, 64, 64), 2.0)
    out, noisy = paint(x, p=1.0, outpaint_p=0.0, inpaint=CFG.inpaint, outpaint=CFG.outpaint)
    assert torch.equal(out != 2.0, noisy)
    assert not noisy[..., :3, :].any() and not noisy[..., -3:, :].any()
    assert not noisy[..., :3].any() and not noisy[..., -3:].any()
    largest_box = int(64 / 3) ** 2
    assert (noisy.flatten(1).sum(dim=1) <= 5 * largest_box).all()
    assert noisy.flatten(1).any(dim=1).float().mean() > 0.8  # the first box comes with p 0.95


def test_one_in_painted_box_of_fixed_side_covers_exactly_its_area():
    box = Boxes(count=1, side=(0.25, 0.25), first_p=1.0)  # always one 8×8 box on 32×32
    _, noisy = paint(torch.full((4, 1, 32, 32), 2.0), 1.0, 0.0, inpaint=box, outpaint=(box,))
    assert torch.equal(noisy.flatten(1).sum(dim=1), torch.full((4,), 64))


def test_outpainting_is_chosen_for_about_four_in_five_painted_images():
    x = torch.full((1000, 1, 16, 16), 2.0)
    _, noisy = paint(x, p=1.0, outpaint_p=0.8, inpaint=Boxes(1, (0.25, 0.25)), outpaint=CFG.outpaint)
    outpainted = noisy[:, 0, 0, 0].float().mean()  # only out-painting reaches the corner
    assert 0.75 < outpainted < 0.85


def test_certain_flips_mirror_exactly_one_axis():
    x = distinct_images(32, 8)
    out = random_flip(x, p=1.0, max_flips=3)  # three flips over two axes: one axis flipped odd times
    vertical = (out == x.flip(-2)).flatten(1).all(dim=1)
    horizontal = (out == x.flip(-1)).flatten(1).all(dim=1)
    assert torch.equal(vertical ^ horizontal, torch.ones(32, dtype=torch.bool))
    assert 0 < vertical.sum() < 32


def genesis(cfg: GenesisConfig, head_bias: float) -> ModelsGenesis:
    """A method whose restoration is the constant `head_bias`, so the loss is known by hand."""
    method = ModelsGenesis(UNet(UNetConfig(base=4)), cfg)
    with torch.no_grad():
        method.restore_head.weight.zero_()
        method.restore_head.bias.fill_(head_bias)
    return method


def two_level_images(low: float = -3.0, high: float = 5.0) -> torch.Tensor:
    """Left half `low`, right half `high`: in [0, 1] the target is 0 and 1, half each."""
    x = torch.full((2, 1, 64, 64), low)
    x[..., 32:] = high
    return x


def test_without_corruption_the_input_is_the_min_max_scaled_original():
    off = replace(CFG, flip_p=0.0, shuffle_p=0.0, nonlinear_p=0.0, paint_p=0.0)
    images = torch.randn(4, 1, 64, 64) * 3 + 1
    corrupted, target = genesis(off, 0.0).make_pair(images)
    assert torch.equal(corrupted, target)
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(target, (images - low) / (high - low))


@pytest.mark.parametrize(("bias", "expected"), [(0.5, 0.25), (0.25, 0.3125), (1.0, 0.5)])
def test_loss_is_the_mse_between_restoration_and_the_uncorrupted_original(bias, expected):
    certain = replace(CFG, flip_p=1.0, shuffle_p=1.0, nonlinear_p=1.0, paint_p=1.0)
    # Target pixels are 0 and 1, half each (flips keep that); a constant restoration c gives
    # ((c − 0)² + (c − 1)²) / 2, whatever the corruption did to the input.
    out = genesis(certain, bias).training_step(two_level_images(), 0, 1, {})
    assert out["loss"].item() == pytest.approx(expected, abs=1e-6)
    assert out["chance"].item() > 0.05  # the input was corrupted


def test_restoring_the_corrupted_input_is_what_the_loss_measures():
    method = ModelsGenesis(UNet(UNetConfig(base=4)))
    images = torch.randn(2, 1, 64, 64)
    torch.manual_seed(7)
    loss = method.training_step(images, 0, 1, {})["loss"]
    torch.manual_seed(7)
    corrupted, target = method.make_pair(images)
    manual = ((method.restore(corrupted) - target) ** 2).mean()
    torch.testing.assert_close(loss, manual)


def test_paper_config_and_recipe_follow_the_study():
    assert (CFG.flip_p, CFG.shuffle_p, CFG.nonlinear_p, CFG.paint_p, CFG.outpaint_p) == (0.4, 0.5, 0.9, 0.9, 0.8)
    recipe = ModelsGenesis.default_recipe("paper")
    assert recipe.optimizer == "sgd" and recipe.epochs <= 256
    assert ModelsGenesis.transfers == "encoder+decoder"

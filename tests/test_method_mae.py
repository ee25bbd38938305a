"""What makes the UNet MAE an MAE: per-image patch masks, zeroed input, loss on masked patches."""

import pytest
import torch

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig
from methods._patches import upsample_mask
from methods.mae import MAE, MAEConfig, reconstruction_loss


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: threads only add overhead


def half_masked_pixels() -> torch.Tensor:
    """1×1×32×32 pixel mask: the left column of 16×16 patches masked, the right one visible."""
    grid = torch.tensor([[[True, False], [True, False]]])
    return upsample_mask(grid, 32, 32)


def make_mae(**cfg) -> MAE:
    torch.manual_seed(0)
    return MAE(UNet(UNetConfig(base=4)), MAEConfig(**cfg))


def test_masked_loss_is_known_mse_over_masked_pixels_only():
    mask = half_masked_pixels()
    target = torch.zeros(1, 1, 32, 32)
    prediction = torch.where(mask, torch.full_like(target, 2.0), torch.full_like(target, 10.0))
    # masked pixels are off by 2 (squared error 4); visible ones by 10 must not count.
    assert reconstruction_loss(prediction, target, mask, "masked").item() == pytest.approx(4.0)
    # over the whole image: half the pixels at 4, half at 100.
    assert reconstruction_loss(prediction, target, mask, "all").item() == pytest.approx(52.0)


def test_masked_loss_ignores_target_changes_at_visible_pixels():
    mask = half_masked_pixels()
    prediction, target = torch.randn(1, 1, 32, 32), torch.randn(1, 1, 32, 32)
    changed = torch.where(mask, target, target + 5.0)
    assert torch.equal(
        reconstruction_loss(prediction, target, mask, "masked"),
        reconstruction_loss(prediction, changed, mask, "masked"),
    )
    assert reconstruction_loss(prediction, changed, mask, "all") != reconstruction_loss(
        prediction, target, mask, "all"
    )


@pytest.mark.parametrize("loss_on, visible_gets_gradient", [("masked", False), ("all", True)])
def test_gradient_reaches_visible_pixels_only_when_scoring_all(loss_on, visible_gets_gradient):
    mask = half_masked_pixels()
    prediction = torch.randn(1, 1, 32, 32, requires_grad=True)
    reconstruction_loss(prediction, torch.randn(1, 1, 32, 32), mask, loss_on).backward()
    assert (prediction.grad[mask] != 0).all()
    visible_grad = prediction.grad[~mask]
    assert (visible_grad != 0).all() if visible_gets_gradient else (visible_grad == 0).all()


def test_each_image_gets_its_own_mask_with_half_the_patches_zeroed():
    method = make_mae()
    images = torch.randn(4, 1, 64, 64) + 3.0  # no pixel is 0 by chance
    masked, pixels = method.mask(images)
    per_image = pixels.flatten(1).sum(dim=1)
    assert per_image.tolist() == [128 * 4 * 4] * 4  # 64 px: 16×16 grid of 4-px patches, 128 masked
    assert not torch.equal(pixels[0], pixels[1])
    assert (masked[pixels] == 0).all()
    assert torch.equal(masked[~pixels], images[~pixels])
    # masks are whole 4×4-px patches
    grid = pixels[:, 0, ::4, ::4]
    assert torch.equal(upsample_mask(grid, 64, 64), pixels)


def test_training_step_reconstructs_with_its_own_one_channel_head():
    method = make_mae(loss_on="all")
    images = torch.randn(2, 1, 64, 64)
    assert method.reconstruct(images).shape == (2, 1, 64, 64)
    method.training_step(images, 0, 1, {})["loss"].backward()
    assert method.recon_head.weight.grad.abs().sum() > 0
    assert method.unet.head.weight.grad is None  # the 2-class segmentation head plays no part


def test_paper_recipe_follows_mae_within_the_study_budget():
    recipe = MAE.default_recipe("paper")
    assert recipe.optimizer == "adamw" and recipe.betas == (0.9, 0.95)
    assert recipe.weight_decay == 0.05 and recipe.warmup_epochs == 40
    assert recipe.lr == pytest.approx(1.5e-4 * recipe.batch_size / 256)
    assert recipe.epochs <= 300


def test_unknown_loss_option_is_a_user_error_naming_the_option():
    with pytest.raises(BenchmarkError, match="loss_on"):
        MAEConfig(loss_on="visible")


@pytest.mark.parametrize("side, patch", [(64, 4), (128, 8), (256, 16)])
def test_the_mask_keeps_the_studys_16_by_16_grid_at_every_image_size(side, patch):
    """The study masks 16-px patches of 256-px images; at 64 px the same grid is 4-px patches."""
    method = make_mae()
    _, pixels = method.mask(torch.randn(2, 1, side, side))
    cells = pixels[:, 0, ::patch, ::patch]
    assert cells.shape == (2, 16, 16)
    assert torch.equal(upsample_mask(cells, side, side), pixels)
    assert cells.flatten(1).sum(dim=1).tolist() == [128, 128]


def test_a_grid_option_sets_the_cells_per_side():
    _, pixels = make_mae(grid=4).mask(torch.randn(1, 1, 64, 64))
    assert torch.equal(upsample_mask(pixels[:, 0, ::16, ::16], 64, 64), pixels)
    with pytest.raises(BenchmarkError, match="grid=0"):
        MAEConfig(grid=0)
    with pytest.raises(ValueError, match="16×16 grid"):
        make_mae().mask(torch.randn(1, 1, 72, 72))

"""What makes CM-UNet CM-UNet: two pixel-shifted crops of one base crop, a masked reconstruction
branch, a separate feature decoder, a momentum branch with an adapter built once, and
L = L_r + λ_c·L_c with in-batch negatives."""

import dataclasses

import pytest
import torch

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig, count_parameters
from benchmark.train.optim import make_optimizer
from methods._patches import upsample_mask
from methods.cmunet import CMUNet, CMUNetConfig, shifted_views


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: threads only add overhead


def build(**changes) -> CMUNet:
    torch.manual_seed(0)
    cfg = dataclasses.replace(CMUNet.default_config("tiny"), **changes)
    return CMUNet(UNet(UNetConfig(base=4)), cfg)


def batch(size: int = 4, side: int = 32) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(size, 1, side, side)


def test_paper_settings():
    cfg = CMUNet.default_config("paper")
    assert (cfg.grid or CMUNet.mask_grid, cfg.mask_ratio, cfg.temperature, cfg.momentum) == (16, 0.65, 0.07, 0.996)
    assert cfg.lambda_c == pytest.approx(2 * 0.07)
    recipe = CMUNet.default_recipe("paper")
    assert (recipe.optimizer, recipe.betas, recipe.weight_decay) == ("adamw", (0.9, 0.95), 0.05)
    assert (recipe.batch_size, recipe.epochs, recipe.warmup_epochs) == (256, 300, 40)
    assert recipe.schedule == "cosine" and recipe.lr == pytest.approx(2.4e-3)


def test_view_b_is_view_a_shifted_by_the_returned_offsets():
    torch.manual_seed(2)
    base = torch.arange(3 * 2 * 20 * 20, dtype=torch.float32).view(3, 2, 20, 20)  # every pixel unique
    view_a, view_b, shift = shifted_views(base, (16, 16), max_shift=4)
    assert view_a.shape == view_b.shape == (3, 2, 16, 16)
    assert ((shift >= 0) & (shift <= 4)).all()
    for i, (dy, dx) in enumerate(shift.tolist()):
        assert torch.equal(view_b[i, :, : 16 - dy, : 16 - dx], view_a[i, :, dy:, dx:])
        assert torch.equal(view_b[i], base[i, :, dy : dy + 16, dx : dx + 16])
    assert len({tuple(s) for s in shift.tolist()}) > 1, "each image draws its own shift"


def test_shift_geometry_rejects_a_base_too_small_for_the_shift():
    with pytest.raises(ValueError, match="cannot hold"):
        shifted_views(torch.zeros(1, 1, 18, 18), (16, 16), max_shift=3)


def test_method_views_overlap_by_the_shift_when_noise_is_off():
    method = build(noise_of_max=0.0)
    view_a, view_b, shift = method.views(batch(4, 64))
    assert view_a.shape == view_b.shape == (4, 1, 64, 64)
    assert int(shift.max()) <= round(31 / 224 * 64)
    for i, (dy, dx) in enumerate(shift.tolist()):
        assert torch.equal(view_b[i, :, : 64 - dy, : 64 - dx], view_a[i, :, dy:, dx:])


def test_view_b_noise_scales_with_the_view_maximum():
    images = batch(4, 64)
    clean = build(noise_of_max=0.0)
    noisy = build(noise_of_max=0.1)
    torch.manual_seed(3)
    _, b_clean, _ = clean.views(images)
    torch.manual_seed(3)
    _, b_noisy, _ = noisy.views(images)
    noise_std = (b_noisy - b_clean).std(dim=(1, 2, 3))
    expected = 0.1 * b_clean.amax(dim=(1, 2, 3))
    assert torch.allclose(noise_std, expected, rtol=0.1)


def test_adapter_is_one_module_with_the_same_weights_across_forward_passes():
    method = build()
    adapter_weight = method.adapter.weight
    before = adapter_weight.detach().clone()
    images = batch()
    first = method.target(images)
    second = method.target(images)
    assert method.adapter.weight is adapter_weight
    assert torch.equal(method.adapter.weight, before)
    assert torch.equal(first, second)  # a fresh random adapter per pass would give another Z_BP


def test_loss_is_reconstruction_plus_weighted_contrast():
    method = build(lambda_c=0.3)
    out = method.training_step(batch(), 0, 1, {})
    assert {"loss", "loss_recon", "loss_contrast"} <= set(out)
    expected = out["loss_recon"].item() + 0.3 * out["loss_contrast"].item()
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_masked_view_zeroes_65_percent_of_patches_with_a_mask_per_image():
    method = build()
    view = batch(4, 64)
    masked, pixels = method.mask(view)
    assert torch.equal(masked[pixels], torch.zeros(int(pixels.sum())))
    assert torch.equal(masked[~pixels], view[~pixels])
    # 64 px → the study's 16×16 grid of 4-px patches; round(0.65 × 256) = 166 masked in every image.
    assert torch.allclose(pixels.float().mean(dim=(1, 2, 3)), torch.full((4,), 166 / 256))
    assert torch.equal(upsample_mask(pixels[:, 0, ::4, ::4], 64, 64), pixels)  # whole 4-px patches
    assert len({tuple(m.flatten().tolist()) for m in pixels}) == 4


def reachable_parameters(output: torch.Tensor) -> set[int]:
    """ids of the leaf tensors that back-propagation from `output` would reach."""
    seen, leaves, stack = set(), set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.add(id(node.variable))
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def test_z_bp_reaches_no_momentum_weight_only_the_adapter():
    method = build()
    z_bp = method.target(batch())
    reached = reachable_parameters(z_bp)
    assert reached == {id(p) for p in method.adapter.parameters()}
    momentum = list(method.momentum_encoder.parameters()) + list(method.momentum_projector.parameters())
    assert all(not p.requires_grad for p in momentum)


def test_only_online_weights_and_the_adapter_learn():
    method = build()
    method.training_step(batch(), 0, 1, {})["loss"].backward()
    assert method.adapter.weight.grad is not None and method.adapter.weight.grad.abs().sum() > 0
    for module in (method.feature_decoder, method.projector, method.predictor, method.recon_head):
        assert all(p.grad is not None for p in module.parameters())
    for module in (method.momentum_encoder, method.momentum_projector):
        assert all(p.grad is None for p in module.parameters())


def test_momentum_branch_moves_by_ema_of_encoder_and_projector():
    method = build()
    optimizer = make_optimizer(method, CMUNet.default_recipe("tiny"))
    method.training_step(batch(), 0, 1, {})["loss"].backward()
    optimizer.step()
    targets = list(method.momentum_encoder.parameters()) + list(method.momentum_projector.parameters())
    online = list(method.unet.encoder.parameters()) + list(method.projector.parameters())
    before = [p.clone() for p in targets]
    method.after_step(0, 1)
    for p, b, o in zip(targets, before, online):
        assert torch.allclose(p, 0.996 * b + 0.004 * o, atol=1e-6)


def test_feature_decoder_has_the_pixel_decoders_shape_but_its_own_weights():
    method = build()
    pixel, feature = method.unet.decoder, method.feature_decoder
    assert [p.shape for p in pixel.parameters()] == [p.shape for p in feature.parameters()]
    assert not {id(p) for p in pixel.parameters()} & {id(p) for p in feature.parameters()}
    assert count_parameters(feature) == count_parameters(pixel)


def test_encoder_and_pixel_decoder_are_transferred_not_the_feature_decoder():
    method = build()
    with torch.no_grad():
        for p in method.unet.decoder.parameters():
            p.add_(1.0)
    transferred = method.pretrained_unet()
    assert torch.equal(transferred.decoder.ups[0].up.weight, method.unet.decoder.ups[0].up.weight)
    assert not torch.equal(transferred.decoder.ups[0].up.weight, method.feature_decoder.ups[0].up.weight)


def test_bad_option_names_the_option():
    with pytest.raises(BenchmarkError, match="mask_ratio"):
        CMUNetConfig(mask_ratio=1.5)

"""What makes SparK SparK: sparse encoding that never leaks masked pixels, sparse batch norm,
learned mask tokens, and a per-patch-normalised loss on masked patches only."""

import pytest
import torch
from torch import nn

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet, UNetConfig
from methods._patches import normalise_patches, random_patch_mask, upsample_mask
from methods.spark import SparK, SparKConfig, VisibleMask, sparse_batch_norm, sparse_encode, spark_loss


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: threads only add overhead


def make_spark() -> SparK:
    torch.manual_seed(0)
    return SparK(UNet(UNetConfig(base=4)), SparKConfig())


def masked_batch(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    images = torch.randn(batch, 1, 64, 64)
    return images, random_patch_mask(batch, 64, 64, 16, 0.6)


def test_encoder_features_are_exactly_zero_at_masked_positions_at_every_scale():
    method = make_spark()
    images, grid = masked_batch()
    features = sparse_encode(method.unet.encoder, images, VisibleMask(grid))
    assert [f.shape[-1] for f in features] == [64, 32, 16, 8, 4]
    for feature in features:
        masked = upsample_mask(grid, *feature.shape[-2:]).expand_as(feature)
        assert (feature[masked] == 0).all()
        assert (feature[~masked] != 0).any()


def test_encoder_features_ignore_changes_to_masked_input_pixels():
    method = make_spark()
    images, grid = masked_batch()
    pixels = upsample_mask(grid, 64, 64)
    altered = torch.where(pixels, images + 100.0 * torch.randn_like(images), images)
    before = sparse_encode(method.unet.encoder, images, VisibleMask(grid))
    after = sparse_encode(method.unet.encoder, altered, VisibleMask(grid))
    for a, b in zip(before, after):
        assert torch.equal(a, b)


def test_sparse_batch_norm_uses_statistics_of_visible_positions_only():
    bn = nn.BatchNorm2d(1, momentum=1.0)  # momentum 1: running stats become this batch's stats
    x = torch.tensor([[[[1.0, 2.0], [100.0, -50.0]]], [[[3.0, 6.0], [7.0, 9.0]]]])  # 2×1×2×2
    visible_grid = torch.tensor([[[True, True], [False, False]], [[True, True], [False, False]]])
    out = sparse_batch_norm(bn, x, VisibleMask(~visible_grid))
    # visible values 1, 2, 3, 6: mean 3, biased variance 14/4 = 3.5, unbiased 14/3.
    assert bn.running_mean.item() == pytest.approx(3.0)
    assert bn.running_var.item() == pytest.approx(14.0 / 3.0)
    expected = (torch.tensor([1.0, 2.0, 3.0, 6.0]) - 3.0) / (3.5 + bn.eps) ** 0.5
    assert torch.allclose(out[:, 0, 0, :].flatten(), expected, atol=1e-6)
    assert (out[:, :, 1, :] == 0).all()
    assert bn.num_batches_tracked.item() == 1


def test_encoder_batch_norms_take_statistics_from_visible_positions():
    method = make_spark()
    images, grid = masked_batch()
    conv, bn = method.unet.encoder.stem[0], method.unet.encoder.stem[1]
    bn.momentum = 1.0
    sparse_encode(method.unet.encoder, images, VisibleMask(grid))
    visible = ~upsample_mask(grid, 64, 64)
    with torch.no_grad():
        responses = conv(images * visible).permute(0, 2, 3, 1)[visible[:, 0]]  # N_visible×C
    assert torch.allclose(bn.running_mean, responses.mean(dim=0), atol=1e-5)
    assert torch.allclose(bn.running_var, responses.var(dim=0), atol=1e-5)


def test_visible_positions_from_a_known_count_are_those_of_nonzero_at_every_scale():
    _, grid = masked_batch(3)  # 64² px, 16-px patches: 4×4 cells, 10 masked, 6 visible per image
    by_count, by_nonzero = VisibleMask(grid, visible_per_image=6), VisibleMask(grid)
    for size in (4, 8, 16, 32, 64):
        fast, plain = by_count.index(size, size), by_nonzero.index(size, size)
        assert len(fast[0]) == 3 * 6 * (size // 4) ** 2
        assert sorted(zip(*(t.tolist() for t in fast))) == sorted(zip(*(t.tolist() for t in plain)))
    torch.manual_seed(2)
    x = torch.randn(3, 5, 16, 16)
    bns = [nn.BatchNorm2d(5), nn.BatchNorm2d(5)]
    out_fast, out_plain = sparse_batch_norm(bns[0], x, by_count), sparse_batch_norm(bns[1], x, by_nonzero)
    assert torch.allclose(out_fast, out_plain, atol=1e-6)
    assert torch.allclose(bns[0].running_var, bns[1].running_var, atol=1e-6)


def test_sparse_batch_norm_in_eval_mode_uses_the_running_statistics():
    bn = nn.BatchNorm2d(1).eval()
    bn.running_mean.fill_(2.0)
    bn.running_var.fill_(4.0 - bn.eps)
    x = torch.full((1, 1, 2, 2), 6.0)
    out = sparse_batch_norm(bn, x, VisibleMask(torch.tensor([[[False, True], [False, False]]])))
    assert torch.allclose(out, torch.tensor([[[[2.0, 0.0], [2.0, 2.0]]]]))


def test_mask_tokens_are_learned():
    method = make_spark()
    images, _ = masked_batch()
    method.training_step(images, 0, 1, {})["loss"].backward()
    assert len(method.mask_tokens) == 5
    for token in method.mask_tokens:
        assert token.grad is not None and token.grad.abs().sum() > 0


def test_loss_gets_no_gradient_from_visible_pixels():
    images, grid = masked_batch()
    pixels = upsample_mask(grid, 64, 64)
    prediction = torch.randn(2, 1, 64, 64, requires_grad=True)
    spark_loss(prediction, images, grid, 16, 1e-6).backward()
    assert (prediction.grad[~pixels] == 0).all()
    assert (prediction.grad[pixels] != 0).all()


def test_loss_is_zero_when_masked_patches_match_the_normalised_target():
    images, grid = masked_batch()
    pixels = upsample_mask(grid, 64, 64)
    prediction = torch.where(pixels, normalise_patches(images, 16), torch.full_like(images, 50.0))
    assert spark_loss(prediction, images, grid, 16, 1e-6).item() == pytest.approx(0.0, abs=1e-10)


def test_per_patch_normalisation_of_a_two_level_patch():
    # one 16×16 patch, half 0 and half 2: mean 1, unbiased variance 256/255,
    # so the values become ±1/sqrt(256/255 + eps)
    patch = torch.zeros(1, 1, 16, 16)
    patch[..., 8:] = 2.0
    expected = 1.0 / (256.0 / 255.0 + 1e-6) ** 0.5
    out = normalise_patches(patch, 16)
    assert torch.allclose(out[..., :8], torch.full((1, 1, 16, 8), -expected))
    assert torch.allclose(out[..., 8:], torch.full((1, 1, 16, 8), expected))


def test_per_patch_normalisation_treats_patches_independently():
    image = torch.zeros(1, 1, 16, 32)
    image[..., 8:16] = 2.0  # left patch: two levels
    image[..., 16:] = 7.0  # right patch: constant, normalises to 0 (eps keeps it finite)
    out = normalise_patches(image, 16)
    assert torch.equal(out[..., :16], normalise_patches(image[..., :16], 16))
    assert (out[..., 16:] == 0).all()


def test_transferred_encoder_is_a_plain_unet_encoder_with_sparse_statistics():
    method = make_spark()
    images, _ = masked_batch()
    method.training_step(images, 0, 1, {})
    stem_bn = method.unet.encoder.stem[1]
    assert isinstance(stem_bn, nn.BatchNorm2d) and stem_bn.num_batches_tracked.item() == 1
    transferred = method.pretrained_unet()
    assert torch.equal(transferred.encoder.stem[1].running_mean, stem_bn.running_mean)


def test_patch_must_match_the_unet_stride():
    with pytest.raises(BenchmarkError, match="patch=8"):
        SparK(UNet(UNetConfig(base=4)), SparKConfig(patch=8))


def test_transferred_decoder_reads_the_same_features_in_pretraining_and_finetuning():
    """With nothing masked, what the decoder reads during pre-training is exactly the encoder's output
    that the transferred decoder reads at fine-tuning (a densify norm or projection would change the
    basis, and the transferred decoder would then see features it never saw)."""
    torch.manual_seed(0)
    method = SparK(UNet(UNetConfig(base=4)), SparKConfig(mask_ratio=0.5)).eval()
    images = torch.randn(2, 1, 32, 32)
    nothing_masked = torch.zeros(2, 2, 2, dtype=torch.bool)
    visible = VisibleMask(nothing_masked, visible_per_image=4)
    pretraining = method.densify(sparse_encode(method.unet.encoder, images, visible), visible)
    finetuning = method.pretrained_unet().eval()
    finetuning.encoder.load_state_dict(method.unet.encoder.state_dict())
    for seen, given in zip(pretraining, finetuning.encoder(images)):
        torch.testing.assert_close(seen, given)

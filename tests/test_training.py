"""The UNet, the fine-tuning loss, and fine-tuning itself on synthetic data."""

import math

import numpy as np
import pytest
import torch

from benchmark.data.augment import AugmentConfig
from benchmark.data.preprocess import PreprocessConfig, preprocess_pair
from benchmark.data.synthetic import synthetic_dataset
from benchmark.model.losses import batch_dice, dice_ce_loss, soft_dice_loss
from benchmark.model.unet import UNet, UNetConfig, count_parameters
from benchmark.evaluate.rows import metric_rows
from benchmark.model.recipes import FinetuneRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, finetune, predict
from benchmark.train.selection import cross_validate


def test_unet_at_base_64_has_the_studys_31_04_million_parameters():
    assert count_parameters(UNet(UNetConfig(base=64))) == 31_036_546


def test_unet_maps_an_image_to_two_class_logits_of_the_same_size():
    out = UNet(UNetConfig(base=4))(torch.zeros(3, 1, 48, 64))
    assert out.shape == (3, 2, 48, 64)


def test_soft_dice_of_a_perfect_confident_prediction_is_near_zero_and_of_the_opposite_near_one():
    target = torch.zeros(1, 4, 4, dtype=torch.bool)
    target[0, :2] = True
    confident = torch.stack([(~target).float(), target.float()], 1) * 50
    assert soft_dice_loss(confident, target, eps=0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_dice_loss(-confident, target, eps=0).item() == pytest.approx(1.0, abs=1e-6)


def test_dice_ce_of_uniform_logits_has_its_analytic_value():
    target = torch.zeros(1, 4, 4, dtype=torch.bool)
    target[0, :2] = True  # 8 of 16 pixels
    logits = torch.zeros(1, 2, 4, 4, requires_grad=True)
    # p = 0.5 everywhere: soft Dice (smoothing 1) = (2·0.5·8 + 1)/(0.5·16 + 8 + 1) = 9/17; CE = log 2
    loss = dice_ce_loss(logits, target, ce_weight=1.0)
    assert loss.item() == pytest.approx(1 - 9 / 17 + math.log(2), abs=1e-6)
    loss.backward()
    assert logits.grad.abs().sum() > 0  # the Dice term is differentiable


def test_batch_dice_counts_empty_pairs_as_perfect():
    pred = torch.tensor([[[1, 1], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    gt = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    assert batch_dice(pred, gt).tolist() == pytest.approx([2 / 3, 1.0])


def _synthetic_tensors(n=24, size=64):
    data = synthetic_dataset(n, 128, seed=3)
    cfg = PreprocessConfig(crop=None, inpaint_corners=False, unsharp_amount=0.0, size=size)
    pairs = [preprocess_pair(*data[i], cfg) for i in range(n)]
    return TensorSet.from_numpy(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]))


def _test_dice(unet: UNet, test: TensorSet, options: DeviceOptions) -> float:
    """Mean test Dice as the fine-tune job scores it: predictions, then the metric rows."""
    pred = predict(unet, test.images, options).cpu().numpy()
    return float(np.mean([r["dice"] for r in metric_rows(pred, test.masks.cpu().numpy(), [str(i) for i in range(len(pred))])]))


def test_finetuning_raises_test_dice_well_above_an_untrained_model():
    torch.manual_seed(0)
    data = _synthetic_tensors()
    train, val, test = data.subset(range(0, 14)), data.subset(range(14, 18)), data.subset(range(18, 24))
    options = DeviceOptions()
    unet = UNet(UNetConfig(base=8))
    before = _test_dice(unet, test, options)
    recipe = FinetuneRecipe(lr=1e-2, batch_size=7, epochs=10, min_samples_per_epoch=28, augment=AugmentConfig.none())
    result = finetune(unet, train, val, recipe, options, seed=0)
    unet.load_state_dict(result.state)
    after = _test_dice(unet, test, options)
    assert before < 0.15 and after > before + 0.25, (before, after)
    assert result.best_val_dice == max(h["val_dice"] for h in result.history)


def test_finetuning_is_bit_for_bit_repeatable_on_cpu():
    data = _synthetic_tensors(8, 32)
    recipe = FinetuneRecipe(lr=1e-3, batch_size=4, epochs=2)

    def once():
        torch.manual_seed(0)
        unet = UNet(UNetConfig(base=4))
        return finetune(unet, data.subset(range(6)), data.subset(range(6, 8)), recipe, DeviceOptions(), seed=5)

    a, b = once(), once()
    assert a.history == b.history
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_cross_validation_starts_every_fold_from_the_same_weights_and_picks_from_the_grid():
    data = _synthetic_tensors(9, 32)
    torch.manual_seed(0)
    unet = UNet(UNetConfig(base=4))
    initial = {k: v.clone() for k, v in unet.state_dict().items()}
    recipe = FinetuneRecipe(lr=1e-3, batch_size=3, epochs=1, cv_folds=3, lr_grid=(1e-2, 1e-4))
    chosen, scores = cross_validate(unet, data, recipe, DeviceOptions(), seed=0)
    assert chosen.lr in (1e-2, 1e-4) and chosen.cv_folds == 0
    assert len(scores) == 2
    assert all(torch.equal(initial[k], v) for k, v in unet.state_dict().items())


def test_bf16_autocast_loss_curve_matches_fp32_within_tolerance():
    data = _synthetic_tensors(8, 32)
    recipe = FinetuneRecipe(lr=1e-3, batch_size=4, epochs=4, augment=AugmentConfig.none())

    def curve(bf16: bool):
        torch.manual_seed(0)
        unet = UNet(UNetConfig(base=4))
        result = finetune(unet, data.subset(range(6)), data.subset(range(6, 8)), recipe,
                          DeviceOptions(bf16=bf16), seed=1)
        return np.array([h["loss"] for h in result.history])

    fp32, bf16 = curve(False), curve(True)
    assert np.allclose(fp32, bf16, rtol=0.05, atol=0.02), (fp32, bf16)


def test_pretraining_epochs_keep_a_last_batch_of_at_least_half_a_batch():
    from benchmark.train.schedule import pretrain_batches

    assert pretrain_batches(10, 4) == [(0, 4), (4, 4), (8, 2)]  # 2 of 4 is half a batch: kept
    assert pretrain_batches(11, 4) == [(0, 4), (4, 4), (8, 3)]
    assert pretrain_batches(790, 256) == [(0, 256), (256, 256), (512, 256)]
    assert pretrain_batches(900, 256) == [(0, 256), (256, 256), (512, 256), (768, 132)]
    assert pretrain_batches(3, 16) == [(0, 3)]

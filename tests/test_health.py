"""Pretext health (did the pretext task learn, against its chance level) and transfer health (how far
fine-tuning moved the transferred encoder), from fixed curves and hand-made weights, and each
method's chance level on batches whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.model.unet import UNet, UNetConfig
from benchmark.train.health import LEARNED_MARGIN, pretext_health, pretext_learned, relative_shift
from methods.control_oracle import constant_prediction_loss
from methods.mae import MAE, MAEConfig
from methods.moco import MoCo, MoCoConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_loss_that_rises_while_a_queue_fills_can_still_have_learned():
    """MoCo at the small profile: InfoNCE 4.1 → 4.5, chance log(16385) = 9.7: learned."""
    chance = math.log(16_384 + 1)
    curve = [{"loss": 4.1, "chance": chance}, {"loss": 4.3, "chance": chance}, {"loss": 4.5, "chance": chance}]
    health = pretext_health(curve)
    assert (health.loss_start, health.loss_end, health.chance_loss, health.learned) == (4.1, 4.5, chance, True)


def test_a_loss_that_falls_but_stays_at_chance_has_not_learned():
    """A masked method whose loss falls from an untrained network's 1.30 to 0.97 of a chance level
    of 1.0 has only learned to predict the mean."""
    health = pretext_health([{"loss": 1.30, "chance": 1.01}, {"loss": 0.97, "chance": 1.0}])
    assert health.learned is False and health.chance_loss == 1.0


def test_the_margin_is_ten_percent_below_chance():
    assert LEARNED_MARGIN == 0.10
    assert pretext_learned(0.9, 1.0) is True
    assert pretext_learned(0.9001, 1.0) is False
    assert pretext_learned(0.5, None) is None and pretext_learned(None, 1.0) is None


def test_a_curve_without_chance_or_steps_says_nothing():
    assert pretext_health([{"loss": 0.5}, {"loss": 0.2}]).learned is None
    assert pretext_health([]) == pretext_health([])
    assert pretext_health([]).loss_end is None


def test_relative_shift_is_the_l2_change_over_the_l2_norm():
    before = {"encoder.a": torch.tensor([3.0, 4.0]), "encoder.b": torch.zeros(2), "decoder.c": torch.ones(3)}
    after = {"encoder.a": torch.tensor([3.0, 4.0]), "encoder.b": torch.tensor([0.0, 5.0]), "decoder.c": torch.zeros(3)}
    assert relative_shift(before, after, ["encoder.a", "encoder.b"]) == pytest.approx(1.0)  # ‖(0,0,0,5)‖/‖(3,4,0,0)‖
    assert relative_shift(before, before, ["encoder.a"]) == 0.0
    assert math.isnan(relative_shift(before, after, ["encoder.b"]))  # nothing to measure against


def test_maes_chance_is_the_variance_of_the_masked_pixels():
    """Two-level images (0 and 2 in alternate columns): whatever is masked, predicting each image's
    masked mean misses by 1 everywhere, so chance is 1 (masked MSE) — and an exact reconstruction
    scores 0, far below it."""
    images = torch.zeros(2, 1, 64, 64)
    images[..., 1::2] = 2.0
    torch.manual_seed(0)
    method = MAE(UNet(UNetConfig(base=4)), MAEConfig(grid=32))  # 2-px patches: both levels in each
    method.reconstruct = lambda masked: images
    out = method.training_step(images, 0, 1, {})
    assert out["chance"].item() == pytest.approx(1.0, abs=1e-6)
    assert out["loss"].item() == 0.0


def test_mocos_chance_is_log_k_plus_one():
    torch.manual_seed(0)
    method = MoCo(UNet(UNetConfig(base=4)), MoCoConfig(queue_size=64, hidden=16, dim=8, bn_splits=1))
    out = method.training_step(torch.randn(4, 1, 32, 32), 0, 10, {})
    assert out["chance"].item() == pytest.approx(math.log(65))


def test_the_positive_controls_chance_is_a_constant_prediction_of_the_vessel_share():
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, :2] = True  # a quarter of the pixels
    share = 0.25
    ce = -(share * math.log(share) + (1 - share) * math.log(1 - share))  # CE of predicting p = share
    # soft Dice (smoothed by 1) of p = share at each of 64 pixels against 16 vessel pixels
    dice = 1 - (2 * share * 16 + 1) / (share * 64 + 16 + 1)
    assert constant_prediction_loss(masks, 2).item() == pytest.approx(dice + ce, rel=1e-3)

"""How the harness trains: the pre-training recipe each method names and the fine-tuning recipe
every method gets. Both live here, in the harness, so methods describe values, not loops.

The study's shared pre-training constants (CM-UNet paper §IV-C, "Experimental settings": batch 256,
300 epochs, 40 warm-up epochs then cosine) are defined once, below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from benchmark.data.augment import AugmentConfig

#: The CM-UNet study's pre-training batch, length and warm-up (paper §IV-C).
STUDY_BATCH, STUDY_EPOCHS, STUDY_WARMUP_EPOCHS = 256, 300, 40


def scaled_lr(base_lr: float, batch_size: int) -> float:
    """The linear scaling rule of MAE, SparK and MoCo: lr = base_lr × batch / 256."""
    return base_lr * batch_size / 256


@dataclass(frozen=True)
class PretrainRecipe:
    """How the harness pre-trains a method: optimiser, schedule, batch and length."""

    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1.5e-4
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    momentum: float = 0.9
    batch_size: int = STUDY_BATCH
    epochs: int = STUDY_EPOCHS
    warmup_epochs: int = STUDY_WARMUP_EPOCHS
    schedule: Literal["cosine", "constant"] = "cosine"
    steps: int = 0  # > 0: train exactly this many optimiser steps (epochs and warmup_epochs unused)
    warmup_steps: int = 0  # the warm-up when `steps` is set
    # Random resized crop (area fraction in this range) + horizontal flip of every pre-training batch,
    # applied by the harness (and to the method's prepared maps alike); None = the images as they are.
    crop_scale: tuple[float, float] | None = None


#: A short stand-alone recipe (tests, speed probes, the study protocol's shrink factor): enough steps
#: for a loss to fall on a 2-core CPU. A run's recipes come from its protocol and profile.
TINY_PRETRAIN_RECIPE = PretrainRecipe(lr=1e-3, batch_size=16, epochs=6, warmup_epochs=1)


@dataclass(frozen=True)
class FinetuneRecipe:
    """The fine-tuning recipe every method gets (Dice + λ·CE, Adam).

    With `steps` the budget is in optimiser steps, whatever the set's size (8 images and 800 images
    both get enough updates), validated every `eval_every` steps; without it, in epochs. With
    `lr_grid` and no `cv_folds`, each lr of the grid is trained from the same start and the best
    validation Dice (on the fine-tuning set's validation part) picks the lr and the weights.
    """

    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 128
    steps: int = 0  # > 0: a budget in steps; `eval_every` then counts steps, `epochs` is unused
    min_samples_per_epoch: int = 0  # tiny fine-tuning sets still see this many samples an epoch
    ce_weight: float = 1.0
    weight_decay: float = 0.0
    eval_every: int = 1  # epochs between validation passes
    patience: int = 0  # validation passes without improvement before stopping; 0 = never stop early
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    cv_folds: int = 0  # k-fold CV over (lr, batch) grid on the FT set; 0 = use lr/batch as given
    lr_grid: tuple[float, ...] = ()
    batch_grid: tuple[int, ...] = ()


# --- the two protocols ---------------------------------------------------------------------------
#
# "study": every method's published recipe as it is (the paper profile), or at the tiny profile
# that recipe shrunk by one factor for all: batch ÷ 16, epochs and warm-up × 6/300; learning rates
# and optimisers unchanged. Genesis then still gets 4× the steps of a batch-256 method, as it does in
# the study.
# "fair": every SSL method the same optimiser family (AdamW, betas 0.9/0.95, weight decay 0.05),
# the same cosine schedule after a warm-up of the study's share (40 of 300 epochs), the same batch
# and the same number of optimiser steps — so, with one batch size, the same images seen as well.
# Steps rather than epochs because the methods' costs per image differ and epochs over sets of
# different sizes are not a budget; with a shared batch, equal steps is equal images seen. The
# learning rate: lr = base_lr × batch / 256 × profile factor, one rule for every method, where
# base_lr is the method's paper rate under that rule (MAE 1.5e-4, SparK 2e-4, CMAE/CM-UNet 1.5e-4
# before its 16-GPU constant), and MAE's 1.5e-4 for methods whose papers used SGD (Genesis, MoCo)
# or none (the oracle control). The profile factor is 1 at the paper profile. At the tiny profile
# (60 steps at batch 16) it gives MAE 1e-3. At the small profile it gives MAE 1e-2, the top of the
# fine-tuning grid: the calibration study (docs/calibration.md) found the positive control
# pre-trained at 1e-2 for 200 steps detected on ARCADE where at 1e-3 it is not. (Tiny keeps 1e-3: at
# 60 steps 1e-2 did not get the control detected either, and on the synthetic default run it made
# Models Genesis' and MAE's fine-tuning fail at 70:10.) The ratio between any two methods' rates is
# that of their papers at every profile.

#: MAE's base rate, the reference of the fair lr rule (He et al. 2022).
REFERENCE_BASE_LR = 1.5e-4


@dataclass(frozen=True)
class SharedBudget:
    """The fair protocol's shared pre-training budget at one profile."""

    batch_size: int
    steps: int
    lr_factor: float  # the profile's shared multiplier of base_lr × batch / 256

    @property
    def warmup_steps(self) -> int:
        return round(self.steps * STUDY_WARMUP_EPOCHS / STUDY_EPOCHS)

    def lr(self, base_lr: float) -> float:
        return scaled_lr(base_lr, self.batch_size) * self.lr_factor


def budget_recipe(budget: SharedBudget, base_lr: float, crop_scale: tuple[float, float] | None) -> PretrainRecipe:
    """The fair protocol's recipe under a given shared budget (a profile's, or one a calibration tries)."""
    return PretrainRecipe(optimizer="adamw", lr=budget.lr(base_lr), weight_decay=0.05, betas=(0.9, 0.95),
                          batch_size=budget.batch_size, epochs=0, warmup_epochs=0, schedule="cosine",
                          steps=budget.steps, warmup_steps=budget.warmup_steps, crop_scale=crop_scale)


def ema_momentum_for(steps: int) -> float:
    """The fair protocol's EMA momentum for a run of `steps`: an averaging horizon 1/(1 − m) of a
    tenth of the run (kept within 0.9–0.999), so a momentum branch forgets its random start within
    the run instead of holding most of it at the end (0.999 over 600 steps keeps 55 % of it)."""
    return min(0.999, max(0.9, 1.0 - 10.0 / max(1, steps)))


def queue_size_for(images: int, batch_size: int) -> int:
    """The fair protocol's MoCo queue: a whole number of batches, at most 8 of them and at most a
    quarter of the pre-training set (at least one batch), so the queue never holds a second key of
    most images while the set is small."""
    return batch_size * max(1, min(8, images // (4 * batch_size)))

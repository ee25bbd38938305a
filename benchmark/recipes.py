"""How the harness trains: the pre-training recipe each method names and the fine-tuning recipe
every method gets. Both live here, in the harness, so methods describe values, not loops.

The study's shared pre-training constants (CM-UNet paper §IV-C, "Experimental settings": batch 256,
300 epochs, 40 warm-up epochs then cosine) are defined once, below.
"""

from __future__ import annotations

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


#: Short recipe for the tiny profile: enough steps for a loss to fall on a 2-core CPU.
TINY_PRETRAIN_RECIPE = PretrainRecipe(lr=1e-3, batch_size=16, epochs=6, warmup_epochs=1)


@dataclass(frozen=True)
class FinetuneRecipe:
    """The fixed fine-tuning recipe every method gets (Dice + λ·CE, Adam)."""

    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 128
    min_samples_per_epoch: int = 0  # tiny fine-tuning sets still see this many samples an epoch
    ce_weight: float = 1.0
    weight_decay: float = 0.0
    eval_every: int = 1  # epochs between validation passes
    patience: int = 0  # validation passes without improvement before stopping; 0 = never stop early
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    cv_folds: int = 0  # k-fold CV over (lr, batch) grid on the FT set; 0 = use lr/batch as given
    lr_grid: tuple[float, ...] = ()
    batch_grid: tuple[int, ...] = ()

"""Fine-tuning model selection, in one place: which learning rates a fine-tuning tries (the fair
protocol's grid per profile), how one is chosen (the best validation Dice on the fine-tuning set's
own validation part, the first on a tie), and whether by that grid, by k-fold cross-validation over
(lr, batch), or not at all (the recipe's lr as given: the study protocol).

The test set never enters: every score here is on validation images drawn from the fine-tuning set.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from benchmark.model.unet import UNet
from benchmark.core.progress import Progress
from benchmark.model.recipes import FinetuneRecipe
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import FinetuneResult, TensorSet, finetune

@dataclass(frozen=True)
class Finetuning:
    """What one fine-tuning trains and selects on, whatever its start: the sets (selection sees only
    `val`, a part of the fine-tuning set), the recipe, where it runs, its seed and progress."""

    train: TensorSet
    val: TensorSet
    recipe: FinetuneRecipe
    options: DeviceOptions
    seed: int
    progress: Progress | None = None

    def run(self, unet: UNet, recipe: FinetuneRecipe | None = None) -> FinetuneResult:
        """`unet` fine-tuned on these sets with `recipe` (default: this one's)."""
        return finetune(unet, self.train, self.val, recipe or self.recipe, self.options, self.seed, self.progress)


def train_selected(unet: UNet, job: Finetuning,
                   log: Callable[[str], None] = lambda message: None) -> tuple[FinetuneResult, FinetuneRecipe]:
    """Fine-tune `unet` as the job's recipe says and select the model; returns the selected run and
    the recipe it was trained with.

    `cv_folds`: cross-validate (lr, batch) over train + val, then train on train with the choice,
    selecting the round on val. Else `lr_grid`: one run per lr from the same start, the best on val
    kept. Else the recipe's lr, its best round on val.
    """
    recipe = job.recipe
    if recipe.cv_folds:
        both = TensorSet(torch.cat([job.train.images, job.val.images]), torch.cat([job.train.masks, job.val.masks]))
        recipe, grid = cross_validate(unet, both, recipe, job.options, job.seed)
        log(f"cross-validation chose lr {recipe.lr:g}, batch {recipe.batch_size}: {grid}")
        return job.run(unet, recipe), recipe
    if recipe.lr_grid:
        result, scores = select_lr(unet, job)
        log(f"validation chose lr {result.lr:g}: {scores}")
        return result, recipe
    return job.run(unet), recipe


def select_lr(initial: UNet, job: Finetuning) -> tuple[FinetuneResult, list[dict[str, float]]]:
    """Fine-tune once per lr of the job's `lr_grid`, each from `initial`'s weights with the same seed;
    keep the run with the best validation Dice (the first on a tie). Validation is the fine-tuning
    set's own part: the test set never enters. Returns the chosen run and every lr's score."""
    best: FinetuneResult | None = None
    scores = []
    for lr in job.recipe.lr_grid:
        result = job.run(copy.deepcopy(initial), replace(job.recipe, lr=lr, lr_grid=()))
        scores.append({"lr": lr, "val_dice": result.best_val_dice, "best_epoch": result.best_epoch})
        if best is None or result.best_val_dice > best.best_val_dice:
            best = result
    if best is None:
        raise ValueError("select_lr needs a non-empty lr_grid")
    return best, scores


def cross_validate(
    initial: UNet,
    data: TensorSet,
    recipe: FinetuneRecipe,
    options: DeviceOptions,
    seed: int,
    progress: Progress | None = None,
) -> tuple[FinetuneRecipe, list[dict[str, float]]]:
    """Pick lr and batch from the recipe's grid by mean best-validation Dice over k folds.

    Every fold of every grid point starts from `initial`'s weights (the reference code let weights
    carry over between folds). Returns the recipe with the chosen values and the grid's scores.
    """
    k = recipe.cv_folds
    if k < 2 or len(data) < k:
        raise ValueError(f"cross-validation needs k ≥ 2 and at least k images (k={k}, n={len(data)})")
    folds = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).chunk(k)
    grid = [(lr, b) for lr in (recipe.lr_grid or (recipe.lr,)) for b in (recipe.batch_grid or (recipe.batch_size,))]
    single = replace(recipe, cv_folds=0)
    scores = []
    for point, (lr, batch) in enumerate(grid):
        fold_scores = []
        for f, val_index in enumerate(folds):
            train_index = torch.cat([fold for g, fold in enumerate(folds) if g != f])
            model = copy.deepcopy(initial)
            result = finetune(
                model, data.subset(train_index), data.subset(val_index),
                replace(single, lr=lr, batch_size=batch), options, seed + f,
            )
            fold_scores.append(result.best_val_dice)
        scores.append({"lr": lr, "batch_size": batch, "val_dice": float(np.mean(fold_scores))})
        if progress:
            progress(point + 1, len(grid), f"lr {lr:g} batch {batch}: {scores[-1]['val_dice']:.3f}")
    best = max(scores, key=lambda s: s["val_dice"])
    return replace(single, lr=best["lr"], batch_size=int(best["batch_size"])), scores

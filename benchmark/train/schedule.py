"""How many steps and images a recipe gives: the pre-training schedule (batches per epoch, steps,
warm-up, images seen) and the fine-tuning rounds. Plain arithmetic on the recipes, no torch, so the
job graph, `plan`'s cost estimate and the loops all count from one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchmark.model.recipes import FinetuneRecipe, PretrainRecipe


def pretrain_batches(n: int, batch: int) -> list[tuple[int, int]]:
    """(start, size) of each batch of an epoch: full batches, and a last partial one if it holds at
    least half a batch (a smaller one would be a noisy step at full learning rate, and BatchNorm
    needs two images); so few images are left out of an epoch."""
    spans = [(start, batch) for start in range(0, n - batch + 1, batch)]
    rest = n - len(spans) * batch
    if rest >= max(2, (batch + 1) // 2):
        spans.append((len(spans) * batch, rest))
    return spans or [(0, n)]


@dataclass(frozen=True)
class PretrainSchedule:
    """How many steps and images a recipe gives a pre-training set of `n` images: what the loop runs,
    what `plan` costs and what a job's status records, from one place."""

    batches: list[tuple[int, int]]  # (start, size) of each batch of an epoch
    epochs: int
    total_steps: int
    warmup_steps: int

    @property
    def images_seen(self) -> int:
        per_epoch = [size for _, size in self.batches]
        full, rest = divmod(self.total_steps, len(per_epoch))
        return full * sum(per_epoch) + sum(per_epoch[:rest])


def pretrain_schedule(n: int, recipe: PretrainRecipe) -> PretrainSchedule:
    batches = pretrain_batches(n, min(recipe.batch_size, n))
    if recipe.steps:
        epochs = math.ceil(recipe.steps / len(batches))
        return PretrainSchedule(batches, epochs, recipe.steps, recipe.warmup_steps)
    return PretrainSchedule(batches, recipe.epochs, recipe.epochs * len(batches), recipe.warmup_epochs * len(batches))


def finetune_rounds(recipe: FinetuneRecipe, n_train: int) -> list[tuple[int, bool]]:
    """(samples drawn, validate afterwards?) of each round of fine-tuning: epochs of the set (at least
    `min_samples_per_epoch`), or with `steps` blocks of `eval_every` steps whatever the set's size."""
    if recipe.steps:
        blocks = [min(recipe.eval_every, recipe.steps - s) for s in range(0, recipe.steps, recipe.eval_every)]
        return [(b * recipe.batch_size, True) for b in blocks]
    samples = max(n_train, recipe.min_samples_per_epoch)
    return [(samples, (e + 1) % recipe.eval_every == 0 or e + 1 == recipe.epochs) for e in range(recipe.epochs)]

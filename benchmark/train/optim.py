"""Optimiser and learning-rate schedule from a PretrainRecipe: one place, so every method trains alike."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from benchmark.recipes import PretrainRecipe


def make_optimizer(
    params: Iterable[nn.Parameter], recipe: PretrainRecipe, fused: bool = False
) -> torch.optim.Optimizer:
    """The recipe's optimiser over the trainable parameters; `fused` on CUDA saves a kernel per tensor."""
    trainable = [p for p in params if p.requires_grad]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(
            trainable, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay, fused=fused
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(
            trainable, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay, fused=fused
        )
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            trainable, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the base learning rate: linear warm-up, then cosine to zero or constant."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr

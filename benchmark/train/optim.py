"""Optimiser and learning-rate schedule from a PretrainRecipe: one place, so every method trains alike."""

from __future__ import annotations

import math
import torch
from torch import nn

from benchmark.model.recipes import PretrainRecipe


def decay_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """The module's trainable parameters in two optimiser groups: weights decayed, and biases, norm
    parameters and learned tokens (any 0-/1-D parameter, or one whose name has "token") not decayed,
    as the official MAE, SparK and CMAE code exclude them (MAE's `param_groups_weight_decay`): decay
    pulls a norm's scale or a mask token towards 0, which is no regularisation of what they mean."""
    decayed, kept = [], []
    for name, parameter in module.named_parameters():
        if parameter.requires_grad:
            (kept if parameter.ndim <= 1 or "token" in name else decayed).append(parameter)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": kept, "weight_decay": 0.0}]


def make_optimizer(module: nn.Module, recipe: PretrainRecipe, fused: bool = False) -> torch.optim.Optimizer:
    """The recipe's optimiser over the module's trainable parameters (weight decay as `decay_groups`);
    `fused` on CUDA saves a kernel per tensor."""
    groups = decay_groups(module, recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas, fused=fused)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, betas=recipe.betas, fused=fused)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum)
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

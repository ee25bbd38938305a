"""One calibration setting: a shared budget tried on every method of a run alike.

A setting changes only rules every method shares (the fair protocol's pre-training steps and lr rule,
the fine-tuning steps and lr grid, the image size, the UNet's width), so whatever it gives the
positive control it gives every contender too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from benchmark.config.run_config import RunConfig, read_toml
from benchmark.core.dataclass_io import update
from benchmark.core.errors import BenchmarkError
from benchmark.config.protocols import FAIR_BUDGETS
from benchmark.model.recipes import REFERENCE_BASE_LR, SharedBudget, budget_recipe, scaled_lr
from methods import registry


@dataclass(frozen=True)
class CalibrationSetting:
    """What one setting changes in a run; None keeps the profile's value."""

    name: str
    pretrain_steps: int | None = None  # the fair protocol's shared pre-training steps
    #: The fair lr rule's reference rate: what MAE (base rate 1.5e-4) gets; every other method's rate
    #: keeps its paper ratio to MAE's, as in the profile's own rule.
    pretrain_lr: float | None = None
    finetune_steps: int | None = None
    finetune_lr_grid: tuple[float, ...] | None = None
    size: int | None = None  # pre-processed image side (px)
    base: int | None = None  # UNet base width

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise BenchmarkError(f"calibration setting name {self.name!r}: give a plain folder name")
        for field in ("pretrain_steps", "finetune_steps", "size", "base"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise BenchmarkError(f"calibration setting {self.name}: {field} = {value} must be at least 1")
        if self.pretrain_lr is not None and not self.pretrain_lr > 0:
            raise BenchmarkError(f"calibration setting {self.name}: pretrain_lr = {self.pretrain_lr} must be > 0")
        if self.finetune_lr_grid is not None and (not self.finetune_lr_grid
                                                  or any(not lr > 0 for lr in self.finetune_lr_grid)):
            raise BenchmarkError(f"calibration setting {self.name}: finetune_lr_grid needs rates > 0")

    def budget(self, profile: str) -> SharedBudget:
        """The profile's shared pre-training budget with this setting's steps and reference rate."""
        budget = FAIR_BUDGETS[profile]
        steps = self.pretrain_steps or budget.steps
        factor = budget.lr_factor if self.pretrain_lr is None else (
            self.pretrain_lr / scaled_lr(REFERENCE_BASE_LR, budget.batch_size))
        return SharedBudget(budget.batch_size, steps, factor)

    def apply(self, config: RunConfig) -> RunConfig:
        """The run `config` under this setting: every pre-training method's recipe from the same
        budget rule, one fine-tuning recipe, one size and width."""
        if config.protocol != "fair":
            raise BenchmarkError("calibration changes the fair protocol's shared budget: use --protocol fair")
        budget, methods = self.budget(config.profile), registry()
        pretrain = {name: budget_recipe(budget, methods[name].base_lr, methods[name].official_crop)
                    for name in config.pretrain}
        finetune = config.finetune
        if self.finetune_steps is not None:
            finetune = dataclasses.replace(finetune, steps=self.finetune_steps)
        if self.finetune_lr_grid is not None:
            finetune = dataclasses.replace(finetune, lr_grid=tuple(self.finetune_lr_grid))
        preprocess = config.preprocess if self.size is None else dataclasses.replace(config.preprocess, size=self.size)
        unet = config.unet if self.base is None else dataclasses.replace(config.unet, base=self.base)
        return dataclasses.replace(config, pretrain=pretrain, finetune=finetune, preprocess=preprocess, unet=unet)

    def describe(self, config: RunConfig) -> dict[str, object]:
        """The values this setting trains with in `config` (after `apply`), for the table."""
        oracle = config.pretrain.get("control-oracle")
        return {"pretrain_steps": oracle.steps if oracle else None, "pretrain_lr": oracle.lr if oracle else None,
                "finetune_steps": config.finetune.steps, "finetune_lr_grid": tuple(config.finetune.lr_grid),
                "size": config.preprocess.size, "base": config.unet.base}


#: The study on ARCADE (docs/calibration.md): the tiny profile as it was before the study (60
#: pre-training steps at the reference rate 1e-3), then one shared change at a time — fine-tuning
#: rates at or below the pre-training rate; longer pre-training; a pre-training rate no fine-tuning
#: rate exceeds (1e-2), at the tiny length and longer; longer fine-tuning; larger images; a wider
#: UNet. Every value is written out, so the grid means the same whatever the profiles become.
DEFAULT_GRID: tuple[CalibrationSetting, ...] = (
    CalibrationSetting("pt60-lr1e-3", pretrain_steps=60, pretrain_lr=1e-3),
    CalibrationSetting("ft-lr-at-pt", pretrain_steps=60, pretrain_lr=1e-3, finetune_lr_grid=(3e-4, 1e-3)),
    CalibrationSetting("pt200-lr1e-3", pretrain_steps=200, pretrain_lr=1e-3),
    CalibrationSetting("pt60-lr1e-2", pretrain_steps=60, pretrain_lr=1e-2),
    CalibrationSetting("pt200-lr1e-2", pretrain_steps=200, pretrain_lr=1e-2),
    CalibrationSetting("pt200-lr1e-2-ft120", pretrain_steps=200, pretrain_lr=1e-2, finetune_steps=120),
    CalibrationSetting("pt200-lr1e-2-ft200", pretrain_steps=200, pretrain_lr=1e-2, finetune_steps=200),
    CalibrationSetting("pt400-lr1e-2", pretrain_steps=400, pretrain_lr=1e-2),
    CalibrationSetting("pt200-lr1e-2-96px", pretrain_steps=200, pretrain_lr=1e-2, size=96),
    CalibrationSetting("pt200-lr1e-2-base16", pretrain_steps=200, pretrain_lr=1e-2, base=16),
)


def load_grid(path: Path) -> tuple[CalibrationSetting, ...]:
    """Settings from a TOML file: one `[[setting]]` table each, with the fields of CalibrationSetting."""
    table = read_toml(path, "--grid")
    stray = [k for k in table if k != "setting"]
    if stray or not table.get("setting"):
        raise BenchmarkError(f"--grid {path}: expected [[setting]] tables only"
                             + (f", found {stray[0]!r}" if stray else ", found none"))
    settings = []
    for n, entry in enumerate(table["setting"], 1):
        if "name" not in entry:
            raise BenchmarkError(f"--grid {path}: setting {n} has no name")
        settings.append(update(CalibrationSetting(entry["name"]), {k: v for k, v in entry.items() if k != "name"},
                               f"{path}: setting {entry['name']}"))
    return check_names(settings, str(path))


def check_names(settings: list[CalibrationSetting] | tuple[CalibrationSetting, ...], where: str
                ) -> tuple[CalibrationSetting, ...]:
    names = [s.name for s in settings]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BenchmarkError(f"{where}: setting {twice[0]!r} is given twice")
    return tuple(settings)


def select(grid: tuple[CalibrationSetting, ...], names: list[str] | None) -> tuple[CalibrationSetting, ...]:
    """The named settings of `grid`, in the order given; all of them without names."""
    if not names:
        return grid
    known = {s.name: s for s in grid}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BenchmarkError(f"--settings: unknown setting {unknown[0]!r}; known: {', '.join(known)}")
    return check_names([known[n] for n in names], "--settings")

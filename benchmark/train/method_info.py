"""What `methods list` shows: each method's description, what it transfers and its sizes.

Without torch: the methods' cards come from their source (methods.catalogue) and the UNet's
parameters from its sizes (benchmark.model.unet_config), so the list takes about a second. Counting a
method's own parameters during pre-training (its heads, its momentum copies) builds it, which
imports torch: only when asked (`pretrain_params`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from benchmark.model.unet_config import UNetConfig, unet_parameters
from methods import catalogue

if TYPE_CHECKING:  # methods.base imports torch
    from methods.base import Profile


def _millions(count: int) -> float:
    return round(count / 1e6, 2)


def pretrain_parameters(unet: UNetConfig, profile: Profile) -> dict[str, int]:
    """name → parameters of each pre-training method built on `unet` with its `profile` settings
    (heads and momentum copies included); imports torch and every method."""
    from benchmark.model.unet import UNet, count_parameters
    from methods import registry

    return {name: count_parameters(cls(UNet(unet), cls.default_config(profile)))
            for name, cls in registry().items() if cls.pretrains}


def mask_geometry(mask_grid: int | str | None, size: int, unet: UNetConfig) -> str:
    """A masked method's patch mask on `size`-px images ('patch 4 px, grid 16×16'); '—' for one that
    masks no patches. "stride": one cell per pixel of the UNet's deepest feature map (SparK)."""
    if mask_grid is None:
        return "—"
    if mask_grid == "stride":
        patch = 2**unet.depth
        cells = size // patch if size % patch == 0 else None
        where = " (one per bottleneck pixel)"
    else:
        cells = int(mask_grid)
        patch = size // cells if size % cells == 0 else None
        where = ""
    if cells is None or patch is None:
        return f"grid does not divide {size} px"
    return f"patch {patch} px, grid {cells}×{cells}{where}"


def describe_methods(unet: UNetConfig = UNetConfig(), profile: Profile = "paper",
                     pretrain_params: bool = False, size: int = 256) -> list[dict[str, Any]]:
    """One row per registered method: name, label, what it transfers, its patch mask on `size`-px
    images, the parameters of the UNet it fine-tunes (`finetune_M`, millions), with `pretrain_params`
    those it pre-trains (`pretrain_M`, 0 for a method that does not), and its description. Parameters
    are counted at `unet` with each method's settings for `profile` (a run's sizes, so they match its
    Table I)."""
    finetune = _millions(unet_parameters(unet))
    pretrain = pretrain_parameters(unet, profile) if pretrain_params else None
    rows = []
    for name, card in catalogue().items():
        row: dict[str, Any] = {"method": name, "label": card.label or name, "transfers": card.transfers,
                               "mask": mask_geometry(card.mask_grid, size, unet)}
        if pretrain is not None:
            row["pretrain_M"] = _millions(pretrain.get(name, 0))
        rows.append({**row, "finetune_M": finetune, "description": card.description})
    return rows

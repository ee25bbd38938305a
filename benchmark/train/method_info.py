"""What `methods list` shows: each method's description, sizes and what it transfers."""

from __future__ import annotations

import pandas as pd

from benchmark.nets import UNet, UNetConfig, count_parameters
from methods import registry
from methods.base import Profile


def describe_methods(unet: UNetConfig = UNetConfig(), profile: Profile = "paper") -> pd.DataFrame:
    """One row per registered method; parameters counted on the UNet `unet` with the method's own
    settings for `profile` (a run's sizes, so they match its Table I)."""
    rows = []
    for name, cls in registry().items():
        net = UNet(unet)
        finetune_params = count_parameters(net)
        method = cls(net, cls.default_config(profile))
        rows.append({
            "method": name, "label": cls.label or name, "transfers": cls.transfers,
            "pretrain_M": round(count_parameters(method) / 1e6, 2) if cls.pretrains else 0.0,
            "finetune_M": round(finetune_params / 1e6, 2), "description": cls.description,
        })
    return pd.DataFrame(rows)

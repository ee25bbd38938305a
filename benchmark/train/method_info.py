"""What `methods list` shows: each method's description, sizes and what it transfers."""

from __future__ import annotations

import pandas as pd

from benchmark.nets import UNet, UNetConfig, count_parameters
from methods import registry


def describe_methods(base: int = 64) -> pd.DataFrame:
    """One row per registered method; parameters counted on a UNet of width `base`."""
    rows = []
    for name, cls in registry().items():
        unet = UNet(UNetConfig(base=base))
        finetune_params = count_parameters(unet)
        method = cls(unet, cls.default_config("paper"))
        rows.append({
            "method": name, "transfers": cls.transfers,
            "pretrain_M": round(count_parameters(method) / 1e6, 2) if cls.pretrains else 0.0,
            "finetune_M": round(finetune_params / 1e6, 2), "description": cls.description,
        })
    return pd.DataFrame(rows)

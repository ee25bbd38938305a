"""The file a UNet's weights travel in: safetensors (tensors only, no pickled code, so a file from
anyone is safe to open) with metadata naming the format, the UNet config and, for pre-trained
weights, what fine-tuning takes from them.

Below the stages, because two ends of the pipeline share it: `angiobench export` writes it
(benchmark.export) and a run's `--pretrained NAME=PATH` reads it back (benchmark.run.plan.imported_weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from benchmark.core.dataclass_io import to_plain
from benchmark.model.unet import Transfer, UNetConfig

WEIGHTS_FORMAT = "angiobench-unet"
#: The weights files of an export folder (benchmark.export.weights).
PRETRAINED_FILE = "pretrained.safetensors"
FINETUNED_FILE = "finetuned.safetensors"
#: Metadata keys: the format, the UNet config (JSON) and what fine-tuning takes of pre-trained weights.
FORMAT_KEY, UNET_KEY, TRANSFERS_KEY = "format", "unet", "transfers"


def save_unet_weights(path: Path, state: dict[str, torch.Tensor], unet: UNetConfig,
                      transfers: Transfer | None = None) -> None:
    """Write a UNet state dict with its metadata; `transfers` for pre-trained weights, so a run that
    brings them back transfers what their method did, not what their keys allow."""
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}
    metadata = {FORMAT_KEY: WEIGHTS_FORMAT, UNET_KEY: json.dumps(to_plain(unet))}
    if transfers is not None:
        metadata[TRANSFERS_KEY] = transfers
    save_file(tensors, str(path), metadata=metadata)

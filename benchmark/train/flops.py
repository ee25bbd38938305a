"""FLOPs of one training step per image, counted (torch's FlopCounterMode) on a narrow UNet at
64 px and scaled by (base/b)²·(size/64)², which is exact for the convolutions that dominate a UNet.

In the training stage so that a job records what it computed (its status.json's `flops`) and
`angiobench plan` / `speed` estimate with the same count.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmark.model.losses import dice_ce_loss
from benchmark.model.unet import UNet, UNetConfig
from methods import registry

COUNT_SIZE = 64
COUNT_BASE = 8
COUNT_BATCH = 4


def _scale(config: UNetConfig, size: int) -> float:
    return (config.base / COUNT_BASE) ** 2 * (size / COUNT_SIZE) ** 2


def training_flops_per_image(method: str | None, config: UNetConfig, size: int) -> float:
    """FLOPs of one training step per image (forward + backward) of `method`, or of fine-tuning (None)."""
    torch.manual_seed(0)
    unet = UNet(UNetConfig(base=COUNT_BASE, in_channels=config.in_channels, classes=config.classes, depth=config.depth))
    images = torch.randn(COUNT_BATCH, 1, COUNT_SIZE, COUNT_SIZE)
    with FlopCounterMode(display=False) as counter:
        if method is None:
            target = torch.zeros(COUNT_BATCH, COUNT_SIZE, COUNT_SIZE, dtype=torch.long)
            dice_ce_loss(unet(images), target).backward()
        else:
            cls = registry()[method]
            model = cls(unet, cls.default_config("tiny"))
            aux = model.prepare(images)
            if cls.uses_labels:  # the positive control trains on masks; their values do not change FLOPs
                aux = {**aux, "masks": torch.zeros(COUNT_BATCH, 1, COUNT_SIZE, COUNT_SIZE)}
            model.training_step(images, 0, 1, aux)["loss"].backward()
    return counter.get_total_flops() / COUNT_BATCH * _scale(config, size)

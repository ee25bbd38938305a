"""Positive control: supervised pre-training on the pre-training set *with its labels*.

No self-supervised method can use more than the labels themselves, so this is the upper bound an
SSL method aims at. It must beat the supervised baseline at the smallest fine-tuning share: when it
does not, the run's set-up cannot detect transfer, and the report says so first. It sees the labels
of the pre-training set only (never a fine-tuning or test image: the harness hands it the masks of
the job's own pre-training ids), and it is reported apart from the contenders.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.model.losses import dice_ce_loss
from methods.base import SSLMethod


class OracleControl(SSLMethod):
    name = "control-oracle"
    role = "positive-control"
    description = "Positive control: supervised pre-training on the PT set's labels (an upper bound)."
    label = "Positive control (supervised PT with labels)"
    colour = "#bcbd22"
    transfers = "encoder+decoder"
    uses_labels = True
    # Its 2-class head is not transferred either (Method.pretrained_unet): like every contender it
    # differs from the baseline in the encoder and decoder weights only.

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        # The fine-tuning loss (soft Dice + CE) on the PT set's own masks: transfer is certain.
        masks = aux["masks"][:, 0] > 0.5
        logits = self.unet(images)
        return {"loss": dice_ce_loss(logits, masks), "chance": constant_prediction_loss(masks, logits.shape[1])}


def constant_prediction_loss(masks: Tensor, classes: int) -> Tensor:
    """Dice + CE of predicting, at every pixel, the batch's vessel share: what a network that learned
    nothing of where vessels are scores at best (up to the Dice term's own optimum)."""
    share = masks.float().mean().clamp(1e-4, 1 - 1e-4)
    logits = torch.zeros(masks.shape[0], classes, *masks.shape[1:], device=masks.device)
    logits[:, 1] = torch.log(share / (1 - share))
    return dice_ce_loss(logits, masks)


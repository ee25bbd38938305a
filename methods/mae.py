"""MAE on a UNet (He et al. 2022, "Masked autoencoders are scalable vision learners"), as the
CM-UNet study benchmarked it: zero random patches of a 16×16 grid on the input (the study's 16-px
patches at 256 px; 4-px patches at 64 px), reconstruct the image with
the whole UNet, transfer encoder and decoder.

A convnet cannot drop masked tokens the way a ViT does, so masked patches are set to 0 (the mean of
a z-scored image) and the network sees the full grid; SparK (methods/spark.py) is the variant that
keeps the masked positions out of the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet
from methods._patches import mask_patches, masked_mean_fill, masked_mse
from benchmark.model.recipes import STUDY_BATCH, PretrainRecipe, scaled_lr
from methods.base import SSLMethod

LossOn = Literal["masked", "all"]

#: MAE's learning-rate rule: lr = base_lr × batch / 256 (He et al. 2022, pre-training settings).
MAE_BASE_LR = 1.5e-4


@dataclass(frozen=True)
class MAEConfig:
    """Masking and loss of the UNet MAE."""

    # cells per image side; None: the method's `mask_grid`, the study's 16×16 grid at every image size
    # (16-px patches at 256 px, 4-px patches at 64 px)
    grid: int | None = None
    mask_ratio: float = 0.5  # the study's MAE masks half of the patches
    # MAE scores the masked patches only (He et al. 2022); the study's code scored the whole image.
    loss_on: LossOn = "masked"

    def __post_init__(self) -> None:
        if self.loss_on not in ("masked", "all"):
            raise BenchmarkError(f"mae option loss_on={self.loss_on!r}: expected 'masked' or 'all'")
        if not 0.0 < self.mask_ratio < 1.0:
            raise BenchmarkError(f"mae option mask_ratio={self.mask_ratio}: expected a value in (0, 1)")
        if self.grid is not None and self.grid < 1:
            raise BenchmarkError(f"mae option grid={self.grid}: expected a positive number of cells per side")


def reconstruction_loss(
    prediction: Tensor, target: Tensor, pixel_mask: Tensor, loss_on: LossOn
) -> Tensor:
    """MSE in float32 over the masked pixels ("masked", MAE) or every pixel ("all", the study's code)."""
    scored = pixel_mask if loss_on == "masked" else torch.ones_like(pixel_mask)
    return masked_mse(prediction.float(), target.float(), scored)


class MAE(SSLMethod):
    name = "mae"
    study_order = 2
    description = "MAE on the UNet: zero half of the patches of a 16×16 grid and reconstruct the image."
    mask_grid = 16  # the study's 16×16 grid
    label = "MAE"
    colour = "#ff7f0e"
    transfers = "encoder+decoder"
    base_lr = MAE_BASE_LR
    official_crop = (0.2, 1.0)  # MAE's RandomResizedCrop(scale=(0.2, 1.0)) + flip (main_pretrain.py)

    cfg: MAEConfig
    settings_type = MAEConfig  # the mechanism is cheap: tiny keeps the paper's masking

    def __init__(self, unet: UNet, cfg: MAEConfig | None = None) -> None:
        super().__init__(unet, cfg)
        # Pretext head on the decoder output; the UNet's 2-class head is never used here.
        self.recon_head = nn.Conv2d(unet.cfg.base, 1, kernel_size=1)

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        # MAE's and the study's: AdamW, betas 0.9/0.95, weight decay 0.05, batch 256, 300 epochs with
        # 40 of warm-up, cosine (PretrainRecipe's defaults are the study's), lr by MAE's rule.
        return PretrainRecipe(lr=scaled_lr(MAE_BASE_LR, STUDY_BATCH), weight_decay=0.05)

    def mask(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(masked input, B×1×H×W pixel mask, True = masked): every image draws its own mask."""
        return mask_patches(images, self.cfg.grid or self.mask_grid, self.cfg.mask_ratio)

    def reconstruct(self, masked: Tensor) -> Tensor:
        return self.recon_head(self.unet.features(masked))

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        masked, pixels = self.mask(images)
        loss = reconstruction_loss(self.reconstruct(masked), images, pixels, self.cfg.loss_on)
        chance = reconstruction_loss(masked_mean_fill(images.float(), pixels), images, pixels, self.cfg.loss_on)
        return {"loss": loss, "chance": chance}

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        masked, _ = self.mask(images)
        return {"input": masked, "output": self.reconstruct(masked).float()}

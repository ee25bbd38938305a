"""Models Genesis (Zhou et al., MICCAI 2019; Medical Image Analysis 2021) on the study's UNet.

The UNet restores an image from a corrupted copy: flips (shared by input and target), local pixel
shuffling, a non-linear Bézier intensity transform and in-/out-painting, applied per image in that
order; the loss is the MSE over the whole image; encoder and decoder are transferred.

Intensity space: the harness feeds z-scored images; both the corruption and the restoration target
work on the per-image min-max rescaling to [0, 1], because the Bézier curve is defined on [0, 1]
and the painting noise is uniform in [0, 1). (The study's code painted [0, 1) noise into z-scored
images, so its noise sat at a different scale from the anatomy.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.model.unet import UNet
from methods._genesis_transforms import (
    Boxes,
    local_pixel_shuffle,
    nonlinear_intensity,
    paint,
    random_flip,
    unit_range,
)
from benchmark.model.recipes import PretrainRecipe
from methods.base import SSLMethod


@dataclass(frozen=True)
class GenesisConfig:
    """Corruption probabilities and geometry: the study's values (its code's config.py)."""

    flip_p: float = 0.4  # study: flip_rate 0.4; up to 3 flips, each further one with this probability
    max_flips: int = 3
    shuffle_p: float = 0.5  # study: local_rate 0.5
    # Study's code: 10,000 overlapping blocks with sides in [1, S//25] (Models Genesis: S//10); at 256²
    # they cover each pixel 10⁴·5.5²/256² ≈ 4.6 times on average, i.e. 1 − e^-4.6 ≈ 99 % of pixels.
    # Here: a non-overlapping grid of such blocks, 99 % of them shuffled.
    shuffle_block: float = 1 / 25
    shuffle_coverage: float = 0.99
    nonlinear_p: float = 0.9  # study: nonlinear_rate 0.9
    invert_p: float = 0.5  # both codes invert the Bézier curve (1 − y) half of the time
    paint_p: float = 0.9  # study: paint_rate 0.9
    outpaint_p: float = 0.8  # study: outpaint_rate 0.8 (in-painting the other 0.2)
    # Box sizes as the study's 2-D code draws them: up to 5 in-painted boxes with sides S/6 … S/3;
    # out-painting keeps one box of side 3S/7 … 5S/7 and up to 4 more of 3S/7 … 4S/7; 3-px margin.
    inpaint: Boxes = Boxes(count=5, side=(1 / 6, 1 / 3))
    outpaint: tuple[Boxes, ...] = (
        Boxes(count=1, side=(3 / 7, 5 / 7), first_p=1.0),
        Boxes(count=4, side=(3 / 7, 4 / 7)),
    )


def corrupt(target: Tensor, cfg: GenesisConfig) -> Tensor:
    """The pretext input: shuffling, Bézier intensity, painting, on images already in [0, 1]."""
    max_side = max(1, int(min(target.shape[-2:]) * cfg.shuffle_block))
    x = local_pixel_shuffle(target, cfg.shuffle_p, max_side, cfg.shuffle_coverage)
    x = nonlinear_intensity(x, cfg.nonlinear_p, cfg.invert_p)
    x, _ = paint(x, cfg.paint_p, cfg.outpaint_p, cfg.inpaint, cfg.outpaint)
    return x


class ModelsGenesis(SSLMethod):
    name = "genesis"
    study_order = 1
    description = "Models Genesis: restore images corrupted by shuffling, Bézier intensity and painting."
    label = "Models Genesis"
    colour = "#1f77b4"
    transfers = "encoder+decoder"

    settings_type = GenesisConfig  # the corruptions are cheap: the tiny profile keeps them all

    def __init__(self, unet: UNet, cfg: GenesisConfig | None = None) -> None:
        super().__init__(unet, cfg)
        self.restore_head = nn.Conv2d(unet.cfg.base, 1, kernel_size=1)  # linear, as the study's code

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        """The study's Models Genesis run, not the original paper's.

        Models Genesis' own config: SGD lr 1, momentum 0.9, batch 6, StepLR halving every 40
        epochs, early stopping (patience 50) within 10,000 epochs. The study's code
        (Pretraining/Transformation_based, not described in its README or paper) keeps SGD with
        momentum 0.9 and no weight decay, but hard-codes lr 1e-2 (its `lr = 1` is unused), batch
        64, at most 256 epochs. The harness has no step schedule: cosine without warm-up stands in
        for the halving every 40 epochs.
        """
        return PretrainRecipe(
            optimizer="sgd", lr=1e-2, momentum=0.9, weight_decay=0.0,
            batch_size=64, epochs=256, warmup_epochs=0, schedule="cosine",
        )

    def make_pair(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(corrupted input, restoration target), both in [0, 1]; the flip is applied to both."""
        with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
            target = random_flip(unit_range(images.float()), self.cfg.flip_p, self.cfg.max_flips)
            return corrupt(target, self.cfg), target

    def restore(self, corrupted: Tensor) -> Tensor:
        return self.restore_head(self.unet.features(corrupted))

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        corrupted, target = self.make_pair(images)
        loss = F.mse_loss(self.restore(corrupted).float(), target)
        # chance: the loss of returning the corrupted input unchanged, what a network that learned
        # nothing of restoring does best
        return {"loss": loss, "chance": F.mse_loss(corrupted.float(), target.float())}

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        corrupted, _ = self.make_pair(images)
        return {"input": corrupted, "output": self.restore(corrupted).float()}


"""A template for a new SSL method: copy this file to `methods/<name>.py`, rename the class and
`name`, and replace the pretext task. Discovery skips files whose names start with '_', so this one
never joins a run; `tests/test_template_method.py` runs it through the contract so it stays runnable.

The example pretext task is denoising: add Gaussian noise, reconstruct the clean image with the whole
UNet. It is a real (if plain) method, chosen because it is the shortest complete example.

What the harness owns (do not write these here): the training loop, the optimiser and schedule,
precision, checkpoints, seeds, data loading, fine-tuning and evaluation. What a method owns: its
settings, the modules it builds once, `training_step`, and optionally `prepare`, `after_step`
(momentum branches), `preview` (report figures) and `pretrained_unet` (what is transferred).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from benchmark.model.unet import UNet
from benchmark.model.recipes import STUDY_BATCH, STUDY_EPOCHS, STUDY_WARMUP_EPOCHS, PretrainRecipe, scaled_lr
from methods.base import SSLMethod


@dataclass(frozen=True)
class DenoisingConfig:
    """The method's own settings, each with where its value comes from; `[method.NAME]` in a run
    config overrides them."""

    noise_sd: float = 0.5  # in units of the z-scored image's SD; an illustrative value, not a paper's


class DenoisingTemplate(SSLMethod):
    name = "template-denoising"  # the registry key: what `--methods` and the result rows say
    description = "Template: reconstruct the clean image from a noisy copy (whole UNet transferred)."
    # How reports name and colour it: the run folder stores both (methods.json), so nothing in
    # reports/ needs an edit for a new method. "" falls back to `name` and a spare colour.
    label = "Denoising (template)"
    colour = "#8c564b"  # any matplotlib colour; pick one no other method uses (see `methods list`)
    transfers = "encoder+decoder"  # "encoder" or "encoder+decoder": what fine-tuning starts from
    # The fair protocol (benchmark/model/recipes.py) gives every method the same optimiser, schedule, batch
    # and steps; from the method it takes only these two facts of its paper:
    base_lr = 1.5e-4  # the paper's base rate under lr = base × batch / 256 (MAE's, for an SGD paper)
    official_crop = None  # e.g. (0.2, 1.0): random-resized-crop area range + flip the harness applies

    settings_type = DenoisingConfig  # its settings at every profile (override default_config to vary them)

    def __init__(self, unet: UNet, cfg: DenoisingConfig | None = None) -> None:
        super().__init__(unet, cfg)
        # Build every module once, here (never inside training_step): heads, decoders, momentum copies.
        self.recon_head = nn.Conv2d(unet.cfg.base, 1, kernel_size=1)

    # A method with a momentum branch or a queue sizes it to the run under the fair protocol by
    # overriding `fit_to_budget(settings, images, steps, batch_size)` (see methods/moco.py).

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        # Override only the paper recipe: the tiny profile's recipe is the harness's, shared by all.
        return PretrainRecipe(optimizer="adamw", lr=scaled_lr(1.5e-4, STUDY_BATCH), batch_size=STUDY_BATCH,
                              epochs=STUDY_EPOCHS, warmup_epochs=STUDY_WARMUP_EPOCHS)

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        # images: B×1×H×W, z-scored, already on the device; aux: this batch's rows of `prepare` ({}).
        # The UNet's parts, for a pretext task of your own (benchmark/model/unet.py):
        #   self.unet.encoder(x) → a list of depth + 1 feature maps, finest first, bottleneck last:
        #     feature i is B × widths[i] × H/2^i × W/2^i, with widths = self.unet.cfg.widths()
        #     = [base, 2·base, …, 2^depth·base] (base 64, depth 4 in the study: 64 … 1024 channels,
        #     the bottleneck at H/16); an encoder-only method (transfers = "encoder") uses these;
        #   self.unet.decoder(features) → B × base × H × W, the same as self.unet.features(x);
        #   self.unet.head: the 1×1 classifier (never transferred).
        # Draw randomness from torch's generator (seeded by the harness) and per image, never per batch.
        noisy = images + self.cfg.noise_sd * torch.randn_like(images)
        restored = self.recon_head(self.unet.features(noisy)).float()
        # "chance" (optional, but the report can then tell whether the pretext learned): the loss a
        # network that learned nothing scores on this batch — here, returning the noisy input as it is.
        chance = torch.mean((noisy.float() - images.float()) ** 2)
        return {"loss": torch.mean((restored - images.float()) ** 2), "chance": chance}

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        noisy = images + self.cfg.noise_sd * torch.randn_like(images)
        return {"input": noisy, "output": self.recon_head(self.unet.features(noisy))}

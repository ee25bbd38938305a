"""CM-UNet (Challier et al. 2025): CMAE (Huang et al. 2024, "Contrastive masked autoencoders are
stronger vision learners") on the study's UNet — the method the study proposes.

Views (paper §III-A-1; reference dataset code): one random resized crop + flip per image is the *base*
crop; views A and B are two crops of it, B shifted from A by a small random (dy, dx); B also gets
Gaussian noise. The pretraining input is a batch of S×S images, so the base crop is resized to
(S + max_shift)² and both views are S×S crops of it: A at the base's top-left corner, B at (dy, dx)
∈ [0, max_shift]² — the reference's geometry (224-px views of a 256-px base, shift ≤ 31 px) scaled to
any S. `shifted_views` returns both views and the shift, so the overlap is testable.

Online branch: view A with 65 % of the patches of a 16×16 grid zeroed (each image its own mask) → UNet encoder
→ the UNet decoder (pixel decoder) + a 1×1 head reconstructs A; MSE on masked pixels (L_r). The same
encoder features also go to a feature decoder (UNet-decoder architecture, own weights), whose output
is averaged over space and mapped by projector g and predictor q: Z_ADP = q(g(·)).

Momentum branch: EMA copy of the encoder on view B (no gradients) → bottleneck averaged over space →
adapter (16·base → base channels, the projector's input size) → EMA copy of g: Z_BP.

The adapter, decided here: built once and trained by back-propagation from L_c. It is the one trained
module on the momentum side; the momentum encoder and g_m get no gradient (their inputs come from
no_grad / frozen weights), so the only parameters Z_BP's graph reaches are the adapter's. It cannot
be an EMA copy of an online twin because nothing on the online side maps a bottleneck to the
projector's input: such a twin would never be trained and the "EMA" adapter would stay a frozen
random projection. (The reference built a fresh random adapter in every forward pass and detached
the target, so its adapter was never trained.)

Loss: L = L_r + λ_c·L_c with L_c the InfoNCE of Z_ADP against Z_BP, the other images of the batch
being the negatives (paper eq. 3). Transferred: encoder + pixel decoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import Decoder, UNet
from methods._contrastive import global_pool, info_nce, projection_mlp, random_resized_crop
from methods._patches import mask_patches, masked_mean_fill, masked_mse
from benchmark.model.recipes import PretrainRecipe, ema_momentum_for
from methods.base import Profile, SSLMethod, momentum_copy


@dataclass(frozen=True)
class CMUNetConfig:
    """Paper values (Challier et al. 2025, §III–IV) and, where the paper is silent, the reference code's
    (configs/cmunet_config.py, datasets/cmunet_dataset.py of CamilleChallier/Contrastive-Masked-UNet)."""

    # cells per image side; None: the method's `mask_grid`, the study's 16×16 grid at every image size
    # (paper §IV-C: 16-px patches at 256 px, 4-px patches at 64 px)
    grid: int | None = None
    mask_ratio: float = 0.65  # 65 % masked (paper §IV-C)
    proj_hidden: int = 1536  # projector/predictor hidden width (code: NonLinearNeck hid_channels)
    proj_dim: int = 256  # projector/predictor output (code: out_channels)
    temperature: float = 0.07  # τ (the study code's head temperature)
    # λ_c: the paper gives no value; the code weights its cross-entropy by ct_weight·2τ = 1.0·2·0.07.
    lambda_c: float = 0.14
    momentum: float = 0.996  # EMA of the momentum branch, constant (code: MomentumUpdateHook end 0.996)
    crop_scale: tuple[float, float] = (0.2, 1.0)  # base crop area range (code: RandomResizedCrop)
    flip_p: float = 0.5  # base crop flip (code: RandomFlip)
    max_shift_fraction: float = 31 / 224  # view shift ≤ 31 px on 224-px views (code: ShiftPixel)
    noise_of_max: float = 0.1  # view B noise std = max(view)/10, always applied (code: GaussNoise)

    def __post_init__(self) -> None:
        if self.grid is not None and self.grid < 1:
            raise BenchmarkError(f"cmunet option grid={self.grid}: expected a positive number of cells per side")
        if not 0.0 < self.mask_ratio < 1.0:
            raise BenchmarkError(f"cmunet option mask_ratio={self.mask_ratio}: expected a value in (0, 1)")
        if self.temperature <= 0:
            raise BenchmarkError(f"cmunet option temperature={self.temperature}: expected a positive value")
        if self.lambda_c < 0:
            raise BenchmarkError(f"cmunet option lambda_c={self.lambda_c}: expected a non-negative weight")
        if not 0.0 <= self.momentum <= 1.0:
            raise BenchmarkError(f"cmunet option momentum={self.momentum}: expected a value in [0, 1]")
        if not 0.0 <= self.max_shift_fraction < 1.0:
            raise BenchmarkError(
                f"cmunet option max_shift_fraction={self.max_shift_fraction}: expected a value in [0, 1)"
            )


def shifted_views(base: Tensor, size: tuple[int, int], max_shift: int) -> tuple[Tensor, Tensor, Tensor]:
    """Two `size` crops of each base image: A at (0, 0), B at a random (dy, dx) ∈ [0, max_shift]².

    Returns (A, B, shift) with shift B×2 (dy, dx), so B[i, :, y, x] == A[i, :, y + dy, x + dx]
    wherever both exist. The base must be at least `size` + max_shift on each side.
    """
    b, _, base_h, base_w = base.shape
    h, w = size
    if base_h < h + max_shift or base_w < w + max_shift:
        raise ValueError(f"a {base_h}×{base_w} base cannot hold {h}×{w} views shifted by {max_shift} px")
    shift = torch.randint(0, max_shift + 1, (b, 2), device=base.device)
    rows = shift[:, :1] + torch.arange(h, device=base.device)
    cols = shift[:, 1:] + torch.arange(w, device=base.device)
    batch = torch.arange(b, device=base.device)[:, None, None]
    # Advanced indices around a slice put the channel last: B×h×w×C → B×C×h×w.
    view_b = base[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return base[:, :, :h, :w], view_b, shift


class CMUNet(SSLMethod):
    name = "cmunet"
    study_order = 5
    featured = True
    description = "CM-UNet: masked reconstruction plus InfoNCE against a momentum encoder on a shifted view."
    label = "CM-UNet"
    colour = "#d62728"
    mask_grid = 16  # paper §IV-C: 16×16 patches of 256-px images
    transfers = "encoder+decoder"

    cfg: CMUNetConfig

    def __init__(self, unet: UNet, cfg: CMUNetConfig | None = None) -> None:
        super().__init__(unet, cfg)
        c = self.cfg
        base, bottleneck = unet.cfg.base, unet.encoder.widths[-1]
        # Pretext head on the pixel decoder; the UNet's 2-class head is never used here.
        self.recon_head = nn.Conv2d(base, 1, kernel_size=1)
        self.feature_decoder = Decoder(unet.cfg)
        self.projector = projection_mlp(base, c.proj_hidden, c.proj_dim)
        self.predictor = projection_mlp(c.proj_dim, c.proj_hidden, c.proj_dim)
        self.momentum_encoder = momentum_copy(unet.encoder)
        self.momentum_projector = momentum_copy(self.projector)
        self.adapter = nn.Linear(bottleneck, base)  # built once, trained (module docstring)

    @classmethod
    def default_config(cls, profile: Profile) -> CMUNetConfig:
        return CMUNetConfig(proj_hidden=128, proj_dim=64) if profile != "paper" else CMUNetConfig()

    @classmethod
    def fit_to_budget(cls, settings: CMUNetConfig, images: int, steps: int, batch_size: int) -> CMUNetConfig:
        """The momentum branch's EMA sized to the run (benchmark.model.recipes.ema_momentum_for): 0.996 over
        60 steps would leave most of its random start in the branch the InfoNCE compares against."""
        return dataclasses.replace(settings, momentum=ema_momentum_for(steps))

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        # Paper §IV-C: AdamW (0.9, 0.95), wd 0.05, batch 256, 300 epochs, 40 linear warm-up then cosine.
        # lr: "adjusted based on the batch size, update interval and GPU configuration"; the code sets
        # lr = 1.5e-4 × batch 256 × update_interval 1 × gpu_num 16 / 256 = 2.4e-3 (gpu_num is a constant).
        return PretrainRecipe(
            optimizer="adamw",
            lr=1.5e-4 * 256 * 1 * 16 / 256,
            weight_decay=0.05,
            betas=(0.9, 0.95),
            batch_size=256,
            epochs=300,
            warmup_epochs=40,
            schedule="cosine",
        )

    def views(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(view A, noisy view B, shift): two shifted crops of one random resized base crop per image."""
        c = self.cfg
        _, _, h, w = images.shape
        shift = round(c.max_shift_fraction * min(h, w))
        base = random_resized_crop(images, (h + shift, w + shift), c.crop_scale, flip_p=c.flip_p)
        view_a, view_b, offsets = shifted_views(base, (h, w), shift)
        noise_std = c.noise_of_max * view_b.amax(dim=(1, 2, 3), keepdim=True).clamp_min(0.0)
        return view_a, view_b + noise_std * torch.randn_like(view_b), offsets

    def mask(self, view: Tensor) -> tuple[Tensor, Tensor]:
        """(masked view, B×1×H×W pixel mask, True = masked): each image draws its own mask."""
        return mask_patches(view, self.cfg.grid or self.mask_grid, self.cfg.mask_ratio)

    def online(self, masked: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction, Z_ADP) from one encoder pass over the masked view."""
        features = self.unet.encoder(masked)
        reconstruction = self.recon_head(self.unet.decoder(features))
        z_adp = self.predictor(self.projector(global_pool(self.feature_decoder(features))))
        return reconstruction, z_adp

    def target(self, view: Tensor) -> Tensor:
        """Z_BP; gradients reach only the adapter, never the momentum encoder or projector."""
        with torch.no_grad():
            latent = global_pool(self.momentum_encoder(view)[-1])
        return self.momentum_projector(self.adapter(latent))

    def losses(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(L_r, L_c, chance) in float32 for one batch. Chance: L_r of the masked pixels' mean plus
        λ_c · log B, InfoNCE's value when every image of the batch is scored alike."""
        view_a, view_b, _ = self.views(images)
        masked, pixels = self.mask(view_a)
        reconstruction, z_adp = self.online(masked)
        loss_r = masked_mse(reconstruction.float(), view_a.float(), pixels)
        loss_c = info_nce(z_adp, self.target(view_b), self.cfg.temperature)
        chance = masked_mse(masked_mean_fill(view_a.float(), pixels), view_a.float(), pixels)
        return loss_r, loss_c, chance + self.cfg.lambda_c * math.log(images.shape[0])

    def training_step(self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]) -> dict[str, Tensor]:
        loss_r, loss_c, chance = self.losses(images)
        return {
            "loss": loss_r + self.cfg.lambda_c * loss_c,
            "chance": chance,
            "loss_recon": loss_r.detach(),
            "loss_contrast": loss_c.detach(),
        }

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.unet.encoder, self.momentum_encoder), (self.projector, self.momentum_projector)]

    def ema_momentum(self, step: int, total_steps: int) -> float:
        return self.cfg.momentum

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        masked, _ = self.mask(images)
        # Pixel branch only: the projector's BatchNorm1d cannot run on a single preview image.
        return {"input": masked, "output": self.recon_head(self.unet.features(masked)).float()}

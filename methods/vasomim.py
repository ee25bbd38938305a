"""VasoMIM on the UNet (Huang et al. 2025–26, "Vascular anatomy-aware self-supervised pre-training
for X-ray angiogram analysis"; AAAI 2026 "VasoMIM: vascular anatomy-aware masked image modeling"):
the UNet MAE (methods/mae.py) with masks and a loss that know where the vessels are.

- Vessel prior (methods/_vessel_prior.py): Sato's multi-scale ridge filter for dark tubes, the
  border ignored, the top 8 % of the response kept and cleaned of specks — no labels. (The paper
  uses Frangi's filter; Sato's has one eigenvalue term and no β, c constants to tune.)
- Anatomy-guided masking: per image, round(ratio·n) of the n patches of a 16×16 grid are masked; a share of
  them is drawn without replacement in proportion to each patch's vessel mass, the rest uniformly.
  The share rises linearly from 0 at the first step to `max_guided_share` (0.5) at the end (the
  paper's weak-to-strong schedule), so pre-training starts as plain MAE masking and ends with half
  the masked set on vessels.
- Anatomical consistency: the vessel maps of the input and of the reconstruction must agree.
  L = masked-patch MSE + λ·consistency; encoder and decoder transfer, as for MAE.

Which vessel-response function (the issue leaves the choice): the fixed Sato filter, in torch and
differentiable, not a small segmentor trained on the prior's pseudo-labels (the paper's choice). A
fixed filter needs no extra training stage before pre-training, adds no weights, and cannot drift
or be fooled by the network it judges: it measures curvature across a dark ridge, which is what a
reconstruction must restore for the vessel to exist.

The consistency term, defined so identical images give exactly 0: each pixel's response r becomes
a vessel probability sigmoid((r − t)/(s·t)), with t the per-image threshold of the prior (the
92nd-percentile response of the *input*) and s a softness; the same t maps input and
reconstruction, so the network cannot rescale its way out. The input's map q (no gradient) is the
soft target, the reconstruction's map p the prediction, and the loss is the per-pixel Bernoulli
KL(q‖p) = BCE(p, q) − H(q), averaged over the interior. BCE alone would bottom out at the target's
entropy, not at 0. The reconstruction compared is the MAE composite — visible patches from the
input, masked ones predicted — so the term judges what was inpainted, in its context, and is blind
to a constant offset (the filter is a second derivative).

The prior and the consistency target are computed inside `training_step` from the batch as the
network sees it, after the harness's random resized crop and flip: a filter's response does not
commute with zooming, so maps filtered once on the whole image and then cropped with it would be
another image's target (a perfect reconstruction of a cropped view then scored 0.06 consistency,
and the bilinearly resampled boolean prior grew from 7 % to 19 % of the pixels). The prior
thresholds the very response the consistency target needs anyway, so each step filters its input
once and its reconstruction once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.core.errors import BenchmarkError
from benchmark.model.unet import UNet
from methods._patches import grid_patch, masked_mean_fill, upsample_mask, weighted_patch_mask
from methods._vessel_prior import (
    VesselMaps,
    VesselPriorConfig,
    patch_vessel_mass,
    ridge_response,
    vessel_maps,
)
from benchmark.model.recipes import PretrainRecipe
from methods.base import SSLMethod
from methods.mae import MAE, reconstruction_loss


@dataclass(frozen=True)
class VasoMIMConfig:
    """Masking, schedule and loss weights; the prior's own settings in `prior`."""

    # cells per image side; None: the method's `mask_grid`, the study's 16×16 grid at every image size
    # as for every masked method of the study (16-px patches at 256 px, 4-px patches at 64 px)
    grid: int | None = None
    mask_ratio: float = 0.5  # as the study's MAE, so the two differ only by VasoMIM's additions
    max_guided_share: float = 0.5  # the vessel-guided share rises from 0 to 0.5 (issue 6)
    # λ: VasoMIM sums the two losses unweighted (AAAI 2026 version: L = L_rec + L_cons). Checked here
    # on synthetic angiograms (base-8 UNet, 100–150 steps, 64 and 128 px): at 1.0 the held-out
    # consistency ends 14–16 % lower than without the term and the masked MSE no worse; at 0.1 the
    # term changes nothing measurable.
    consistency_weight: float = 1.0
    # sigmoid width as a share of the threshold: r = 0 ↦ sigmoid(−4) ≈ 0.02, r = 2t ↦ 0.98
    softness: float = 0.25
    prior: VesselPriorConfig = field(default_factory=VesselPriorConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_ratio < 1.0:
            raise BenchmarkError(f"vasomim option mask_ratio={self.mask_ratio}: expected a value in (0, 1)")
        if not 0.0 <= self.max_guided_share <= 1.0:
            raise BenchmarkError(
                f"vasomim option max_guided_share={self.max_guided_share}: expected a value in [0, 1]"
            )
        if self.consistency_weight < 0:
            raise BenchmarkError(
                f"vasomim option consistency_weight={self.consistency_weight}: expected ≥ 0"
            )
        if self.softness <= 0:
            raise BenchmarkError(f"vasomim option softness={self.softness}: expected a positive value")
        if self.grid is not None and self.grid < 1:
            raise BenchmarkError(f"vasomim option grid={self.grid}: expected a positive number of cells per side")


def guided_share(step: int, total_steps: int, max_share: float) -> float:
    """The vessel-guided share of the masked set: 0 at step 0, rising linearly to `max_share`."""
    return max_share * min(1.0, step / max(1, total_steps))


def vessel_logits(response: Tensor, threshold: Tensor, softness: float) -> Tensor:
    """Response → logit of a soft vessel map: 0 at the prior's threshold, 1 per softness·threshold."""
    return (response - threshold) / (softness * threshold).clamp_min(1e-6)


def anatomical_consistency(reconstruction: Tensor, maps: VesselMaps, softness: float) -> Tensor:
    """Mean per-pixel KL(q‖p) over the interior: q the input's soft vessel map, p the reconstruction's.

    Exactly 0 when the reconstruction equals the input (both maps come out of the same arithmetic).
    """
    target = vessel_logits(maps.response, maps.threshold, softness)
    prediction = vessel_logits(ridge_response(reconstruction, maps.sigmas), maps.threshold, softness)
    q = torch.sigmoid(target)
    cross_entropy = F.binary_cross_entropy_with_logits(prediction, q, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(target, q, reduction="none")
    weight = maps.inside.expand_as(q).float()
    return ((cross_entropy - entropy) * weight).sum() / weight.sum().clamp_min(1.0)


class VasoMIM(SSLMethod):
    name = "vasomim"
    study_order = 6
    description = "VasoMIM on the UNet: vessel-guided MAE masks plus a vessel-map consistency loss."
    label = "VasoMIM"
    colour = "#17becf"
    mask_grid = 16  # the study's 16×16 grid, as MAE's
    transfers = "encoder+decoder"
    base_lr = MAE.base_lr  # a MAE variant (XA-SSL trains it with MAE's recipe)
    official_crop = MAE.official_crop

    cfg: VasoMIMConfig
    settings_type = VasoMIMConfig  # the filter and the masking are cheap: tiny keeps the paper's mechanism

    def __init__(self, unet: UNet, cfg: VasoMIMConfig | None = None) -> None:
        super().__init__(unet, cfg)
        # Pretext head on the decoder output, as MAE's; the UNet's 2-class head is never used here.
        self.recon_head = nn.Conv2d(unet.cfg.base, 1, kernel_size=1)

    @classmethod
    def paper_recipe(cls) -> PretrainRecipe:
        return MAE.paper_recipe()  # a MAE variant: same optimiser, batch and length

    def mask(self, images: Tensor, share: float, maps: VesselMaps) -> Tensor:
        """B×1×H×W pixel mask, True = masked; a `share` of the masked patches drawn ∝ vessel mass."""
        _, _, h, w = images.shape
        mass = patch_vessel_mass(maps.prior, grid_patch(h, w, self.cfg.grid or self.mask_grid))
        return upsample_mask(weighted_patch_mask(mass, self.cfg.mask_ratio, share), h, w)

    def reconstruct(self, masked: Tensor) -> Tensor:
        return self.recon_head(self.unet.features(masked))

    def _masked_reconstruction(self, images: Tensor, share: float) -> tuple[Tensor, Tensor, Tensor, VesselMaps]:
        """(masked input, pixel mask, float32 reconstruction, vessel maps of the input as given)."""
        maps = vessel_maps(images, self.cfg.prior)
        pixels = self.mask(images, share, maps)
        masked = images.masked_fill(pixels, 0.0)
        return masked, pixels, self.reconstruct(masked).float(), maps

    def training_step(
        self, images: Tensor, step: int, total_steps: int, aux: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        share = guided_share(step, total_steps, self.cfg.max_guided_share)
        _, pixels, prediction, maps = self._masked_reconstruction(images, share)
        reconstruction = reconstruction_loss(prediction, images, pixels, "masked")
        composite = torch.where(pixels, prediction, images.float())
        consistency = anatomical_consistency(composite, maps, self.cfg.softness)
        return {
            "loss": reconstruction + self.cfg.consistency_weight * consistency,
            "chance": self.chance(images, pixels, maps),
            "reconstruction": reconstruction.detach(),
            "consistency": consistency.detach(),
        }

    @torch.no_grad()
    def chance(self, images: Tensor, pixels: Tensor, maps: VesselMaps) -> Tensor:
        """The loss of a network that learned nothing: masked patches filled with their mean, scored
        by both terms (a flat fill also erases the vessels the consistency term looks for)."""
        fill = masked_mean_fill(images.float(), pixels)
        composite = torch.where(pixels, fill, images.float())
        return (reconstruction_loss(fill, images, pixels, "masked")
                + self.cfg.consistency_weight * anatomical_consistency(composite, maps, self.cfg.softness))

    @torch.no_grad()
    def preview(self, images: Tensor) -> dict[str, Tensor]:
        """Masks as at the end of pre-training (the full guided share)."""
        masked, pixels, prediction, _ = self._masked_reconstruction(images, self.cfg.max_guided_share)
        return {"input": masked, "output": torch.where(pixels, prediction, images.float())}

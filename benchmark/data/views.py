"""Random views of whole batches, drawn from torch's global RNG (seeded by the harness): the random
resized crop + horizontal flip that MAE, SparK and the contrastive methods train on.

Kept in the data stage so the pre-training loop (for the masked methods) and the contrastive
methods share one implementation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def uniform(batch: int, bounds: tuple[float, float], device: torch.device) -> Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(batch, device=device)


def chance(batch: int, p: float, device: torch.device) -> Tensor:
    return torch.rand(batch, device=device) < p


def random_resized_crop(
    images: Tensor,
    size: tuple[int, int],
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
) -> Tensor:
    """Per-image random crop (area fraction in `scale`, aspect in `ratio`), horizontal flip, resize to `size`.

    One bilinear `grid_sample` for the whole batch. Where the drawn box is wider or taller than the
    image it is clamped to the image (torchvision redraws instead; the difference is a little more
    mass at full width/height).
    """
    b, _, h, w = images.shape
    device = images.device
    area = uniform(b, scale, device)
    aspect = torch.exp(uniform(b, (math.log(ratio[0]), math.log(ratio[1])), device))
    # Box sides as fractions of the image sides, for an aspect ratio measured in pixels.
    box_w = torch.sqrt(area * aspect * h / w).clamp(max=1.0)
    box_h = torch.sqrt(area / aspect * w / h).clamp(max=1.0)
    centre_x = (1.0 - box_w) * (2.0 * torch.rand(b, device=device) - 1.0)
    centre_y = (1.0 - box_h) * (2.0 * torch.rand(b, device=device) - 1.0)
    mirror = 1.0 - 2.0 * chance(b, flip_p, device).float()
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0] = box_w * mirror
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = box_h
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, [b, images.shape[1], *size], align_corners=False)
    return F.grid_sample(
        images, grid.to(images.dtype), mode="bilinear", padding_mode="reflection", align_corners=False
    )


def same_view(tensors: list[Tensor], scale: tuple[float, float], flip_p: float = 0.5) -> list[Tensor]:
    """One random resized crop + flip per image, applied identically to every tensor given (an
    image batch and the per-image maps computed from it, all B×C×H×W of one H×W). A boolean map is
    resampled bilinearly and thresholded at one half, so it neither grows nor shrinks beyond a pixel
    at its edges (cast straight back to bool, every pixel that touched the map would become True)."""
    b, _, h, w = tensors[0].shape
    channels = [t.shape[1] for t in tensors]
    stacked = torch.cat([t.float() for t in tensors], dim=1)
    views = random_resized_crop(stacked, (h, w), scale, flip_p=flip_p).split(channels, dim=1)
    return [v > 0.5 if t.dtype == torch.bool else v.to(t.dtype) for v, t in zip(views, tensors)]

"""Patch masks and masked losses shared by the masked-image-modelling methods (MAE, SparK, CM-UNet, VasoMIM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def patch_grid(height: int, width: int, patch: int) -> tuple[int, int]:
    if height % patch or width % patch:
        raise ValueError(f"image {height}×{width} is not a multiple of the {patch}-px patch")
    return height // patch, width // patch


def grid_patch(height: int, width: int, grid: int) -> int:
    """The side in pixels of a patch when a square image is cut into grid × grid cells."""
    if grid < 1 or height != width or height % grid:
        raise ValueError(f"a {height}×{width} image cannot be cut into a {grid}×{grid} grid of square patches")
    return height // grid


def masked_patch_count(n: int, ratio: float) -> int:
    """How many of an image's n patches a mask of `ratio` covers: the same for every image."""
    return int(round(ratio * n))


def random_patch_mask(
    batch: int, height: int, width: int, patch: int, ratio: float, device: torch.device | str = "cpu"
) -> Tensor:
    """Per-image masks on the patch grid: B×gh×gw bool, True = masked, exactly round(ratio·gh·gw) each.

    Every image draws its own mask (the reference code used one mask for the whole batch).
    """
    gh, gw = patch_grid(height, width, patch)
    n = gh * gw
    n_masked = masked_patch_count(n, ratio)
    order = torch.rand(batch, n, device=device).argsort(dim=1)
    mask = torch.zeros(batch, n, dtype=torch.bool, device=device)
    mask.scatter_(1, order[:, :n_masked], True)
    return mask.view(batch, gh, gw)


def upsample_mask(grid_mask: Tensor, height: int, width: int) -> Tensor:
    """B×gh×gw patch mask → B×1×H×W pixel mask (nearest), any scale the grid divides."""
    return F.interpolate(grid_mask[:, None].float(), size=(height, width), mode="nearest").bool()


def mask_patches(images: Tensor, grid: int, ratio: float) -> tuple[Tensor, Tensor]:
    """(images with `ratio` of the patches of a `grid`×`grid` grid zeroed, B×1×H×W pixel mask, True =
    masked): the MAE-style mask, each image drawing its own."""
    b, _, h, w = images.shape
    patches = random_patch_mask(b, h, w, grid_patch(h, w, grid), ratio, images.device)
    pixels = upsample_mask(patches, h, w)
    return images.masked_fill(pixels, 0.0), pixels


def masked_mse(prediction: Tensor, target: Tensor, pixel_mask: Tensor) -> Tensor:
    """Mean squared error over the pixels where `pixel_mask` is True (B×1×H×W)."""
    weight = pixel_mask.to(prediction.dtype)
    return ((prediction - target) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)


def masked_mean_fill(target: Tensor, pixel_mask: Tensor) -> Tensor:
    """Each image filled with the mean of its own masked pixels (B×1×H×W): the best constant
    prediction of what is hidden, so `masked_mse` of it is a masked method's chance level, the loss
    of a network that learned nothing of the image's content."""
    weight = pixel_mask.to(target.dtype)
    mean = (target * weight).sum(dim=(1, 2, 3), keepdim=True) / weight.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
    return mean.expand_as(target)


def patch_mean_std(images: Tensor, patch: int, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Per-patch mean and sqrt(unbiased var + eps) over all channels, spread back to B×1×H×W.

    MAE's norm_pix_loss statistics; SparK's visualisation also uses them to map a
    normalised reconstruction back to intensities.
    """
    b, c, h, w = images.shape
    gh, gw = patch_grid(h, w, patch)
    flat = images.reshape(b, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5).reshape(b, gh, gw, -1)
    mean, std = flat.mean(dim=-1), (flat.var(dim=-1) + eps).sqrt()
    return upsample_values(mean, h, w), upsample_values(std, h, w)


def upsample_values(grid: Tensor, height: int, width: int) -> Tensor:
    """B×gh×gw per-patch values → B×1×H×W, each patch filled with its value."""
    rows, cols = height // grid.shape[1], width // grid.shape[2]
    return grid[:, None].repeat_interleave(rows, 2).repeat_interleave(cols, 3)


def normalise_patches(images: Tensor, patch: int, eps: float = 1e-6) -> Tensor:
    """Each patch (all channels together) minus its mean, over sqrt(unbiased var + eps): MAE's
    norm_pix_loss target, used by SparK, so the network reconstructs local contrast, not brightness."""
    mean, std = patch_mean_std(images, patch, eps)
    return (images - mean) / std


def proportional_sample(weights: Tensor, k: int) -> Tensor:
    """B×n bool with k True per row, drawn without replacement with probability ∝ weight.

    An exponential race (Gumbel-top-k on log-weights): entry i finishes at E_i / w_i, E_i ~ Exp(1),
    and the k first to finish are drawn, which is successive sampling ∝ weight among the entries
    left. Zero-weight entries finish after every positive one, in uniformly random order, so they
    are drawn only once the positive ones run out.
    """
    race = torch.empty(weights.shape, device=weights.device).exponential_()
    positive = weights > 0
    finish = torch.where(positive, race / weights.float().clamp_min(torch.finfo(torch.float32).tiny), race)
    last_positive = torch.where(positive, finish, torch.zeros_like(finish)).amax(dim=1, keepdim=True)
    finish = torch.where(positive, finish, finish + last_positive)
    drawn = torch.zeros(weights.shape, dtype=torch.bool, device=weights.device)
    drawn.scatter_(1, finish.topk(k, dim=1, largest=False).indices, True)
    return drawn


def weighted_patch_mask(weights: Tensor, ratio: float, guided_share: float) -> Tensor:
    """B×gh×gw bool, True = masked, round(ratio·gh·gw) per image: a `guided_share` of them drawn ∝
    `weights` (B×gh×gw, ≥ 0), the rest uniformly among the patches left.

    With no guided patch this is `random_patch_mask` itself, same draws from the same RNG state.
    """
    b, gh, gw = weights.shape
    n = gh * gw
    n_masked = masked_patch_count(n, ratio)
    n_guided = int(round(guided_share * n_masked))
    if n_guided == 0:
        return random_patch_mask(b, gh, gw, 1, ratio, weights.device)
    guided = proportional_sample(weights.reshape(b, n), n_guided)
    # guided patches sort first; uniform keys then fill the rest of the masked set at random
    order = torch.rand(b, n, device=weights.device).masked_fill(guided, -1.0).argsort(dim=1)
    mask = torch.zeros(b, n, dtype=torch.bool, device=weights.device)
    mask.scatter_(1, order[:, :n_masked], True)
    return mask.view(b, gh, gw)

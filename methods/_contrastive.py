"""Pieces shared by the contrastive methods (MoCo v2, CM-UNet): InfoNCE, the projection MLP, the
negative-key queue and view augmentations that work on a whole batch of tensors on any device.

Randomness comes only from torch's global RNG, so a seeded harness gets the same views every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.data.augment import gaussian_blur
from benchmark.data.views import random_resized_crop
from benchmark.data.views import chance as _chance, uniform as _uniform
from benchmark.core.errors import BenchmarkError


def info_nce(query: Tensor, key: Tensor, temperature: float, negatives: Tensor | None = None) -> Tensor:
    """InfoNCE (Oord et al. 2018) on cosine similarities: cross-entropy with the positive as the target.

    `key[i]` is the positive of `query[i]` (both B×D). Without `negatives` the other keys of the batch
    are the negatives (B-way softmax, CM-UNet); with `negatives` (K×D, MoCo's queue) the logits are
    [q·k+, q·negatives] and the positive is class 0. Computed in float32 so bf16 autocast cannot
    saturate exp(s/τ).
    """
    q = F.normalize(query.float(), dim=1)
    k = F.normalize(key.float(), dim=1)
    if negatives is None:
        logits = q @ k.T
        target = torch.arange(q.shape[0], device=q.device)
    else:
        # normalize() returns a new tensor, so a queue updated in place later cannot corrupt backward.
        n = F.normalize(negatives.float(), dim=1)
        logits = torch.cat([(q * k).sum(dim=1, keepdim=True), q @ n.T], dim=1)
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits / temperature, target)


def projection_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """FC-BN-ReLU-FC: the CM-UNet/CMAE projector and predictor, and our MoCo head (see methods/moco.py)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


def global_pool(feature_map: Tensor) -> Tensor:
    """B×C×H×W → B×C by spatial averaging: an image-level vector from any scale of the UNet."""
    return feature_map.mean(dim=(2, 3))


class KeyQueue(nn.Module):
    """A ring buffer of L2-normalised keys (MoCo's dictionary of negatives).

    Keys and write pointer are buffers, so they move with the module to a device and are saved in
    checkpoints. Enqueueing n keys overwrites the n oldest, wrapping round the end; the size need not
    be a multiple of the batch, and a batch larger than the queue keeps only its last `size` keys
    (the same result as enqueueing one key at a time).
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        # Random unit vectors until real keys arrive (MoCo initialises its queue the same way).
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        n = keys.shape[0]
        skipped = max(0, n - self.size)
        kept = keys[skipped:]
        # Tensor arithmetic on the pointer: no host sync on a GPU.
        rows = (self.ptr + skipped + torch.arange(kept.shape[0], device=self.keys.device)) % self.size
        self.keys[rows] = F.normalize(kept.detach().to(self.keys), dim=1)
        self.ptr.copy_((self.ptr + n) % self.size)


@dataclass(frozen=True)
class ViewAugment:
    """MoCo v2's augmentations (Chen et al. 2020, "Improved baselines"), adapted to grayscale z-scored
    angiograms: colour jitter becomes brightness/contrast jitter; grayscale conversion is moot; Gaussian
    noise is added because X-ray frames are noisy."""

    crop_scale: tuple[float, float] = (0.2, 1.0)  # RandomResizedCrop area range (MoCo v2)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect-ratio range (torchvision default)
    flip_p: float = 0.5  # horizontal flip (MoCo v2)
    jitter_p: float = 0.8  # colour jitter p 0.8, strength 0.4 (MoCo v2) → brightness/contrast here
    jitter: float = 0.4
    blur_p: float = 0.5  # Gaussian blur p 0.5, σ ∈ [0.1, 2.0] px at 224 px (MoCo v2); σ scales with size
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    noise_p: float = 0.5  # our choice: mild additive noise, in units of the image's (unit) std
    noise_std: tuple[float, float] = (0.0, 0.2)

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0.0 < lo <= hi <= 1.0:
            raise BenchmarkError(
                f"augment option crop_scale={self.crop_scale}: expected 0 < min ≤ max ≤ 1"
            )
        for name in ("flip_p", "jitter_p", "blur_p", "noise_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise BenchmarkError(f"augment option {name}={getattr(self, name)}: expected a probability")


def augment_view(images: Tensor, aug: ViewAugment) -> Tensor:
    """One random view of each image, same size as the input: crop+flip, jitter, blur, noise."""
    b, _, h, w = images.shape
    device = images.device
    x = random_resized_crop(images, (h, w), aug.crop_scale, aug.crop_ratio, aug.flip_p)

    jittered = _chance(b, aug.jitter_p, device).float().view(b, 1, 1, 1)
    contrast = _uniform(b, (1.0 - aug.jitter, 1.0 + aug.jitter), device).view(b, 1, 1, 1)
    brightness = _uniform(b, (-aug.jitter, aug.jitter), device).view(b, 1, 1, 1)
    x = x + jittered * ((contrast - 1.0) * x + brightness)

    px_scale = min(h, w) / 224.0
    sigma = _uniform(b, aug.blur_sigma, device) * px_scale * _chance(b, aug.blur_p, device).float()
    x = gaussian_blur(x, sigma, aug.blur_sigma[1] * px_scale)

    std = _uniform(b, aug.noise_std, device) * _chance(b, aug.noise_p, device).float()
    return x + std.view(b, 1, 1, 1) * torch.randn_like(x)

"""Fine-tuning augmentations on batched tensors, so they run on the GPU as well as the CPU.

Geometric transforms (crop, flips, 90° rotations) move image and mask together; intensity
transforms (noise, blur, brightness/contrast, downscale) touch the image only. Every sample
draws its own parameters, from the given generator only, so CPU runs repeat bit for bit; no step
reads a value back from the device, so a CUDA batch never waits on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.core.errors import BenchmarkError


@dataclass(frozen=True)
class AugmentConfig:
    """Probability and strength of each augmentation (images are z-scored).

    The paper names the augmentations but not their strengths; these are moderate values of the
    kind nnU-Net uses. Pairs are uniform ranges drawn per sample. Brightness adds, contrast
    multiplies around each image's mean; `downscale` is the low-resolution side as a fraction of
    the input; a rotation is 1, 2 or 3 quarter turns, equally likely.
    """

    noise_p: float = 0.2
    noise_std: float = 0.1
    blur_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    crop_p: float = 0.3
    crop_scale: tuple[float, float] = (0.6, 1.0)  # side of the crop as a fraction of the image
    intensity_p: float = 0.3
    brightness: tuple[float, float] = (-0.2, 0.2)
    contrast: tuple[float, float] = (0.75, 1.25)
    downscale_p: float = 0.2
    downscale: tuple[float, float] = (0.5, 1.0)
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    rot90_p: float = 0.5

    def __post_init__(self) -> None:
        for name in ("noise_p", "blur_p", "crop_p", "intensity_p", "downscale_p", "hflip_p", "vflip_p", "rot90_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise BenchmarkError(f"augment.{name}={getattr(self, name)}: expected a probability in [0, 1]")
        if not self.noise_std >= 0:
            raise BenchmarkError(f"augment.noise_std={self.noise_std}: expected 0 or more")
        ranges = {"blur_sigma": (1e-3, math.inf), "crop_scale": (1e-3, 1.0), "brightness": (-math.inf, math.inf),
                  "contrast": (0.0, math.inf), "downscale": (1e-3, 1.0)}
        for name, (low, high) in ranges.items():
            lo, hi = getattr(self, name)
            if not low <= lo <= hi <= high:
                raise BenchmarkError(f"augment.{name}=({lo}, {hi}): expected {low:g} ≤ min ≤ max ≤ {high:g}")

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(noise_p=0, blur_p=0, crop_p=0, intensity_p=0, downscale_p=0, hflip_p=0, vflip_p=0, rot90_p=0)


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator, device: torch.device) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _chosen(n: int, p: float, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.rand(n, generator=generator, device=device) < p


def gaussian_blur(images: Tensor, sigma: Tensor, max_sigma: float) -> Tensor:
    """Separable Gaussian blur with a per-image σ in pixels (B), one grouped convolution per axis;
    σ = 0 leaves that image unchanged; borders reflect.

    The kernel spans 3 × `max_sigma`, the largest σ the caller can draw, rather than the drawn
    ones, so no value is read back from the device; each kernel is renormalised.
    """
    b, c, h, w = images.shape
    radius = max(1, min(math.ceil(3 * max_sigma), (min(h, w) - 1)))
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x[None] / sigma.float()[:, None].clamp_min(1e-3)) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(images.dtype)
    flat = images.reshape(1, b * c, h, w)
    weight = kernel.repeat_interleave(c, 0)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), weight[:, None, None, :], groups=b * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), weight[:, None, :, None], groups=b * c)
    return torch.where((sigma > 0).view(b, 1, 1, 1), flat.reshape(b, c, h, w), images)


def _crop_grid(scale: Tensor, generator: torch.Generator, size: tuple[int, int]) -> Tensor:
    """Sampling grids of square random crops (side = scale × image), resized to the image size."""
    b = scale.shape[0]
    device = scale.device
    offset = (1 - scale)[:, None] * (2 * torch.rand(b, 2, generator=generator, device=device) - 1)
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = offset
    return F.affine_grid(theta, [b, 1, *size], align_corners=False)


def _low_res_axis(factor: Tensor, length: int, canvas: int) -> tuple[Tensor, Tensor]:
    """Normalised sampling coordinates, along one axis, of a per-sample shrink-and-stretch.

    Sample i shrinks to m_i = round(length·factor_i) points, kept at the start of a canvas of
    `canvas` points shared by the batch (the tail repeats the last point), then stretches back.
    Both steps sample where F.interpolate(mode="bilinear", align_corners=False) would.
    """
    m = torch.clamp(torch.round(length * factor), 1, length)[:, None]
    slots = torch.arange(canvas, device=factor.device, dtype=factor.dtype)[None]
    down = 2 * (torch.minimum(slots, m - 1) + 0.5) / m - 1
    out = torch.arange(length, device=factor.device, dtype=factor.dtype)[None]
    source = torch.minimum(((out + 0.5) * m / length - 0.5).clamp_min(0), m - 1)
    return down, (2 * source + 1) / canvas - 1


def _grid(xs: Tensor, ys: Tensor) -> Tensor:
    """B×len(ys)×len(xs)×2 sampling grid from per-sample x and y coordinates."""
    b, h, w = xs.shape[0], ys.shape[1], xs.shape[1]
    return torch.stack((xs[:, None, :].expand(b, h, w), ys[:, :, None].expand(b, h, w)), dim=-1)


def _downscale(images: Tensor, factor: Tensor, max_factor: float) -> Tensor:
    """Shrink each sample by its own factor and stretch it back, bilinear both ways.

    Per-sample sizes cannot go through F.interpolate in one call, so both steps are grid samples
    on a canvas sized by the configured largest factor: no drawn value is read back.
    """
    b, _, h, w = images.shape
    canvas_h, canvas_w = min(h, round(h * max_factor) + 1), min(w, round(w * max_factor) + 1)
    down_y, up_y = _low_res_axis(factor, h, canvas_h)
    down_x, up_x = _low_res_axis(factor, w, canvas_w)
    sample = dict(mode="bilinear", padding_mode="border", align_corners=False)
    small = F.grid_sample(images, _grid(down_x, down_y).to(images.dtype), **sample)
    return F.grid_sample(small, _grid(up_x, up_y).to(images.dtype), **sample)


def augment_batch(
    images: Tensor, masks: Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Augment a batch: images B×1×H×W float, masks B×H×W or B×1×H×W, bool or integer labels.

    Returns images and masks in their input shapes and dtypes; masks are resampled by nearest
    neighbour, so they keep exactly the labels they had.
    """
    device = images.device
    b, _, h, w = images.shape
    mask_shape = masks.shape
    m = masks.reshape(b, 1, h, w).to(images.dtype)
    x = images

    # Each transform runs on the whole batch and `torch.where` keeps it for the chosen samples:
    # asking whether any sample was chosen would read back from the device every step.
    crop = _chosen(b, cfg.crop_p, generator, device)
    if cfg.crop_p > 0:
        scale = torch.where(crop, _uniform(b, cfg.crop_scale, generator, device), torch.ones(b, device=device))
        grid = _crop_grid(scale, generator, (h, w)).to(x.dtype)
        x = torch.where(crop[:, None, None, None], F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False), x)
        m = torch.where(crop[:, None, None, None], F.grid_sample(m, grid, mode="nearest", padding_mode="reflection", align_corners=False), m)
    for p, dims in ((cfg.hflip_p, (3,)), (cfg.vflip_p, (2,))):
        flip = _chosen(b, p, generator, device)[:, None, None, None]
        x = torch.where(flip, x.flip(dims), x)
        m = torch.where(flip, m.flip(dims), m)
    if h == w:
        k = torch.randint(1, 4, (b,), generator=generator, device=device)
        k = torch.where(_chosen(b, cfg.rot90_p, generator, device), k, torch.zeros_like(k))
        for turns in (1, 2, 3):
            sel = (k == turns)[:, None, None, None]
            x = torch.where(sel, torch.rot90(x, turns, (2, 3)), x)
            m = torch.where(sel, torch.rot90(m, turns, (2, 3)), m)

    down = _chosen(b, cfg.downscale_p, generator, device)
    if cfg.downscale_p > 0:
        factor = _uniform(b, cfg.downscale, generator, device)
        x = torch.where(down[:, None, None, None], _downscale(x, factor, cfg.downscale[1]), x)
    blur = _chosen(b, cfg.blur_p, generator, device)
    if cfg.blur_p > 0:
        sigma = _uniform(b, cfg.blur_sigma, generator, device)
        x = torch.where(blur[:, None, None, None], gaussian_blur(x, sigma, cfg.blur_sigma[1]), x)
    jitter = _chosen(b, cfg.intensity_p, generator, device)[:, None, None, None]
    shift = _uniform(b, cfg.brightness, generator, device)[:, None, None, None]
    gain = _uniform(b, cfg.contrast, generator, device)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = torch.where(jitter, (x - mean) * gain + mean + shift, x)
    noisy = _chosen(b, cfg.noise_p, generator, device)[:, None, None, None]
    noise = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype) * cfg.noise_std
    x = torch.where(noisy, x + noise, x)
    return x, m.round().to(masks.dtype).reshape(mask_shape)

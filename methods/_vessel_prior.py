"""A label-free vessel prior for X-ray angiograms: Sato's multi-scale ridge filter for dark tubes.

VasoMIM (Huang et al. 2025–26) guides its masks and its consistency loss with an unsupervised
vessel map. This module computes one in torch, so it runs on the training device inside a step
and is differentiable where the consistency loss needs it:

- `ridge_response`: Sato's 2-D tubeness (Sato et al. 1998, the definition of scikit-image's
  `sato(black_ridges=True)`): at each scale σ the Hessian's larger eigenvalue, clipped at 0 and
  multiplied by σ², maximised over the scales. Vessels are darker than the background, so across a
  vessel the intensity has a valley and that eigenvalue is large and positive; along it, ~0. The
  Hessian is built as scikit-image builds it (two first-derivative-of-Gaussian passes at σ/√2), so
  in the image interior the response equals `skimage.filters.sato(image, sigmas, mode="mirror")`.
- `vessel_prior`: the binary map — response over the interior (a border band ignored), kept above
  a per-image percentile, then cleaned of specks.

Scales and lengths are given for a 512-px image and scaled with the image side, as in
benchmark.data.preprocess, so a 256-px image is filtered like a downsampled 512-px one.

Cleaning counts neighbours rather than labelling connected components (`clean`): an isolated blob
of fewer than `clean_min_pixels` pixels is removed whole, as `remove_small_objects` would, while a
vessel, being long, has enough neighbours along its length and is kept whole. Two pooling passes on
the device, where labelling components would need an unbounded number of propagation passes or a
trip to the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.core.errors import BenchmarkError

REFERENCE_SIDE = 512.0
#: Gaussian kernels reach this many sigmas (scipy.ndimage's default truncation).
TRUNCATE = 4.0
#: Hessian eigenvalues use sqrt(x + eps) so the gradient stays finite where the two are equal.
_EIG_EPS = 1e-12


@dataclass(frozen=True)
class VesselPriorConfig:
    """The prior's filter scales, threshold, ignored border and cleaning, for a 512-px image."""

    sigmas_512: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)  # vessel radii ~1–7 px at 512 px (issue 6)
    min_sigma_px: float = 0.5  # below half a pixel a sampled Gaussian derivative is no longer one
    percentile: float = 92.0  # keep the top 8 % of the interior's response (issue 6)
    border_512: float = 16.0  # ignored band: filter edge effects and the collimator's rim
    clean_window_512: float = 16.0  # side of the neighbourhood counted by the cleaning
    clean_min_pixels_512: float = 48.0  # prior pixels the neighbourhood needs (an area: scales with side²)

    def __post_init__(self) -> None:
        if not self.sigmas_512 or min(self.sigmas_512) <= 0:
            raise BenchmarkError(
                f"vessel prior option sigmas_512={self.sigmas_512}: expected positive scales"
            )
        if not 0.0 < self.percentile < 100.0:
            raise BenchmarkError(
                f"vessel prior option percentile={self.percentile}: expected a value in (0, 100)"
            )
        for option in ("min_sigma_px", "border_512", "clean_window_512", "clean_min_pixels_512"):
            if getattr(self, option) < 0:
                raise BenchmarkError(
                    f"vessel prior option {option}={getattr(self, option)}: expected a value ≥ 0"
                )

    def sigmas(self, side: int) -> tuple[float, ...]:
        """The filter scales in pixels for an image of this side, floored, duplicates dropped."""
        scaled = (max(s * side / REFERENCE_SIDE, self.min_sigma_px) for s in self.sigmas_512)
        return tuple(sorted(set(scaled)))

    def border(self, side: int) -> int:
        return int(round(self.border_512 * side / REFERENCE_SIDE))

    def clean_window(self, side: int) -> int:
        """Odd window side, at least 3 when cleaning is on."""
        if self.clean_min_pixels_512 == 0:
            return 1
        return 2 * max(1, int(round(self.clean_window_512 * side / REFERENCE_SIDE / 2))) + 1

    def clean_min_pixels(self, side: int) -> int:
        return int(round(self.clean_min_pixels_512 * (side / REFERENCE_SIDE) ** 2))


def _gaussian_pair(sigma: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """Sampled Gaussian (sum 1) and its first derivative, as scipy.ndimage builds them."""
    radius = int(TRUNCATE * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return g, -x / sigma**2 * g


def _full_conv(a: Tensor, b: Tensor) -> Tensor:
    """Full 1-D convolution of two kernels: applying `a` then `b` equals applying the result."""
    return F.conv1d(a.view(1, 1, -1), b.flip(0).view(1, 1, -1), padding=b.numel() - 1).view(-1)


def hessian_kernels(sigma: float, device: torch.device) -> list[tuple[Tensor, Tensor]]:
    """(row kernel, column kernel) for H_rr, H_rc and H_cc at scale σ (convolution kernels).

    Two passes of a σ/√2 Gaussian with one derivative each (scikit-image's construction) fold into
    one separable pass: along each axis the two 1-D kernels are convolved together.
    """
    g, d = _gaussian_pair(sigma / math.sqrt(2.0), device)
    gg, dd, gd = _full_conv(g, g), _full_conv(d, d), _full_conv(g, d)
    return [(dd, gg), (gd, gd), (gg, dd)]


def _hessian(images: Tensor, sigma: float) -> tuple[Tensor, Tensor, Tensor]:
    """H_rr, H_rc, H_cc of B×1×H×W float32 images at scale σ, mirror-padded (scipy's "mirror")."""
    pairs = hessian_kernels(sigma, images.device)
    # torch convolutions correlate: flip the (antisymmetric) kernels to convolve.
    rows = torch.stack([r.flip(0) for r, _ in pairs])
    cols = torch.stack([c.flip(0) for _, c in pairs])
    length = rows.shape[1]
    pad = length // 2
    x = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, cols.view(3, 1, 1, length))  # along columns (width): three kernels at once
    x = F.conv2d(x, rows.view(3, 1, length, 1), groups=3)  # along rows (height): one kernel each
    return x[:, 0:1], x[:, 1:2], x[:, 2:3]


def ridge_response(images: Tensor, sigmas: tuple[float, ...]) -> Tensor:
    """Sato tubeness for dark ridges, B×1×H×W → B×1×H×W, float32, differentiable in `images`.

    Runs outside autocast: second derivatives of a z-scored image in bf16 would be mostly rounding.
    """
    with torch.autocast(images.device.type, enabled=False):
        x = images.float()
        response = None
        for sigma in sigmas:
            h_rr, h_rc, h_cc = _hessian(x, sigma)
            half_gap = torch.sqrt(((h_rr - h_cc) / 2) ** 2 + h_rc**2 + _EIG_EPS)
            tubeness = sigma**2 * ((h_rr + h_cc) / 2 + half_gap).clamp_min(0.0)
            response = tubeness if response is None else torch.maximum(response, tubeness)
        return response


def interior(height: int, width: int, border: int, device: torch.device) -> Tensor:
    """1×1×H×W bool, False on the ignored border band."""
    inside = torch.zeros(1, 1, height, width, dtype=torch.bool, device=device)
    inside[..., border : height - border, border : width - border] = True
    return inside


def interior_percentile(response: Tensor, border: int, percentile: float) -> Tensor:
    """Per-image percentile (nearest rank) of the response inside the border band, B×1×1×1.

    A slice, not a boolean index, so CUDA never waits on the host for the count.
    """
    h, w = response.shape[-2:]
    values = response[..., border : h - border, border : w - border].reshape(response.shape[0], -1)
    rank = min(values.shape[1], max(1, int(math.ceil(percentile / 100.0 * values.shape[1]))))
    return values.kthvalue(rank, dim=1).values.view(-1, 1, 1, 1)


def clean(prior: Tensor, window: int, min_pixels: int) -> Tensor:
    """Drop specks: keep the prior pixels within reach of a dense neighbourhood.

    A pixel is dense when its window×window neighbourhood holds at least `min_pixels` prior pixels;
    a prior pixel survives when a dense pixel lies in its own window. A blob of fewer than
    `min_pixels` with no other prior pixel nearby has no dense pixel and goes whole; a vessel is
    dense along its length, and the second step gives back the ends the count alone would trim.
    """
    if min_pixels <= 1:
        return prior
    count = _separable(F.avg_pool2d, prior.float(), window) * window**2
    dense = prior & (count >= min_pixels - 0.5)
    return prior & (_separable(F.max_pool2d, dense.float(), window) > 0)


def _separable(pool, x: Tensor, window: int) -> Tensor:
    """A window×window same-size pooling as two 1-D passes (a box sum and a max both separate)."""
    pad = window // 2
    x = pool(x, (1, window), stride=1, padding=(0, pad))
    return pool(x, (window, 1), stride=1, padding=(pad, 0))


@dataclass(frozen=True)
class VesselMaps:
    """What one filtering of a batch gives: the prior, and what the consistency loss compares against."""

    sigmas: tuple[float, ...]  # the filter scales, px: a reconstruction is filtered at the same ones
    response: Tensor  # B×1×H×W ridge response (no gradient)
    threshold: Tensor  # B×1×1×1 the interior percentile the prior keeps pixels above
    inside: Tensor  # 1×1×H×W bool, False on the ignored border
    prior: Tensor  # B×1×H×W bool, the cleaned binary vessel map


@torch.no_grad()
def vessel_maps(images: Tensor, cfg: VesselPriorConfig) -> VesselMaps:
    """Filter z-scored (or any-scale) images B×1×H×W once and derive the binary prior."""
    _, _, h, w = images.shape
    side = min(h, w)
    sigmas = cfg.sigmas(side)
    response = ridge_response(images, sigmas)
    border = cfg.border(side)
    inside = interior(h, w, border, images.device)
    threshold = interior_percentile(response, border, cfg.percentile)
    prior = clean((response > threshold) & inside, cfg.clean_window(side), cfg.clean_min_pixels(side))
    return VesselMaps(sigmas, response, threshold, inside, prior)


def vessel_prior(images: Tensor, cfg: VesselPriorConfig) -> Tensor:
    """Binary vessel prior, B×1×H×W bool."""
    return vessel_maps(images, cfg).prior


def patch_vessel_mass(prior: Tensor, patch: int) -> Tensor:
    """B×1×H×W prior → B×gh×gw share of each patch's pixels on a vessel."""
    return F.avg_pool2d(prior.float(), patch)[:, 0]

"""The Models Genesis image transforms (Zhou et al. 2019/2021) on batches of B×1×H×W tensors in [0, 1].

Every transform decides per image whether it applies, draws its randomness from torch's global
RNG on the images' device, and is vectorised over the batch (no Python loop over images). Pure
functions with explicit arguments, so each is tested on its own; `methods.genesis` composes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_RANDOM_KEY_BITS = 24  # random sort keys within a block: 2^24 values; ties are broken by position


def unit_range(images: Tensor) -> Tensor:
    """Per-image min-max to [0, 1]: the space the transforms (noise in [0, 1)) and the target live in."""
    flat = images.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = (flat.max(dim=1).values.view(-1, 1, 1, 1) - low).clamp_min(1e-8)
    return (images - low) / span


def _chosen(batch: int, p: float, device: torch.device) -> Tensor:
    """Per-image Bernoulli(p) decisions, B bool."""
    return torch.rand(batch, device=device) < p


def _uniform_int(low: Tensor, high: Tensor) -> Tensor:
    """Integers uniform in [low, high] inclusive, element-wise."""
    draw = low + (torch.rand(low.shape, device=low.device) * (high - low + 1)).floor().long()
    return torch.minimum(draw, high)


def random_flip(x: Tensor, p: float, max_flips: int = 3) -> Tensor:
    """Up to `max_flips` flips per image, each along a random axis, each further one with probability p.

    As in the Models Genesis code, flipping is augmentation: input and target are flipped together.
    """
    batch = x.shape[0]
    happens = (torch.rand(batch, max_flips, device=x.device) < p).long().cumprod(dim=1).bool()
    vertical = torch.rand(batch, max_flips, device=x.device) < 0.5
    flip_rows = ((happens & vertical).sum(dim=1) % 2 == 1).view(-1, 1, 1, 1)
    flip_cols = ((happens & ~vertical).sum(dim=1) % 2 == 1).view(-1, 1, 1, 1)
    x = torch.where(flip_rows, x.flip(-2), x)
    return torch.where(flip_cols, x.flip(-1), x)


def random_block_ids(batch: int, height: int, width: int, max_side: int, device: torch.device) -> Tensor:
    """B×H×W ids of a per-image grid of blocks with random sides in [1, max_side] and a random offset."""
    side_h = torch.randint(1, max_side + 1, (batch, 1), device=device)
    side_w = torch.randint(1, max_side + 1, (batch, 1), device=device)
    offset_h = (torch.rand(batch, 1, device=device) * side_h).floor().long()
    offset_w = (torch.rand(batch, 1, device=device) * side_w).floor().long()
    rows = (torch.arange(height, device=device) + offset_h) // side_h
    cols = (torch.arange(width, device=device) + offset_w) // side_w
    return rows[:, :, None] * (width + 1) + cols[:, None, :]


def shuffle_within_blocks(x: Tensor, block_ids: Tensor, shuffled: Tensor) -> Tensor:
    """Permute pixels at random inside every block; pixels where `shuffled` (B×H×W) is False stay put.

    `shuffled` must be constant over each block. Both pixel orders below group pixels by block
    (stable sort), one in raster order and one in random order, so the k-th entries of the two
    always share a block and sending one to the other is a uniform permutation within each block.
    """
    batch, _, height, width = x.shape
    ids = block_ids.reshape(batch, -1).long() << _RANDOM_KEY_BITS
    keys = torch.randint(0, 2**_RANDOM_KEY_BITS, ids.shape, device=x.device)
    keys = torch.where(shuffled.reshape(batch, -1), keys, torch.zeros_like(keys))
    in_place = torch.sort(ids, dim=1, stable=True).indices
    at_random = torch.sort(ids + keys, dim=1, stable=True).indices
    flat = x.reshape(batch, -1)
    out = torch.empty_like(flat).scatter_(1, in_place, flat.gather(1, at_random))
    return out.view(batch, 1, height, width)


def local_pixel_shuffle(x: Tensor, p: float, max_side: int, coverage: float) -> Tensor:
    """Local pixel shuffling: in chosen images, a share `coverage` of small blocks is shuffled."""
    batch, _, height, width = x.shape
    ids = random_block_ids(batch, height, width, max_side, x.device)
    block_drawn = torch.rand(batch, (height + 1) * (width + 1), device=x.device) < coverage
    selected = block_drawn.gather(1, ids.flatten(1)).view(batch, height, width)
    selected &= _chosen(batch, p, x.device).view(-1, 1, 1)
    return shuffle_within_blocks(x, ids, selected)


def bezier_map(values: Tensor, controls: Tensor, inverted: Tensor, samples: int = 1000) -> Tensor:
    """Map [0, 1] intensities through the cubic Bézier curve (0,0), (a1,b1), (a2,b2), (1,1).

    `controls` is B×4 (a1, b1, a2, b2) in [0, 1]; with end points 0 and 1 and inner control points
    in [0, 1], x(t) and y(t) are non-decreasing, so v ↦ y(x⁻¹(v)) is monotone from 0→0 to 1→1.
    Where `inverted` (B bool) the map is 1 − y: the reference code's half-time intensity flip.
    """
    batch = values.shape[0]
    t = torch.linspace(0.0, 1.0, samples, device=values.device, dtype=torch.float32)
    inner1, inner2, end = 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3

    def curve(c1: Tensor, c2: Tensor) -> Tensor:  # elementwise, so autocast never lowers it to bf16
        return torch.cummax(c1[:, None] * inner1 + c2[:, None] * inner2 + end, dim=1).values

    xs, ys = curve(controls[:, 0], controls[:, 2]), curve(controls[:, 1], controls[:, 3])
    flat = values.reshape(batch, -1).float().contiguous()
    upper = torch.searchsorted(xs.contiguous(), flat, right=True).clamp(1, samples - 1)
    lower = upper - 1
    x0, x1 = xs.gather(1, lower), xs.gather(1, upper)
    weight = ((flat - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
    mapped = torch.lerp(ys.gather(1, lower), ys.gather(1, upper), weight)
    mapped = torch.where(inverted[:, None], 1.0 - mapped, mapped)
    return mapped.view(values.shape)


def nonlinear_intensity(x: Tensor, p: float, invert_p: float) -> Tensor:
    """Non-linear intensity transform of chosen images, with random control points per image."""
    batch = x.shape[0]
    controls = torch.rand(batch, 4, device=x.device)
    inverted = _chosen(batch, invert_p, x.device)
    mapped = bezier_map(x, controls, inverted)
    return torch.where(_chosen(batch, p, x.device).view(-1, 1, 1, 1), mapped, x)


@dataclass(frozen=True)
class Boxes:
    """Up to `count` boxes, the first with probability `first_p`, each further one with `continue_p`.

    Box sides are drawn in [side[0]·S, side[1]·S] for an image side S, and boxes keep `margin`
    pixels from the border.
    """

    count: int
    side: tuple[float, float]
    first_p: float = 0.95
    continue_p: float = 0.95
    margin: int = 3


def box_mask(batch: int, height: int, width: int, boxes: Boxes, device: torch.device) -> Tensor:
    """B×H×W bool: the union of each image's random boxes."""
    n = boxes.count
    stop = torch.full((batch, n), boxes.continue_p, device=device)
    stop[:, 0] = boxes.first_p
    active = (torch.rand(batch, n, device=device) < stop).long().cumprod(dim=1).bool()

    def spans(size: int) -> Tensor:  # B×n×size: does each box cover each row (column)?
        low = torch.full((batch, n), max(1, int(boxes.side[0] * size)), device=device)
        high = torch.full_like(low, min(size - 2 * boxes.margin, int(boxes.side[1] * size)))
        extent = _uniform_int(low, high)
        start = _uniform_int(torch.full_like(extent, boxes.margin), size - extent - boxes.margin)
        index = torch.arange(size, device=device)
        return (index >= start[..., None]) & (index < (start + extent)[..., None])

    covered = spans(height)[..., :, None] & spans(width)[..., None, :] & active[..., None, None]
    return covered.any(dim=1)


def paint(
    x: Tensor, p: float, outpaint_p: float, inpaint: Boxes, outpaint: tuple[Boxes, ...]
) -> tuple[Tensor, Tensor]:
    """In-/out-painting of chosen images with uniform [0, 1) noise; returns (painted, noise mask B×1×H×W).

    In-painting fills its boxes with noise; out-painting keeps its boxes and fills the rest.
    """
    batch, _, height, width = x.shape
    inner = box_mask(batch, height, width, inpaint, x.device)
    kept = torch.stack([box_mask(batch, height, width, b, x.device) for b in outpaint]).any(dim=0)
    outer = _chosen(batch, outpaint_p, x.device).view(-1, 1, 1)
    noisy = torch.where(outer, ~kept, inner) & _chosen(batch, p, x.device).view(-1, 1, 1)
    noisy = noisy[:, None]
    return torch.where(noisy, torch.rand_like(x), x), noisy

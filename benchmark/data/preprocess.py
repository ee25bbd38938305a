"""The CM-UNet study's pre-processing: centre crop, corner inpainting, unsharp mask, z-score, resize.

Every step is one function that can be switched off in `PreprocessConfig`; `preprocess_pair` chains
them in the study's order. Masks share only the geometric steps (crop, resize), so they stay aligned
with their image and binary. Length scales are given for a 512-px image and scaled with the input's
shorter side, so a 256-px image is treated like a downsampled 512-px one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from PIL import Image
from scipy import fft, ndimage

from benchmark.core.errors import BenchmarkError

REFERENCE_SIDE = 512.0  # the side the study's pixel lengths refer to
GAUSSIAN_TRUNCATE = 4.0  # kernel half-width in sigmas, as scipy.ndimage.gaussian_filter
_CORNER_SMOOTH_512 = 3.0  # box filter before thresholding, so quantum noise does not punch holes
_CORNER_MARGIN_512 = 6  # dilation over the collimator's soft edge: at 3 px the rim left behind was ~0.75 of the field
_FILL_CELL_512 = 8.0  # side of the coarse cells the fill is estimated on
_FILL_MIN_SUPPORT = 0.2  # share of valid pixels a cell's neighbourhood needs to be trusted


@dataclass(frozen=True)
class PreprocessConfig:
    """Which steps run and their strengths; the defaults are the paper's pipeline.

    `unsharp_radius` is the Gaussian sigma in pixels of a 512-px image; it is multiplied by
    (shorter side of the input image) / 512, so a 256-px input is sharpened with sigma 30 and the
    filter covers the same anatomy at every resolution. `corner_threshold` is relative: a pixel is
    collimator when (locally smoothed) darker than this fraction of the median of the central half.
    """

    crop: float | None = 475 / 512  # fraction of the shorter side kept; 475 of 512 in the code
    inpaint_corners: bool = True
    corner_threshold: float = 0.3
    unsharp_radius: float = 60.0  # paper: radius 60
    unsharp_amount: float = 1.0  # paper: amount 1 (the public code uses 3); 0 disables
    zscore: bool = True
    size: int | None = 256  # output side; None keeps the (cropped) size
    # "area": masks shrunk by area averaging, then thresholded so a 1-px vessel stays one connected
    # tree (the fair protocol); "nearest": the study's nearest-neighbour resize, which breaks
    # vessels thinner than the shrink factor into dashes.
    mask_resize: Literal["area", "nearest"] = "area"

    def __post_init__(self) -> None:
        if self.crop is not None and not 0 < self.crop <= 1:
            raise BenchmarkError(f"preprocess.crop={self.crop}: expected a fraction in (0, 1] or none")
        if not 0 < self.corner_threshold < 1:
            raise BenchmarkError(f"preprocess.corner_threshold={self.corner_threshold}: expected a value in (0, 1)")
        if not self.unsharp_radius > 0:
            raise BenchmarkError(f"preprocess.unsharp_radius={self.unsharp_radius}: expected a positive sigma")
        if not self.unsharp_amount >= 0:
            raise BenchmarkError(f"preprocess.unsharp_amount={self.unsharp_amount}: expected 0 (off) or more")
        if self.size is not None and (isinstance(self.size, bool) or self.size < 1):
            raise BenchmarkError(f"preprocess.size={self.size}: expected a positive number of pixels or none")

    @classmethod
    def paper(cls) -> "PreprocessConfig":
        """The paper's pipeline (crop 475/512 from the code, unsharp radius 60, amount 1, 256 px; the
        public code sharpens with amount 3)."""
        return cls(crop=475 / 512, inpaint_corners=True, corner_threshold=0.3, unsharp_radius=60.0,
                   unsharp_amount=1.0, zscore=True, size=256)


# ---------------------------------------------------------------- the steps


def pixel_scale(shape: Sequence[int]) -> float:
    """How many pixels of this image one pixel of a 512-px image spans."""
    return min(shape[-2:]) / REFERENCE_SIDE


def crop_box(shape: Sequence[int], fraction: float) -> tuple[int, int, int]:
    """(top, left, side) of the centred square whose side is `fraction` of the shorter side (rounded):
    what `center_crop` keeps, and where a prediction goes back to (benchmark.export.predict)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"crop fraction {fraction} is not in (0, 1]")
    h, w = shape[-2:]
    side = max(1, round(fraction * min(h, w)))
    return (h - side) // 2, (w - side) // 2, side


def center_crop(a: np.ndarray, fraction: float) -> np.ndarray:
    """The centred square of `crop_box`; last two axes."""
    top, left, side = crop_box(a.shape, fraction)
    return a[..., top:top + side, left:left + side]


def corner_mask(image: np.ndarray, threshold: float = 0.3, scale: float | None = None) -> np.ndarray:
    """Collimator pixels: dark regions connected to the image border, grown over their soft edge.

    Darkness is relative to the median of the central half, which lies inside the collimator
    opening even when the corners are large. Dark structures that do not reach the border (vessels,
    the catheter tip) are never marked.
    """
    scale = pixel_scale(image.shape) if scale is None else scale
    x = image.astype(np.float32, copy=False)
    h, w = x.shape
    reference = float(np.median(x[h // 4:h - h // 4, w // 4:w - w // 4]))
    if reference <= 0:
        return np.zeros(x.shape, bool)
    box = max(1, 2 * round(_CORNER_SMOOTH_512 * scale / 2) + 1)
    dark = ndimage.uniform_filter(x, box, mode="nearest") < threshold * reference
    labels, count = ndimage.label(dark)
    if count == 0:
        return dark
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touches_border = np.zeros(count + 1, bool)
    touches_border[edge] = True
    touches_border[0] = False
    corners = touches_border[labels]
    margin = round(_CORNER_MARGIN_512 * scale)
    if margin > 0 and corners.any():
        corners = ndimage.maximum_filter(corners.view(np.uint8), 2 * margin + 1, mode="constant").view(bool)
    return corners


def _block_sums(a: np.ndarray, cell: int) -> np.ndarray:
    h, w = a.shape
    padded = np.pad(a, ((0, -h % cell), (0, -w % cell)))
    return padded.reshape(padded.shape[0] // cell, cell, padded.shape[1] // cell, cell).sum(axis=(1, 3))


def fill_holes_smoothly(image: np.ndarray, hole: np.ndarray, scale: float) -> np.ndarray:
    """Replace `hole` pixels by the local mean of the nearest valid pixels (normalized convolution).

    The mean is estimated on coarse cells, widening the Gaussian window until enough valid pixels
    support it, then interpolated back: the fill continues the surrounding brightness smoothly and
    costs a few milliseconds at 512 px (a biharmonic inpaint costs seconds).
    """
    x = image.astype(np.float32, copy=False)
    valid = ~hole
    if not hole.any() or not valid.any():
        return x.copy()
    cell = max(1, round(_FILL_CELL_512 * scale))
    weight = _block_sums(valid.astype(np.float32), cell)
    total = _block_sums(np.where(valid, x, 0.0).astype(np.float32), cell)
    estimate = np.full(weight.shape, np.nan, np.float32)
    sigma = 1.0
    while np.isnan(estimate).any() and sigma <= 2 * max(weight.shape):
        support = ndimage.gaussian_filter(weight, sigma, mode="constant")
        trusted = np.isnan(estimate) & (support >= _FILL_MIN_SUPPORT * cell * cell)
        values = ndimage.gaussian_filter(total, sigma, mode="constant")
        estimate[trusted] = values[trusted] / support[trusted]
        sigma *= 2
    estimate[np.isnan(estimate)] = float(x[valid].mean())
    coarse_h, coarse_w = estimate.shape
    smooth = np.asarray(Image.fromarray(estimate, "F").resize((coarse_w * cell, coarse_h * cell), Image.BILINEAR))
    return np.where(hole, smooth[:x.shape[0], :x.shape[1]], x)


def inpaint_corners(image: np.ndarray, threshold: float = 0.3, scale: float | None = None) -> np.ndarray:
    """Fill the dark collimator corners so they neither dominate the z-score nor ring under sharpening."""
    scale = pixel_scale(image.shape) if scale is None else scale
    return fill_holes_smoothly(image, corner_mask(image, threshold, scale), scale)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter (mode 'reflect', truncate 4) computed by FFT.

    At sigma 60 the direct filter is a 481-tap kernel (~150 ms at 512 px); the FFT costs ~15 ms
    and agrees to float32 precision.
    """
    x = image.astype(np.float32, copy=False)
    radius = int(GAUSSIAN_TRUNCATE * sigma + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, radius, mode="symmetric")  # numpy 'symmetric' is scipy 'reflect'
    shape = tuple(fft.next_fast_len(n, real=True) for n in padded.shape)
    spectrum = fft.rfft2(padded, shape)
    spectrum *= fft.fft(kernel, shape[0]).astype(np.complex64)[:, None]
    spectrum *= fft.rfft(kernel, shape[1]).astype(np.complex64)[None, :]
    full = fft.irfft2(spectrum, shape)  # circular; the first 2·radius rows/columns carry the wrap
    return np.ascontiguousarray(full[2 * radius:2 * radius + x.shape[0], 2 * radius:2 * radius + x.shape[1]])


def unsharp_mask(image: np.ndarray, radius: float, amount: float) -> np.ndarray:
    """image + amount·(image − gaussian(image, radius)), radius a sigma in pixels; not clipped."""
    if radius <= 0:
        raise ValueError(f"unsharp radius {radius} is not positive")
    x = image.astype(np.float32, copy=False)
    if amount == 0:
        return x.copy()
    return (x + amount * (x - gaussian_blur(x, radius))).astype(np.float32)


def zscore(image: np.ndarray) -> np.ndarray:
    """Per-image zero mean and unit std; a constant image becomes all zeros rather than NaN."""
    x = image.astype(np.float64)
    centred = x - x.mean()
    std = centred.std()
    return (centred / std if std > 1e-12 else centred).astype(np.float32)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Bicubic to size×size (antialiased when shrinking, as Pillow does); non-square inputs stretch."""
    x = np.ascontiguousarray(image, dtype=np.float32)
    return np.asarray(Image.fromarray(x, "F").resize((size, size), Image.BICUBIC), dtype=np.float32)


def resize_mask(mask: np.ndarray, size: int, method: str = "nearest") -> np.ndarray:
    """A binary mask at size×size.

    "nearest": nearest neighbour. "area" (when shrinking by a factor f): each output pixel is the
    share of vessel pixels in its footprint, kept as vessel when it holds at least half of what a
    1-px line crossing the footprint would (0.5 / f); a thin vessel then stays connected, where
    nearest neighbour keeps only the pixels that happen to fall on the sampling grid.
    """
    factor = max(mask.shape) / size
    if method == "nearest" or factor <= 1:
        plane = Image.fromarray(mask.astype(np.uint8), "L").resize((size, size), Image.NEAREST)
        return np.asarray(plane) != 0
    share = Image.fromarray(mask.astype(np.float32), "F").resize((size, size), Image.BOX)
    return np.asarray(share) >= 0.5 / factor - 1e-6


# ---------------------------------------------------------------- the pipeline


def preprocess_image(image: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """An image (uint8 H×W, labelled or not) through the enabled steps, as float32."""
    if image.ndim != 2:
        raise BenchmarkError(f"pre-processing: expected a 2-D grey image, got shape {image.shape}")
    scale = pixel_scale(image.shape)  # of the input: cropping does not change the pixel size
    x = image.astype(np.float32)
    if cfg.crop is not None:
        x = center_crop(x, cfg.crop)
    if cfg.inpaint_corners:
        x = inpaint_corners(x, cfg.corner_threshold, scale)
    if cfg.unsharp_amount > 0:
        x = unsharp_mask(x, cfg.unsharp_radius * scale, cfg.unsharp_amount)
    if cfg.zscore:
        x = zscore(x)
    if cfg.size is not None:
        x = resize_image(x, cfg.size)
    return np.ascontiguousarray(x, dtype=np.float32)


def preprocess_mask(mask: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """The geometric steps only (crop, resize by `cfg.mask_resize`), as bool."""
    m = mask.astype(bool)
    if cfg.crop is not None:
        m = center_crop(m, cfg.crop)
    if cfg.size is not None:
        m = resize_mask(m, cfg.size, cfg.mask_resize)
    return np.ascontiguousarray(m)


def preprocess_pair(image: np.ndarray, mask: np.ndarray, cfg: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """(float32 image, bool mask), aligned: the mask gets the image's crop and resize."""
    if image.shape != mask.shape:
        raise BenchmarkError(f"pre-processing: image {image.shape} and mask {mask.shape} differ in shape")
    return preprocess_image(image, cfg), preprocess_mask(mask, cfg)

"""`angiobench predict`: segment new angiograms with an exported UNet, exactly as the run did.

Each image goes through the card's PreprocessConfig (`preprocess_image`, the function the run
prepared its data with), the UNet (`benchmark.train.loops.predict`, the function the run scored its
test set with: same batching, precision and memory format), and back to the input's geometry:
the prediction is resized (nearest) to the centre crop's side and placed in the crop's square,
with background outside it (pixels the model never saw). Written:

    OUT/masks/<stem>.png       binary mask at the input's size (0 / 255)
    OUT/overlays/<stem>.png    the input in grey with the predicted vessels in red; with --masks,
                               true positives white, false positives red, false negatives blue
    OUT/predictions.csv        per image: size, vessel fraction, mean artery diameter (px, at the
                               input's size); with masks, every metric of segmentation_metrics
                               (a grey, anti-aliased mask needs --mask-threshold T: vessel = value ≥ T)

Everything is written into a temporary sibling folder renamed to OUT at the end, so an unreadable
image, a mask of another size or a bad export leaves no OUT behind.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from benchmark.data.images import check_mask_threshold, list_images, read_image, read_mask
from benchmark.data.preprocess import PreprocessConfig, crop_box, preprocess_image
from benchmark.data.readers.folder import MASK_SUFFIXES, mask_candidates
from benchmark.core.errors import BenchmarkError
from benchmark.evaluate.metrics import mean_diameter, segmentation_metrics
from benchmark.export.card import ModelCard
from benchmark.export.weights import load_unet
from benchmark.core.files import atomic_write_bytes, atomic_write_text, staged_folder
from benchmark.model.unet import UNet
from benchmark.config.profiles import DeviceName
from benchmark.core.progress import Progress
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import predict

MASKS_DIR, OVERLAYS_DIR, TABLE_FILE = "masks", "overlays", "predictions.csv"
OVERLAY_COLOUR = np.array([255.0, 0.0, 0.0])
#: With --masks: the report's error colours (reports/render/galleries.py), in 0–255.
TP_COLOUR, FP_COLOUR, FN_COLOUR = np.array([255.0, 255.0, 255.0]), np.array([237.0, 51.0, 41.0]), np.array([38.0, 140.0, 255.0])


@dataclass(frozen=True)
class PredictOptions:
    """How to predict: device, batch (16 is what the run scored its test set with), optional masks."""

    device: DeviceName = "auto"
    batch_size: int = 16
    masks: Path | None = None  # a folder of ground-truth masks: <stem>.png or <stem>_gt.png, …
    overlay_alpha: float = 0.5
    mask_threshold: int | None = None  # binarise grey ground-truth masks: vessel = value ≥ it

    def check(self) -> None:
        """Refuse a mask threshold outside 1–255, or one with no masks to binarise."""
        check_mask_threshold(self.mask_threshold, "--mask-threshold")
        if self.mask_threshold is not None and self.masks is None:
            raise BenchmarkError("--mask-threshold binarises the ground-truth masks; give --masks DIR too")

    def device_options(self) -> DeviceOptions:
        if self.device == "cuda" and not torch.cuda.is_available():
            raise BenchmarkError("--device cuda: no CUDA device is available")
        if self.batch_size < 1:
            raise BenchmarkError(f"--batch-size {self.batch_size}: expected at least 1")
        cuda = self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
        return DeviceOptions(device="cuda" if cuda else "cpu")


@dataclass(frozen=True)
class Segmentation:
    """One image's prediction: at the model's resolution (what the run's rows score) and at the input's."""

    model_mask: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class PredictSummary:
    """What predict wrote: the folder and the CSV's table."""

    root: Path
    table: pd.DataFrame


# ---------------------------------------------------------------- geometry


def _resize_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    plane = Image.fromarray(mask.astype(np.uint8), "L").resize((width, height), Image.NEAREST)
    return np.asarray(plane) != 0


def restore_mask(mask: np.ndarray, shape: tuple[int, int], cfg: PreprocessConfig) -> np.ndarray:
    """A mask at the model's resolution back at the input's `shape`: undo the resize (nearest), then
    the centre crop (the crop's square gets the mask, the rest is background)."""
    top, left, side = crop_box(shape, cfg.crop) if cfg.crop is not None else (0, 0, None)
    height, width = (side, side) if side is not None else shape
    inner = _resize_nearest(mask, height, width) if cfg.size is not None else mask
    if inner.shape != (height, width):
        raise ValueError(f"mask {mask.shape} does not fit the crop {height}×{width} of {shape}")
    full = np.zeros(shape, bool)
    full[top:top + height, left:left + width] = inner
    return full


def model_side_check(shape: tuple[int, ...], cfg: PreprocessConfig, unet: UNet, path: Path) -> None:
    """The UNet needs sides divisible by 2^depth; with a fixed `size` that holds for every image."""
    side = cfg.size if cfg.size is not None else (crop_box(shape, cfg.crop)[2] if cfg.crop is not None else None)
    sides = (side, side) if side is not None else shape
    step = 2 ** unet.cfg.depth
    if any(s % step for s in sides):
        raise BenchmarkError(f"{path}: pre-processed to {sides[0]}×{sides[1]} px, which the UNet cannot take "
                             f"(sides must be multiples of {step}); the export's pre-processing keeps the size")


# ---------------------------------------------------------------- the model


def segment(unet: UNet, cfg: PreprocessConfig, images: Sequence[np.ndarray], options: DeviceOptions,
            batch_size: int = 16) -> list[Segmentation]:
    """Masks of uint8 grey images of any size, each pre-processed with `cfg` as in training.

    Images that pre-process to one shape (all of them, when `cfg.size` is set) share batches, in order.
    """
    prepared = [preprocess_image(image, cfg) for image in images]
    unet.to(device=options.torch_device, memory_format=options.memory_format())
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, array in enumerate(prepared):
        by_shape.setdefault(array.shape, []).append(index)
    masks: list[np.ndarray | None] = [None] * len(prepared)
    for indices in by_shape.values():
        x = torch.from_numpy(np.stack([prepared[i] for i in indices]))[:, None].to(options.torch_device)
        for i, mask in zip(indices, predict(unet, x, options, batch_size).cpu().numpy()):
            masks[i] = mask
    return [Segmentation(m, restore_mask(m, image.shape, cfg)) for m, image in zip(masks, images)]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5, truth: np.ndarray | None = None) -> np.ndarray:
    """The grey image as RGB with the mask's pixels blended towards red; with the ground truth, as
    the report's gallery colours errors: true positives white, false positives red, false negatives
    blue."""
    rgb = np.repeat(image[..., None].astype(np.float64), 3, axis=2)
    if truth is None:
        parts = [(mask, OVERLAY_COLOUR)]
    else:
        truth = truth.astype(bool)
        parts = [(mask & truth, TP_COLOUR), (mask & ~truth, FP_COLOUR), (~mask & truth, FN_COLOUR)]
    for where, colour in parts:
        rgb[where] = (1 - alpha) * rgb[where] + alpha * colour
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- files


def expand_inputs(paths: Sequence[Path | str]) -> list[Path]:
    """Image files as given, folders replaced by their images; every stem once (outputs are named by it)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise BenchmarkError(f"{path}: folder holds no images")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise BenchmarkError(f"{path}: no such image file or folder")
    if not files:
        raise BenchmarkError("no images given")
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise BenchmarkError(f"{path} and {seen[path.stem]}: two images named {path.stem!r}; "
                                 "their outputs would overwrite each other")
        seen[path.stem] = path
    return files


def match_masks(images: Sequence[Path], mask_dir: Path) -> list[Path]:
    """Each image's mask in `mask_dir`: same stem, or the stem with a mask suffix (_gt, _mask, …), as
    the folder reader pairs them; none or two candidates is an error naming the files."""
    if not mask_dir.is_dir():
        raise BenchmarkError(f"--masks {mask_dir}: no such folder")
    by_stem: dict[str, list[Path]] = {}
    for path in list_images(mask_dir):
        by_stem.setdefault(path.stem, []).append(path)
    matched = []
    for image in images:
        candidates = [path for _, stem in mask_candidates(image.stem, by_stem) for path in by_stem[stem]]
        if not candidates:
            raise BenchmarkError(f"{image}: no mask in {mask_dir} (looked for {image.stem}.* and "
                                 f"{image.stem}{{{','.join(MASK_SUFFIXES)}}}.*)")
        if len(candidates) > 1:
            raise BenchmarkError(f"{image}: several masks in {mask_dir}: {', '.join(p.name for p in candidates)}")
        matched.append(candidates[0])
    return matched


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _row(path: Path, mask: np.ndarray, mask_path: Path | None, truth: np.ndarray | None) -> dict:
    row = {"image": path.stem, "path": str(path), "height": mask.shape[0], "width": mask.shape[1],
           "vessel_fraction": float(mask.mean()), "mean_diameter_px": mean_diameter(mask)}
    if truth is not None:
        row |= {"mask": str(mask_path), **segmentation_metrics(mask, truth)}
    return row


def _read_truth(path: Path, shape: tuple[int, ...], image: Path, threshold: int | None) -> np.ndarray:
    truth = read_mask(path, threshold)
    if truth.shape != shape:
        raise BenchmarkError(f"{path}: mask of {truth.shape[1]}×{truth.shape[0]} px, but its image {image.name} "
                             f"is {shape[1]}×{shape[0]} px")
    return truth


@dataclass(frozen=True)
class PredictInputs:
    """What a prediction reads, checked before anything is written: the UNet, its card, the image
    files and their masks (None without --masks), and where the UNet runs."""

    unet: UNet
    card: ModelCard
    images: tuple[Path, ...]
    masks: tuple[Path | None, ...]
    device: DeviceOptions


def resolve_inputs(weights: Path | str, images: Sequence[Path | str],
                   options: PredictOptions = PredictOptions()) -> PredictInputs:
    """Load the exported fine-tuned UNet and find every image and mask; any problem is a BenchmarkError."""
    device = options.device_options()
    options.check()
    unet, card = load_unet(weights, "finetuned")
    files = expand_inputs(images)
    masks = match_masks(files, Path(options.masks)) if options.masks is not None else [None] * len(files)
    return PredictInputs(unet, card, tuple(files), tuple(masks), device)


def write_predictions(inputs: PredictInputs, out: Path | str, options: PredictOptions = PredictOptions(),
                      progress: Progress | None = None) -> PredictSummary:
    """Segment the images batch by batch into a staging folder, renamed to `out` once all succeeded."""
    cfg, rows = inputs.card.preprocess, []
    total = len(inputs.images)
    with staged_folder(out) as staging:
        for start in range(0, total, options.batch_size):
            batch = inputs.images[start:start + options.batch_size]
            batch_masks = inputs.masks[start:start + options.batch_size]
            pixels = [read_image(path) for path in batch]
            for path, plane in zip(batch, pixels):
                model_side_check(plane.shape, cfg, inputs.unet, path)
            truths = [_read_truth(m, p.shape, f, options.mask_threshold) if m is not None else None
                      for f, p, m in zip(batch, pixels, batch_masks)]
            segmentations = segment(inputs.unet, cfg, pixels, inputs.device, options.batch_size)
            for path, plane, seg, mask_path, truth in zip(batch, pixels, segmentations, batch_masks, truths):
                atomic_write_bytes(staging / MASKS_DIR / f"{path.stem}.png", _png(seg.mask.astype(np.uint8) * 255))
                atomic_write_bytes(staging / OVERLAYS_DIR / f"{path.stem}.png",
                                   _png(overlay(plane, seg.mask, options.overlay_alpha, truth)))
                rows.append(_row(path, seg.mask, mask_path, truth))
                if progress:
                    progress(len(rows), total, path.name)
        table = pd.DataFrame(rows)
        atomic_write_text(staging / TABLE_FILE, table.to_csv(index=False))
    return PredictSummary(Path(out), table)


def predict_images(weights: Path | str, images: Sequence[Path | str], out: Path | str,
                   options: PredictOptions = PredictOptions(), progress: Progress | None = None) -> PredictSummary:
    """Segment `images` (files or folders) with the exported fine-tuned UNet at `weights`; write to `out`."""
    return write_predictions(resolve_inputs(weights, images, options), out, options, progress)

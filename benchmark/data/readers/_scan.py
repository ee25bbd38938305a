"""What a reader's scan builds: the DatasetScan it returns, the loader of image + mask file pairs
that file-based formats share, and ids that stay unique across a dataset's own splits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.data.dataset import LabelledDataset, LabelledItem
from benchmark.data.images import read_grey, read_image, read_mask_file
from benchmark.core.errors import BenchmarkError


@dataclass(frozen=True)
class DatasetScan:
    """What a structural scan found: the usable items, the format it was read as, and every problem."""

    dataset: LabelledDataset
    format: str
    problems: list[str]
    notes: list[str] = field(default_factory=list)  # what was recognised: layout, mask naming


@dataclass(frozen=True)
class FilePairs:
    """Picklable loader (DataLoader workers, remote jobs) that reads one image file and its mask
    file on access. `float_images` also accepts 32-bit float images (nnU-Net exports hold z-scored
    pixels)."""

    images: tuple[Path, ...]
    masks: tuple[Path, ...]
    float_images: bool = False

    def __call__(self, index: int, mask_threshold: int | None) -> LabelledItem:
        image_path, mask_path = self.images[index], self.masks[index]
        image = (read_grey if self.float_images else read_image)(image_path)
        mask, binarised = read_mask_file(mask_path, mask_threshold)
        _check_same_shape(image, mask, image_path, mask_path)
        return LabelledItem(image, mask, mask_path if binarised else None)


def _check_same_shape(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    if image.shape != mask.shape:
        raise BenchmarkError(f"{mask_path}: mask is {mask.shape[1]}×{mask.shape[0]} but image "
                             f"{image_path} is {image.shape[1]}×{image.shape[0]}")


def split_unique_ids(stems: list[str], groups: list[str]) -> list[str]:
    """The stems as ids; when one occurs in two splits (ARCADE numbers each split from 1), every id
    is prefixed with its split: 'train_1', 'val_1'."""
    collide = any(count > 1 for count in Counter(stems).values())
    return [f"{g}_{s}" for g, s in zip(groups, stems)] if collide else list(stems)

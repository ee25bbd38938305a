"""Dataset containers shared by every reader: lazy, index-addressable, with a content fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class LabelledItem:
    """One image and its bool vessel mask, as a reader's loader gives them. `binarised` is the mask
    file when it had grey values that the mask threshold binarised (what `data inspect` lists)."""

    image: np.ndarray
    mask: np.ndarray
    binarised: Path | None = None


#: (index, mask threshold or None) → the item; readers whose masks are not files ignore the threshold.
PairLoader = Callable[[int, int | None], LabelledItem]
ImageLoader = Callable[[int], np.ndarray]


@dataclass
class LabelledDataset:
    """Angiograms with binary vessel masks, loaded on demand so 1,000 images cost no memory up front.

    `groups[i]` is the split the image came from in its source (ARCADE's 'train'/'val'/'test'),
    or '' when the source has none. `fingerprint` identifies the content, so results computed on
    one dataset are never reused for another. `mask_threshold` binarises grey mask files (vessel =
    value ≥ it); None leaves a grey mask an error.
    """

    ids: list[str]
    loader: PairLoader
    source: str
    fingerprint: str
    groups: list[str] = field(default_factory=list)
    mask_threshold: int | None = None

    def __post_init__(self) -> None:
        if not self.groups:
            self.groups = [""] * len(self.ids)
        if len(self.groups) != len(self.ids):
            raise ValueError("groups and ids differ in length")

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, index: int) -> LabelledItem:
        """Item `index` with what reading it found (a binarised mask); `dataset[index]` is its pixels."""
        if not 0 <= index < len(self.ids):
            raise IndexError(index)
        return self.loader(index, self.mask_threshold)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        item = self.item(index)
        return item.image, item.mask

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def with_mask_threshold(self, threshold: int | None) -> LabelledDataset:
        """This dataset read with grey masks binarised at `threshold`. The threshold joins the
        fingerprint, since it changes the labels: data prepared at another one is never reused."""
        if threshold is None:
            return self
        fingerprint = hashlib.sha1(f"{self.fingerprint}\0mask_threshold={threshold}".encode()).hexdigest()
        return dataclasses.replace(self, mask_threshold=threshold, fingerprint=fingerprint)


@dataclass
class UnlabelledDataset:
    """Images with no masks: an extra pool for pre-training only."""

    ids: list[str]
    loader: ImageLoader
    source: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self.ids):
            raise IndexError(index)
        return self.loader(index)

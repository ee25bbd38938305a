"""Dataset containers shared by every reader: lazy, index-addressable, with a content fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

PairLoader = Callable[[int], tuple[np.ndarray, np.ndarray]]
ImageLoader = Callable[[int], np.ndarray]


@dataclass
class LabelledDataset:
    """Angiograms with binary vessel masks, loaded on demand so 1,000 images cost no memory up front.

    `groups[i]` is the split the image came from in its source (ARCADE's 'train'/'val'/'test'),
    or '' when the source has none. `fingerprint` identifies the content, so results computed on
    one dataset are never reused for another.
    """

    ids: list[str]
    loader: PairLoader
    source: str
    fingerprint: str
    groups: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.groups:
            self.groups = [""] * len(self.ids)
        if len(self.groups) != len(self.ids):
            raise ValueError("groups and ids differ in length")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self.ids):
            raise IndexError(index)
        return self.loader(index)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


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

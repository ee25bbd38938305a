"""Exact and near duplicates among images: a leak between the sets a run keeps apart, and, where two
copies carry their own masks, a free measure of how much two annotations of one image agree.

Exact: the same pixels. Near: the same scene within small changes (re-encoding, contrast, a frame or
two apart): the Pearson correlation of two images' 32×32 area-mean thumbnails is at least
`NEAR_CORRELATION`. On ARCADE (1,000 training images) the five pixel-identical pairs score 1.0, two
more pairs 0.998–0.9993, and the next pair 0.985; unrelated angiograms reach 0.85 at the 99th
percentile (docs/data.md), so 0.99 separates copies from look-alikes there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.core.errors import BenchmarkError

#: Thumbnail correlation at and above which two images are near duplicates.
NEAR_CORRELATION = 0.99
#: Thumbnail side: area means over blocks of the image, so resampling and noise barely move them.
THUMBNAIL_SIDE = 32
#: Rows of the correlation matrix computed at once (memory stays O(block × n)).
BLOCK = 1024


def pixel_digest(image: np.ndarray) -> str:
    """What "exact duplicate" compares: the pixels' shape and bytes."""
    data = np.ascontiguousarray(image)
    return hashlib.sha256(f"{data.shape}{data.dtype}".encode() + data.tobytes()).hexdigest()


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The image's THUMBNAIL_SIDE² area-mean thumbnail, z-scored (a flat image gives zeros)."""
    plane = np.asarray(image, dtype=np.float64)
    for axis, side in enumerate(plane.shape):  # a side below the thumbnail's: each pixel repeated
        if side < THUMBNAIL_SIDE:
            plane = np.repeat(plane, -(-THUMBNAIL_SIDE // side), axis=axis)
    starts = [np.linspace(0, side, THUMBNAIL_SIDE, endpoint=False).astype(int) for side in plane.shape]
    counts = [np.diff(np.append(s, side)) for s, side in zip(starts, plane.shape)]
    sums = np.add.reduceat(np.add.reduceat(plane, starts[0], axis=0), starts[1], axis=1)
    small = (sums / np.outer(counts[0], counts[1])).ravel()
    spread = small.std()
    return (small - small.mean()) / spread if spread > 0 else np.zeros_like(small)


@dataclass(frozen=True)
class Twin:
    """Two images that are the same picture (`exact`) or nearly (`correlation` of their thumbnails)."""

    first: str
    second: str
    exact: bool
    correlation: float

    @property
    def kind(self) -> str:
        return "exact" if self.exact else f"near, r = {self.correlation:.4f}"


def find_twins(ids: Sequence[str], thumbnails: np.ndarray, digests: Sequence[str],
               threshold: float = NEAR_CORRELATION) -> list[Twin]:
    """Every pair of images that are exact or near duplicates, most alike first."""
    thumbnails = np.asarray(thumbnails, dtype=np.float64)
    n = len(ids)
    found = []
    for start in range(0, n, BLOCK):
        block = thumbnails[start:start + BLOCK] @ thumbnails.T / thumbnails.shape[1]
        for row, col in zip(*np.nonzero(block >= threshold)):
            i = start + int(row)
            if i < col:
                found.append(Twin(ids[i], ids[col], digests[i] == digests[col], float(block[row, col])))
    exact_pairs = {(a, b) for a, b in _same_digest_pairs(ids, digests)}
    found += [Twin(a, b, True, 1.0) for a, b in exact_pairs - {(t.first, t.second) for t in found}]  # flat images
    return sorted(found, key=lambda t: (not t.exact, -t.correlation, t.first, t.second))


def _same_digest_pairs(ids: Sequence[str], digests: Sequence[str]) -> Iterable[tuple[str, str]]:
    by_digest: dict[str, list[str]] = {}
    for image_id, digest in zip(ids, digests):
        by_digest.setdefault(digest, []).append(image_id)
    for members in by_digest.values():
        for k, first in enumerate(members):
            for second in members[k + 1:]:
                yield first, second


def twin_groups(ids: Sequence[str], twins: Iterable[Twin]) -> list[list[str]]:
    """The connected groups of duplicates (each of at least two images), in `ids` order."""
    parent = {image_id: image_id for image_id in ids}

    def root(image_id: str) -> str:
        while parent[image_id] != image_id:
            parent[image_id] = parent[parent[image_id]]
            image_id = parent[image_id]
        return image_id

    for twin in twins:
        parent[root(twin.first)] = root(twin.second)
    groups: dict[str, list[str]] = {}
    for image_id in ids:
        groups.setdefault(root(image_id), []).append(image_id)
    return [members for members in groups.values() if len(members) > 1]


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice between two boolean masks of one image (1 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def near_twin(thumbnail_of: np.ndarray, candidates: np.ndarray, threshold: float = NEAR_CORRELATION) -> int | None:
    """The index of the candidate (rows of z-scored thumbnails) most alike `thumbnail_of`, if it is a
    near duplicate; None otherwise."""
    if len(candidates) == 0:
        return None
    scores = np.asarray(candidates) @ np.asarray(thumbnail_of) / len(thumbnail_of)
    best = int(np.argmax(scores))
    return best if scores[best] >= threshold else None


class TwinFinder:
    """Which of a set of named images another image duplicates, exactly (the same pixels) or nearly
    (its thumbnail correlates at NEAR_CORRELATION or more): what the leak checks ask of every image
    they are given."""

    def __init__(self, names: Sequence[str], images: Iterable[np.ndarray]) -> None:
        images = list(images)
        self.names = list(names)
        self.exact = {pixel_digest(image): name for name, image in zip(self.names, images)}
        self.thumbnails = np.array([thumbnail(image) for image in images])

    def twin(self, image: np.ndarray) -> tuple[str, bool] | None:
        """(name of the image `image` duplicates, whether only nearly), or None."""
        name = self.exact.get(pixel_digest(image))
        if name is not None:
            return name, False
        near = near_twin(thumbnail(image), self.thumbnails)
        return (self.names[near], True) if near is not None else None

    def refuse_twins(self, named: Iterable[tuple[str, np.ndarray]], refusal: Callable[[str, str, bool], str]) -> None:
        """Raise a BenchmarkError at the first of `named` that duplicates one of this finder's images,
        worded by `refusal(its name, its twin's name, whether only nearly)`."""
        for name, image in named:
            if (found := self.twin(image)) is not None:
                raise BenchmarkError(refusal(name, *found))


def duplicate_groups(ids: Sequence[str], images: Iterable[np.ndarray]) -> list[list[str]]:
    """The groups of exact or near duplicates among `images` (one per id, in order)."""
    thumbnails, digests = [], []
    for image in images:
        thumbnails.append(thumbnail(image))
        digests.append(pixel_digest(image))
    if not thumbnails:
        return []
    return twin_groups(ids, find_twins(ids, np.array(thumbnails), digests))

"""`angiobench data inspect`: read every file of a dataset and report what it holds and what is wrong.

Unlike `load_dataset`, which stops at the first problem, this continues past every error so a
user can fix a dataset in one pass. With a mask threshold, grey masks are binarised instead of
being problems, and the report names each one, so a user sees what the threshold changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.data.duplicates import NEAR_CORRELATION, Twin, find_twins, mask_dice, pixel_digest, thumbnail
from benchmark.data.readers.registry import scan_dataset
from benchmark.core.errors import BenchmarkError


@dataclass(frozen=True)
class DatasetReport:
    """Summary of a dataset. Sizes are (height, width); vessel fractions are in [0, 1], over the
    items that could be read (None when none could); `problems` has one line per problem."""

    path: str
    format: str
    count: int
    fingerprint: str = ""
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    vessel_fraction_mean: float | None = None
    vessel_fraction_min: float | None = None
    vessel_fraction_max: float | None = None
    groups: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader recognised: layout, mask naming
    mask_threshold: int | None = None
    binarised: list[str] = field(default_factory=list)  # mask files with grey values, binarised at the threshold
    twins: list[Twin] = field(default_factory=list)  # exact and near duplicates (benchmark.data.duplicates)
    twin_dice: dict[tuple[str, str], float] = field(default_factory=dict)  # Dice between a pair's two masks

    def agreement(self) -> tuple[int, float, float, float] | None:
        """Over the exact duplicate pairs with two masks: count, mean, min and max Dice between the
        masks (the annotation agreement of one image annotated twice); None without such a pair."""
        scores = [self.twin_dice[(t.first, t.second)] for t in self.twins
                  if t.exact and (t.first, t.second) in self.twin_dice]
        if not scores:
            return None
        return len(scores), sum(scores) / len(scores), min(scores), max(scores)

    def twin_lines(self) -> list[str]:
        exact = sum(t.exact for t in self.twins)
        out = [f"duplicates: {exact} exact, {len(self.twins) - exact} near (32×32 thumbnails correlating at "
               f"≥ {NEAR_CORRELATION})"]
        for twin in self.twins:
            dice = self.twin_dice.get((twin.first, twin.second))
            masks = f"; Dice between their masks {dice:.3f}" if dice is not None else ""
            out.append(f"duplicate: {twin.first} = {twin.second} ({twin.kind}{masks})")
        found = self.agreement()
        if found:
            n, mean, low, high = found
            out.append(f"annotation agreement (Dice between the two masks of an exact duplicate, {n} "
                       f"pair{'s' * (n != 1)}): "
                       f"mean {mean:.3f}, range {low:.3f}–{high:.3f}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable lines, one fact each; problems last, one per line."""
        out = [f"dataset: {self.path} ({self.format})", *self.notes, f"images: {self.count}"]
        if self.fingerprint:
            out.append(f"fingerprint: {self.fingerprint}")
        if self.sizes:
            out.append("sizes: " + ", ".join(f"{w}×{h} ({n})" for (h, w), n in sorted(self.sizes.items())))
        if self.vessel_fraction_mean is not None:
            out.append(f"vessel fraction: mean {100 * self.vessel_fraction_mean:.2f} %, "
                       f"min {100 * self.vessel_fraction_min:.2f} %, max {100 * self.vessel_fraction_max:.2f} %")
        if self.groups:
            out.append("groups: " + ", ".join(f"{g or '(none)'} ({n})" for g, n in self.groups.items()))
        if self.count:
            out += self.twin_lines()
        if self.mask_threshold is not None:
            out.append(f"masks binarised at threshold {self.mask_threshold} (vessel = value ≥ "
                       f"{self.mask_threshold}): {len(self.binarised)}")
            out += [f"binarised: {name}" for name in self.binarised]
        if not self.problems:
            return out + ["problems: none"]
        return out + [f"problems: {len(self.problems)}"] + [f"problem: {p}" for p in self.problems]


def _shown_path(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _twin_dice(dataset, twins: list[Twin]) -> dict[tuple[str, str], float]:
    """Dice between the two masks of each duplicate pair (both are labelled in a labelled dataset)."""
    position = {image_id: n for n, image_id in enumerate(dataset.ids)}
    scores = {}
    for twin in twins:
        first, second = dataset.item(position[twin.first]), dataset.item(position[twin.second])
        if first.mask.shape == second.mask.shape:
            scores[(twin.first, twin.second)] = mask_dice(first.mask, second.mask)
    return scores


def inspect_dataset(path: str | Path, format: str = "auto", mask_threshold: int | None = None) -> DatasetReport:
    """Scan the layout, then read every image and mask, collecting every problem on the way; grey
    masks are binarised at `mask_threshold` when it is given, and listed."""
    try:
        scan = scan_dataset(path, format, mask_threshold)
    except BenchmarkError as exc:
        return DatasetReport(path=str(path), format=format, count=0, problems=[str(exc)],
                             mask_threshold=mask_threshold)
    dataset, problems = scan.dataset, list(scan.problems)
    sizes: Counter[tuple[int, int]] = Counter()
    fractions: list[float] = []
    binarised: list[str] = []
    read_ids, thumbnails, digests = [], [], []
    for index in range(len(dataset)):
        try:
            item = dataset.item(index)
        except BenchmarkError as exc:
            problems.append(str(exc))
            continue
        read_ids.append(dataset.ids[index])
        thumbnails.append(thumbnail(item.image))
        digests.append(pixel_digest(item.image))
        sizes[item.image.shape] += 1
        fractions.append(float(item.mask.mean()))
        if item.binarised is not None:
            binarised.append(_shown_path(item.binarised, Path(path).expanduser()))
    twins = find_twins(read_ids, np.array(thumbnails), digests) if read_ids else []
    return DatasetReport(
        twins=twins, twin_dice=_twin_dice(dataset, twins),
        path=str(path),
        format=scan.format,
        count=len(dataset),
        fingerprint=dataset.fingerprint,
        sizes=dict(sizes),
        vessel_fraction_mean=sum(fractions) / len(fractions) if fractions else None,
        vessel_fraction_min=min(fractions) if fractions else None,
        vessel_fraction_max=max(fractions) if fractions else None,
        groups=dict(Counter(dataset.groups)),
        problems=problems,
        notes=list(scan.notes),
        mask_threshold=mask_threshold,
        binarised=binarised,
    )

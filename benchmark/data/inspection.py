"""`angiobench data inspect`: read every file of a dataset and report what it holds and what is wrong.

Unlike `load_dataset`, which stops at the first problem, this continues past every error so a
user can fix a dataset in one pass. With a mask threshold, grey masks are binarised instead of
being problems, and the report names each one, so a user sees what the threshold changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.data.readers.registry import scan_dataset
from benchmark.errors import BenchmarkError


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
        if self.mask_threshold is not None:
            out.append(f"masks binarised at threshold {self.mask_threshold} (vessel = value ≥ "
                       f"{self.mask_threshold}): {len(self.binarised)}")
            out += [f"binarised: {name}" for name in self.binarised]
        if not self.problems:
            return out + ["problems: none"]
        return out + [f"problems: {len(self.problems)}"] + [f"problem: {p}" for p in self.problems]


def _shown_path(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


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
    for index in range(len(dataset)):
        try:
            item = dataset.item(index)
        except BenchmarkError as exc:
            problems.append(str(exc))
            continue
        sizes[item.image.shape] += 1
        fractions.append(float(item.mask.mean()))
        if item.binarised is not None:
            binarised.append(_shown_path(item.binarised, Path(path).expanduser()))
    return DatasetReport(
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

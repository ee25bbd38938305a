"""The dataset formats, found by discovery: one module per format in this package, so adding a
format is one new file (docs/datasets.md).

A format module is any module of this package whose name does not start with '_' (shared helpers)
and is not this one. It defines `FORMAT = DatasetFormat(...)`, named like the module. Everything that
names or reads formats asks this module: `--format` and `data.format` (`check_format`,
`format_names`), auto-detection (`detect_format`), the run and `data inspect` (`scan_dataset`,
`load_dataset`), the model card (`formats`). Listing the names imports no reader, so the command
line can show them in its help without importing numpy or pycocotools.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from benchmark.data.readers._files import existing_folder
from benchmark.core.errors import BenchmarkError
from benchmark.core.plugins import plugin_names
from benchmark.core.text import did_you_mean

if TYPE_CHECKING:
    from benchmark.data.dataset import LabelledDataset
    from benchmark.data.readers._scan import DatasetScan

AUTO = "auto"
_PACKAGE = __name__.rpartition(".")[0]
_NOT_FORMATS = ("registry",)


@dataclass(frozen=True)
class KnownDataset:
    """The one public dataset a format is the official layout of: what a model card says of it."""

    name: str
    licence: str
    citation: str = ""


@dataclass(frozen=True)
class DatasetFormat:
    """What a reader module tells the registry about its format.

    `detect(root)`: whether the folder holds this format's layout; it raises BenchmarkError when it
    does but ambiguously (two image folders), which auto-detection reports only when no other format
    matches. `scan(root)`: the dataset, listing structural problems in the scan rather than raising
    where it can (`data inspect` shows them all). `layout`: what detection looks for, in a few words,
    as the "cannot tell" error lists it. `overrides`: formats whose layout may also be found inside
    this one's and lose to it (an ARCADE split holds derived masks/ beside its images).
    """

    name: str
    layout: str
    detect: Callable[[Path], bool]
    scan: Callable[[Path], DatasetScan]
    overrides: tuple[str, ...] = ()
    dataset: KnownDataset | None = None


def format_names() -> tuple[str, ...]:
    """Every format's name (its module's), sorted; imports no reader."""
    return tuple(plugin_names(importlib.import_module(_PACKAGE).__path__, helpers=_NOT_FORMATS))


def formats() -> dict[str, DatasetFormat]:
    """{name: DatasetFormat} of every format module, by name; a malformed module is an error naming it."""
    found: dict[str, DatasetFormat] = {}
    for name in format_names():
        module = importlib.import_module(f"{_PACKAGE}.{name}")
        declared = getattr(module, "FORMAT", None)
        if not isinstance(declared, DatasetFormat):
            raise BenchmarkError(f"{module.__file__}: a dataset format module must define "
                                 "FORMAT = DatasetFormat(...) (or start its name with '_' if it is a helper)")
        if declared.name != name:
            raise BenchmarkError(f"{module.__file__}: FORMAT.name is {declared.name!r}; it must be the "
                                 f"module's name, {name!r}")
        found[name] = declared
    for declared in found.values():
        unknown = [o for o in declared.overrides if o not in found]
        if unknown:
            raise BenchmarkError(f"dataset format {declared.name!r} overrides {unknown[0]!r}, which is no format")
    return found


def check_format(name: str, option: str = "format", where: str = "") -> None:
    """Refuse a name that is neither 'auto' nor a format, naming the option (and the file) it came from."""
    choices = (AUTO, *format_names())
    if name not in choices:
        raise BenchmarkError(f"{where + ': ' if where else ''}unknown dataset format {name!r} (option {option})"
                             f"{did_you_mean(name, choices)}; choose one of {', '.join(choices)}")


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])}, or {items[-1]}"


def detect_format(root: Path) -> str:
    """The one format whose layout `root` holds. Several (that do not override each other) are an
    error naming them; none is an error listing what each format looks for."""
    known = formats()
    found: list[DatasetFormat] = []
    doubts: list[BenchmarkError] = []
    for candidate in known.values():
        try:
            if candidate.detect(root):
                found.append(candidate)
        except BenchmarkError as doubt:
            doubts.append(doubt)
    beaten = {name for f in found for name in f.overrides}
    found = [f for f in found if f.name not in beaten]
    if len(found) > 1:
        raise BenchmarkError(f"{root}: holds the layouts of several formats ({', '.join(f.name for f in found)}); "
                             "keep one, or choose with format")
    if found:
        return found[0].name
    if doubts:
        raise doubts[0]
    raise BenchmarkError(f"{root}: cannot tell the dataset format; expected "
                         f"{_either([f'{f.layout} ({f.name})' for f in known.values()])}")


def scan_dataset(path: str | Path, format: str = AUTO, mask_threshold: int | None = None) -> DatasetScan:
    """Structural scan that lists every problem instead of stopping at the first; grey masks are
    binarised at `mask_threshold` when it is given (and are an error on access otherwise).

    Problems that leave nothing to scan (missing path, unknown format, unparsable COCO file)
    still raise BenchmarkError.
    """
    # Imported here: it brings numpy and PIL, which listing the format names does without.
    from benchmark.data.images import check_mask_threshold

    check_format(format)
    check_mask_threshold(mask_threshold, "mask_threshold")
    root = existing_folder(path)
    chosen = detect_format(root) if format == AUTO else format
    scan = formats()[chosen].scan(root)
    return dataclasses.replace(scan, dataset=scan.dataset.with_mask_threshold(mask_threshold))


def load_dataset(path: str | Path, format: str = AUTO, mask_threshold: int | None = None) -> LabelledDataset:
    """A lazily read labelled dataset (a format's name, or 'auto' to detect which).

    Raises BenchmarkError on the first structural problem; `inspect_dataset` lists them all.
    """
    scan = scan_dataset(path, format, mask_threshold)
    if scan.problems:
        more = len(scan.problems) - 1
        suffix = f" (and {more} more problem(s); `angiobench data inspect` lists all)" if more else ""
        raise BenchmarkError(scan.problems[0] + suffix)
    return scan.dataset

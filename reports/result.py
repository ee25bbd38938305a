"""What a report is built in (its figure formats) and what building it produced; import-light, so
the reuse check and the drawing code can both depend on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmark.core.errors import BenchmarkError

FORMATS = ("png", "pdf", "svg")


def check_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated formats; an unknown one is the user's error."""
    cleaned = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in formats if f.strip()))
    unknown = [f for f in cleaned if f not in FORMATS]
    if unknown:
        raise BenchmarkError(f"--format {unknown[0]!r} is not one of {', '.join(FORMATS)}")
    return cleaned


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    index_html: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # results without rows, failed jobs, figures not drawn
    summary: list[str] = field(default_factory=list)  # headline numbers, one line each

    def files(self) -> list[Path]:
        return [self.index_html, *self.figures, *self.tables]

"""What building a report produced: read by the summary lines and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    index_html: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # results without rows, failed jobs, figures not drawn
    summary: list[str] = field(default_factory=list)  # headline numbers, one line each

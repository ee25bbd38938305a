"""The study's figures, tables and HTML page, computed from a run folder's rows alone.

Importing the package is cheap (`build_report` checks whether the built report is still current
before it imports any drawing code); `summary_lines` brings pandas and scipy, so it is loaded on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reports.build import build_report
from reports.result import ReportResult

if TYPE_CHECKING:
    from reports.words.summary import summary_lines

__all__ = ["ReportResult", "build_report", "summary_lines"]


def __getattr__(name: str) -> Any:
    if name == "summary_lines":
        from reports.words.summary import summary_lines

        return summary_lines
    raise AttributeError(f"module 'reports' has no attribute {name!r}")

"""The study's figures, tables and HTML page, computed from a run folder's rows alone.

Importing the package is cheap (`build_report` checks whether the built report is still current
before it imports any drawing code); `summary_lines` brings pandas and scipy, so it is loaded on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.core.lazy import lazy_exports
from reports.build import build_report
from reports.result import ReportResult

if TYPE_CHECKING:
    from reports.words.summary import summary_lines

_LAZY, __getattr__ = lazy_exports(__name__, {"reports.words.summary": ("summary_lines",)})
__all__ = ["ReportResult", "build_report", *_LAZY]

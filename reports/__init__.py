"""The study's figures, tables and HTML page, computed from a run folder's rows alone."""

from reports.build import build_report
from reports.result import ReportResult
from reports.summary import summary_lines

__all__ = ["ReportResult", "build_report", "summary_lines"]

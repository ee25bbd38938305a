"""The tests behind the report's tables and headline, run once per build: the Dice comparisons and
the controls' verdicts."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports.tables.controls import ControlFindings, findings
from reports.stats.hierarchical import SignificanceSettings
from reports.labels import DICE, TABLE_ONE_METRICS, baseline
from reports.stats.significance import compare_methods


@dataclass(frozen=True)
class Analysis:
    """The tests behind the tables and the headline: Dice comparisons and the controls' verdicts."""

    comparison: pd.DataFrame  # compare_methods on Dice
    controls: ControlFindings


def analyse(rows: pd.DataFrame, settings: SignificanceSettings) -> Analysis:
    """Dice comparisons, and the controls' verdicts over every Table I metric the rows have."""
    comparisons = {m: compare_methods(rows, m, baseline(), settings) for m in TABLE_ONE_METRICS if m.key in rows}
    return Analysis(comparisons[DICE], findings(comparisons, DICE, settings))

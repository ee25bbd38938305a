"""The few lines a command line prints after a report is built: where it is, the headline numbers,
and what is missing."""

from __future__ import annotations

import pandas as pd

from reports import status
from reports.result import ReportResult
from reports.labels import DICE, method_label, order_methods
from reports.run import RunContents
from reports.stats import best_method, cell_means, relative_change



def headline(contents: RunContents, table_ratio: str | None) -> list[str]:
    """Job counts, the best method at Table I's ratio and each method's relative Dice change."""
    rows, jobs = contents.rows, contents.jobs
    finetune = jobs[jobs["kind"] == "finetune"]
    lines = [f"{len(rows)} result rows from {int((finetune['state'] == 'done').sum())} of {len(finetune)} "
             f"fine-tune jobs done; job states: "
             + ", ".join(f"{s} {n}" for s, n in status.state_counts(jobs).items() if n)]
    if table_ratio is None:
        return lines
    means = cell_means(rows, DICE.key)
    at_ratio = means[table_ratio].dropna()
    best = best_method(at_ratio, DICE.higher_is_better)
    lines.append(f"best Dice at {table_ratio}: {method_label(best)} {at_ratio[best]:.3f}")
    ratios = list(means.columns)
    if len(ratios) > 1:
        change = relative_change(means)
        for method in order_methods(means.index):
            first, last = means.loc[method, ratios[-1]], means.loc[method, ratios[0]]
            if pd.notna(change[method]):
                lines.append(f"{method_label(method)}: Dice {ratios[-1]} {first:.3f} → {ratios[0]} {last:.3f} "
                             f"({change[method]:+.1f} %)")
    return lines


def summary_lines(result: ReportResult, max_missing: int = 10) -> list[str]:
    """What a command line prints after building: where the page is, the headline, what is missing."""
    lines = [f"report: {result.index_html}",
             f"{len(result.figures)} figure files and {len(result.tables)} table files in {result.out_dir}",
             *result.summary]
    if result.missing:
        lines.append(f"missing or failed ({len(result.missing)}):")
        lines += [f"  {m}" for m in result.missing[:max_missing]]
        if len(result.missing) > max_missing:
            lines.append(f"  … and {len(result.missing) - max_missing} more (see the page's Missing section)")
    return lines

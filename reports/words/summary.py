"""The few lines a command line prints after a report is built: the answer first (`reports.words.answer`),
then the bookkeeping the page's Details section holds: the controls' verdicts, where the run stands,
what it can say at Table I's ratio, the relative Dice change of each contender, and how far each
external test set moves Dice."""

from __future__ import annotations

import pandas as pd

from reports.read import status
from reports.tables.analysis import Analysis
from reports.tables.generalisation import generalisation_lines
from reports.labels import method_label, order_ratios
from reports.result import ReportResult
from reports.tables.health import not_learned
from reports.read.contents import RunContents
from reports.stats.seedspread import seed_spread
from reports.stats.significance import ranking_text, seeds_note
from reports.stats.numbers import relative_change
from reports.tables.study import interval, signed



def verdict_line(test: pd.Series, ratio: str, untested: frozenset[str] = frozenset()) -> str:
    """'MAE vs baseline at 79:1: Δ Dice +0.052 [−0.020, +0.124], no detectable difference'; with one
    seed the interval says that it spans one trained model's test images, not trainings; for a method
    in `untested` (its pretext did not learn), that this is no test of it."""
    wording = {"better": "significantly better", "worse": "significantly worse"}.get(test["verdict"], test["verdict"])
    span = interval(test["diff_low"], test["diff_high"], 3, sign=True)
    if test["pair_seeds"] < 2:
        span += " over the test images of 1 trained model only"
    line = f"{method_label(test['method'])} vs baseline at {ratio}: Δ Dice {signed(test['diff'], 3)} {span}, {wording}"
    if test["method"] in untested:
        line += " — not a test of the method at this budget: its pretext did not learn"
    return line


def headline(contents: RunContents, table_ratio: str | None, analysis: Analysis | None) -> list[str]:
    """The bookkeeping under the answer (`reports.words.answer`): controls' verdicts, job counts, and at
    Table I's ratio the tie-aware ranking and each contender's run-level verdict; then each
    contender's relative Dice change."""
    rows, jobs = contents.rows, contents.jobs
    finetune = jobs[jobs["kind"] == "finetune"]
    lines = list(analysis.controls.lines()) if analysis is not None else []
    lines.append(f"{len(rows)} result rows from {int((finetune['state'] == 'done').sum())} of {len(finetune)} "
                 f"fine-tune jobs done; job states: "
                 + ", ".join(f"{s} {n}" for s, n in status.state_counts(jobs).items() if n))
    if table_ratio is None or analysis is None:
        return lines
    comparison = analysis.comparison
    block = comparison[comparison["ratio"] == table_ratio]
    ranking = ranking_text(block)  # without a ranking, it says why in the seeds note's words: once
    lines.append(f"no ranking at {table_ratio}: {seeds_note(block)}" if ranking.startswith("no ranking") else
                 f"ranking at {table_ratio} (gaps below the MDD are ties): {ranking}; {seeds_note(block)}")
    untested = frozenset(method for method, _, _ in not_learned(jobs))
    lines += [verdict_line(test, table_ratio, untested) for _, test in block[block["role"] == "contender"].iterrows()
              if pd.notna(test["diff"])]
    spread = seed_spread(rows, order_ratios(rows["ratio"])[0])
    if spread is not None:
        lines.append(spread.line(per_seed=bool(contents.dataset.labelled_per_seed)))
    shown = comparison[comparison["role"].isin(["baseline", "contender"])]
    means = shown.pivot(index="method", columns="ratio", values="mean")
    ratios = [r for r in dict.fromkeys(shown["ratio"])]
    if len(ratios) > 1:
        change = relative_change(means[ratios])
        for method in dict.fromkeys(shown["method"]):
            first, last = means.loc[method, ratios[-1]], means.loc[method, ratios[0]]
            if pd.notna(change[method]):
                lines.append(f"{method_label(method)}: Dice {ratios[-1]} {first:.3f} → {ratios[0]} {last:.3f} "
                             f"({change[method]:+.1f} %)")
    return lines + generalisation_lines(rows, contents.external_rows)


def summary_lines(result: ReportResult, max_missing: int = 10) -> list[str]:
    """What a command line prints after building: where the page is, the headline (controls first),
    what is missing."""
    lines = [f"report: {result.index_html}",
             f"{len(result.figures)} figure files and {len(result.tables)} table files in {result.out_dir}",
             *result.summary]
    if result.missing:
        lines.append(f"missing or failed ({len(result.missing)}):")
        lines += [f"  {m}" for m in result.missing[:max_missing]]
        if len(result.missing) > max_missing:
            lines.append(f"  … and {len(result.missing) - max_missing} more (see the page's Missing section)")
    return lines

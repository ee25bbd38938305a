"""Full fine-tuning beside the frozen-encoder probe, each with its own statistics.

The probe keeps the transferred encoder fixed and trains only the decoder and head (same budget, lr
grid and selection): it asks whether the representation itself is good, where fine-tuning asks
whether the weights are a good start. A contender ahead under the probe but not after fine-tuning
learned something that fine-tuning washed out; one behind under both has a poor representation. The
baseline under the probe is a random, frozen encoder. Each evaluation is its own analysis: its own
many-to-one test of the contenders (reports.stats.manytoone), and its own controls.
"""

from __future__ import annotations

import math

import pandas as pd

from reports.tables.controls import ControlFindings
from reports.labels import method_label, order_ratios
from reports.tables.table_format import Table
from reports.tables.study import MISSING, interval, mdd_text, signed

EVALUATION_NAMES = {"finetune": "fine-tuned", "frozen-encoder": "frozen encoder"}
COLUMNS = ("PT:FT", "Method", "Fine-tuned Dice", "Δ fine-tuned [95 % CI]", "Verdict (fine-tuned)",
           "Frozen-encoder Dice", "Δ frozen encoder [95 % CI]", "Verdict (frozen encoder)")


def _cells(test: pd.Series | None) -> tuple[str, str, str]:
    if test is None:
        return MISSING, MISSING, MISSING
    difference = MISSING if math.isnan(test["diff"]) else (
        f"{signed(test['diff'], 3)} {interval(test['diff_low'], test['diff_high'], 3, sign=True)}")
    return f"{test['mean']:.3f}", "baseline" if test["role"] == "baseline" else difference, test["verdict"]


def evaluations_table(finetuned: pd.DataFrame, probed: pd.DataFrame, probe_controls: ControlFindings) -> Table:
    """Per ratio and method, each evaluation's Dice, difference to the baseline and verdict, from its
    own comparison (reports.stats.significance.compare_methods)."""
    left, right = (c.set_index(["ratio", "method"]) for c in (finetuned, probed))
    keys = list(dict.fromkeys([*left.index, *right.index]))
    ratios = order_ratios({ratio for ratio, _ in keys})
    cells, records = [], []
    for ratio in ratios:
        for method in [m for r, m in keys if r == ratio]:
            a = left.loc[(ratio, method)] if (ratio, method) in left.index else None
            b = right.loc[(ratio, method)] if (ratio, method) in right.index else None
            cells.append((ratio, method_label(method), *_cells(a), *_cells(b)))
            records.append({"ratio": ratio, "method": method,
                            **{f"{k}_finetune": (a[k] if a is not None else math.nan) for k in ("mean", "diff", "p_family")},
                            **{f"{k}_frozen_encoder": (b[k] if b is not None else math.nan)
                               for k in ("mean", "diff", "p_family")},
                            "verdict_finetune": a["verdict"] if a is not None else "",
                            "verdict_frozen_encoder": b["verdict"] if b is not None else ""})
    smallest = ratios[0]
    mdds = [f"{name} {mdd_text(*_run_mdd(frame, smallest))}" for name, frame in
            (("fine-tuned", finetuned), ("frozen encoder", probed)) if not frame.empty]
    notes = (
        "Fine-tuned: the whole UNet trained from each start. Frozen encoder: the start's encoder kept fixed, the "
        "decoder and head trained under the same budget, lr grid and selection (the baseline's encoder is random "
        "and frozen). Each evaluation is tested on its own: its contenders in one many-to-one family, its controls "
        "alone (docs/statistics.md).",
        f"MDD at {smallest}: " + "; ".join(mdds) + ".",
        "Controls of the frozen-encoder probe: " + " ".join(probe_controls.lines()),
    )
    return Table("evaluations", "Fine-tuning and the frozen-encoder probe, side by side", COLUMNS, tuple(cells),
                 frozenset(), notes, pd.DataFrame(records))


def _run_mdd(comparison: pd.DataFrame, ratio: str) -> tuple[float, float, float]:
    block = comparison[comparison["ratio"] == ratio]
    if block.empty:
        return math.nan, math.nan, math.nan
    return tuple(float(block[c].iloc[0]) for c in ("run_mdd", "run_mdd_low", "run_mdd_high"))  # type: ignore[return-value]

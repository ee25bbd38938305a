"""What each method was given: optimiser steps, images seen, learning rate, wall time and FLOPs of its
pre-training, and the steps and chosen learning rates of its fine-tuning, so a reader sees at a glance
whether the comparison was fair. Everything comes from the jobs' status.json (absent → —)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports.labels import method_label, order_methods
from reports.tables.table_format import Table
from reports.tables.study import MISSING

MAX_LR_SHOWN = 4


def _number(value: float, kind: str) -> str:
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "seconds":
        return f"{value:.1f}"
    return f"{value:.3g}"


def value_range(values: pd.Series, kind: str) -> str:
    """'600' when every job agrees, '400–900' when they differ, — when none recorded it."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return MISSING
    low, high = values.min(), values.max()
    return _number(low, kind) if np.isclose(low, high) else f"{_number(low, kind)}–{_number(high, kind)}"


def distinct_rates(values: pd.Series) -> str:
    """The distinct learning rates, smallest first ('0.00015, 0.001'); a long list is cut with '…'."""
    rates = sorted(set(pd.to_numeric(values, errors="coerce").dropna().tolist()))
    if not rates:
        return MISSING
    shown = ", ".join(f"{r:.2g}" for r in rates[:MAX_LR_SHOWN])
    return shown + (", …" if len(rates) > MAX_LR_SHOWN else "")


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def budget_table(jobs: pd.DataFrame) -> Table | None:
    """One row per method with finished jobs: its pre-training and fine-tuning budget; None when no
    job has finished."""
    done = jobs[jobs["state"] == "done"]
    if done.empty:
        return None
    cells, records = [], []
    for method in order_methods(done["method"]):
        mine = done[done["method"] == method]
        pre, fine = mine[mine["kind"] == "pretrain"], mine[mine["kind"] == "finetune"]
        cells.append((method_label(method), str(len(pre)) if len(pre) else MISSING,
                      value_range(pre["steps"], "count"), value_range(pre["images_seen"], "count"),
                      distinct_rates(pre["lr"]), value_range(pre["wall_time_s"], "seconds"),
                      value_range(pre["flops"], "flops"), value_range(fine["steps"], "count"),
                      distinct_rates(fine["lr"])))
        records.append({"method": method, "pretrain_jobs": len(pre), "pretrain_steps_mean": _mean(pre["steps"]),
                        "pretrain_images_seen_mean": _mean(pre["images_seen"]), "pretrain_lr_mean": _mean(pre["lr"]),
                        "pretrain_wall_time_s_mean": _mean(pre["wall_time_s"]),
                        "pretrain_wall_time_s_total": float(pd.to_numeric(pre["wall_time_s"], errors="coerce").sum()),
                        "pretrain_flops_mean": _mean(pre["flops"]), "finetune_jobs": len(fine),
                        "finetune_steps_mean": _mean(fine["steps"]), "finetune_lr_mean": _mean(fine["lr"])})
    notes = (
        "Per method over its finished jobs (every ratio and seed): a single value where all jobs agree, else the "
        "range. Steps: optimiser steps; images seen: images passed through a training step; lr: the "
        "pre-training learning rate, and for fine-tuning the rate chosen per job; wall time per pre-training job "
        f"(s); FLOPs per pre-training job as recorded by the job ({MISSING}: the job did not record it; "
        "`angiobench plan` estimates them before a run).",
    )
    columns = ("Method", "PT jobs", "PT steps", "PT images seen", "PT lr", "PT wall time (s)", "PT FLOPs",
               "FT steps", "FT lr chosen")
    return Table("budget", "Budget per method: what each was given", columns, tuple(cells), frozenset(), notes,
                 pd.DataFrame(records))

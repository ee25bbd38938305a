"""Where a run stands: job states, failed jobs, grid cells without rows, and provenance.

A partial run must give a report that says so, so every expected method × ratio × seed cell
without rows is listed with the reason its fine-tune job gives (failed, skipped, pending, absent).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from reports.labels import order_methods, order_ratios
from reports.read.contents import RunContents

STATES = ("done", "failed", "skipped", "running", "pending")


@dataclass(frozen=True)
class MissingCell:
    method: str
    ratio: str
    seed: int
    reason: str

    def __str__(self) -> str:
        return f"{self.method} at {self.ratio}, seed {self.seed}: {self.reason}"


def state_counts(jobs: pd.DataFrame) -> dict[str, int]:
    """Jobs per state, every known state listed (0 where none), then any other state found."""
    counts = jobs["state"].value_counts().to_dict()
    return {**{s: int(counts.get(s, 0)) for s in STATES},
            **{str(s): int(n) for s, n in counts.items() if s not in STATES}}


def unsuccessful_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """Failed and skipped jobs with their errors: a report shows them, it never hides them."""
    bad = jobs[jobs["state"].isin(["failed", "skipped"])]
    return bad[["job_key", "kind", "method", "ratio", "seed", "state", "error"]].reset_index(drop=True)


def expected_cells(contents: RunContents) -> set[tuple[str, str, int]]:
    """The config's grid, plus any cell a fine-tune job in the folder stands for."""
    grid = contents.grid
    cells = set(itertools.product(grid.methods, grid.ratios, grid.seeds))
    finetune = contents.jobs[contents.jobs["kind"] == "finetune"]
    cells |= {(str(m), str(r), int(s)) for m, r, s in zip(finetune["method"], finetune["ratio"], finetune["seed"])}
    return cells


def missing_cells(contents: RunContents) -> list[MissingCell]:
    rows = contents.rows
    have = {(str(m), str(r), int(s)) for m, r, s in zip(rows["method"], rows["ratio"], rows["seed"])}
    jobs = contents.jobs.set_index("job_key", drop=False)
    finetune = jobs[jobs["kind"] == "finetune"]
    missing = []
    for method, ratio, seed in expected_cells(contents) - have:
        match = finetune[(finetune["method"] == method) & (finetune["ratio"] == ratio) & (finetune["seed"] == seed)]
        reason = _reason(match.iloc[0], jobs) if len(match) else "no job in the run folder"
        missing.append(MissingCell(method, ratio, seed, reason))
    ratio_rank = {r: i for i, r in enumerate(order_ratios({c.ratio for c in missing}))}
    method_rank = {m: i for i, m in enumerate(order_methods({c.method for c in missing}))}
    return sorted(missing, key=lambda c: (method_rank[c.method], ratio_rank[c.ratio], c.seed))


def _reason(job: pd.Series, jobs: pd.DataFrame) -> str:
    state = job["state"]
    if state == "done":
        return "fine-tune job done but wrote no rows"
    if state in ("failed", "skipped"):
        return f"fine-tune job {state}: {job['error'] or 'no error recorded'}"
    failed_parents = [k for k in str(job["depends_on"]).split(",") if k in jobs.index
                      and jobs.loc[k, "state"] in ("failed", "skipped")]
    if failed_parents:
        parent = jobs.loc[failed_parents[0]]
        return f"fine-tune job {state}; its pre-training job {parent['state']}: {parent['error'] or 'no error recorded'}"
    return f"fine-tune job {state}"


def absent_ratios(contents: RunContents) -> list[str]:
    """Ratios the config asks for that have no rows from any method."""
    have = set(contents.rows["ratio"])
    return [r for r in order_ratios(contents.grid.ratios) if r not in have] if contents.grid.ratios else []


def missing_lines(contents: RunContents) -> list[str]:
    """One line per thing the report lacks: ratios without rows, cells without rows, failed jobs, data files."""
    lines = [f"no results at ratio {r} from any method" for r in absent_ratios(contents)]
    lines += [f"missing rows: {cell}" for cell in missing_cells(contents)]
    bad = unsuccessful_jobs(contents.jobs)
    lines += [f"{job.kind} job {job.job_key} ({job.method}, {job.ratio}, seed {job.seed}) {job.state}: "
              f"{job.error or 'no error recorded'}" for job in bad.itertuples()]
    return lines + list(contents.dataset.problems)


def provenance(contents: RunContents) -> dict[str, list[str]]:
    """Distinct git commits, versions and devices of the finished jobs, each with its job count."""
    done = contents.jobs[contents.jobs["state"] == "done"]
    found = {}
    for title, column in (("git commit", "git_commit"), ("versions", "versions"), ("device", "device")):
        counts = done[column].replace("", pd.NA).dropna().value_counts()
        found[title] = [f"{value} ({n} job{'s' if n > 1 else ''})" for value, n in counts.items()]
    return found

"""What a run says about each finished job, and how long the rest should take.

In a terminal the progress bars show the run; under `tee`, `nohup` or Slurm (stdout not a TTY) they
draw nothing until the end, so the command line prints one line per finished job instead:
    done mae fine-tune 79:1 seed 0: Dice 0.612, 41.3 s · 5/12 jobs, about 4 min left
The estimate is the run's own pace so far (wall time per finished job, jobs running side by side
included), so it needs no cost model and improves as jobs finish.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd

from benchmark.run.folder import layout
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.store import RunStore
from benchmark.core.text import duration_text


@dataclass
class RunClock:
    """Jobs finished so far this session and the time they took, for a time-remaining estimate."""

    total: int  # jobs of the grid
    already_done: int  # done before this session started
    started: float = field(default_factory=time.monotonic)
    finished: int = 0  # ended this session (done, failed or skipped)

    def finish(self) -> None:
        self.finished += 1

    @property
    def left(self) -> int:
        return max(0, self.total - self.already_done - self.finished)

    def remaining_s(self, now: float | None = None) -> float | None:
        """Seconds the jobs left should take at this session's pace; None before any job ended."""
        if self.finished == 0:
            return None
        elapsed = (time.monotonic() if now is None else now) - self.started
        return elapsed / self.finished * self.left

    def progress_text(self, now: float | None = None) -> str:
        """'5/12 jobs, about 4 min left' (or 'time left: after the first job' before one ended)."""
        remaining = self.remaining_s(now)
        done = self.total - self.left
        if self.left == 0:
            return f"{done}/{self.total} jobs"
        if remaining is None or not math.isfinite(remaining):
            return f"{done}/{self.total} jobs, time left known after the first job"
        return f"{done}/{self.total} jobs, about {duration_text(remaining)} left"


def job_dice(store: RunStore, job: Job) -> float | None:
    """Mean test Dice of a finished fine-tune job (None for other jobs or without rows)."""
    path = store.job_dir(job.key) / layout.ROWS
    if job.kind != "finetune" or not path.is_file():
        return None
    try:
        dice = pd.read_parquet(path, columns=["dice"])["dice"]
    except (OSError, ValueError, KeyError):
        return None
    return float(dice.mean()) if len(dice) else None


def job_line(store: RunStore, job: Job, outcome: str, message: str, clock: RunClock, now: float | None = None) -> str:
    """One line for a job that ended: outcome, kind, method, ratio, seed, Dice, seconds, then the
    run's progress and time left."""
    what = f"{outcome} {job.label}"  # method, kind, ratio and seed
    details = []
    if outcome == "done":
        dice = job_dice(store, job)
        if dice is not None:
            details.append(f"Dice {dice:.3f}")
        seconds = store.read_status(job.key).wall_time_s
        if isinstance(seconds, (int, float)):
            details.append(f"{seconds:.1f} s")
    elif message:
        details.append(message.splitlines()[0] if message.strip() else message)
    return f"{what}: {', '.join(details) or '—'} · {clock.progress_text(now)}"

"""One handler per job kind: each takes a JobContext and returns a JobResult (benchmark.run.execute.worker
runs the one the job's kind names and records what it returns)."""

from __future__ import annotations

from typing import Callable

from benchmark.run.handlers.context import JobContext, JobResult
from benchmark.run.handlers.finetune import run_finetune
from benchmark.run.handlers.pretrain import run_pretrain
from benchmark.run.handlers.score import run_score

Handler = Callable[[JobContext], JobResult]
HANDLERS: dict[str, Handler] = {"pretrain": run_pretrain, "finetune": run_finetune, "score": run_score}

__all__ = ["HANDLERS", "Handler", "JobContext", "JobResult"]

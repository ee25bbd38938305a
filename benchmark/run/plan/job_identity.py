"""Which job a job.json describes (its key, kind, method, grid cell and dependencies), read without
the method registry or the training stack: what `angiobench status` and a report need of a job."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from benchmark.core.dataclass_io import build
from benchmark.core.errors import BenchmarkError

JobKind = Literal["pretrain", "finetune", "score"]
#: How a fine-tune job evaluates its start (the rows' `evaluation` column): the whole UNet fine-tuned,
#: or the frozen-encoder probe.
FINETUNE, FROZEN_ENCODER = "finetune", "frozen-encoder"


@dataclass(frozen=True)
class JobIdentity:
    """What identifies a job, and all `angiobench status` and a report need of one; benchmark.run.plan.jobs.Job
    adds what the job trains with."""

    key: str
    kind: JobKind
    method: str
    seed: int
    pt_ratio: float
    ft_ratio: float
    ratio: str
    depends_on: tuple[str, ...]

    @classmethod
    def from_json(cls, table: dict[str, Any], where: str) -> JobIdentity:
        if not isinstance(table, dict):
            raise BenchmarkError(f"{where}: expected a JSON object, got {table!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        absent = [n for n in names if n not in table]
        if absent:
            raise BenchmarkError(f"{where}: no {absent[0]!r}")
        return build(cls, {n: table[n] for n in names}, where)

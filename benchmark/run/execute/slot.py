"""Where a job runs, shared by every executor (benchmark.run.execute.executors, benchmark.run.execute.slurm)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Slot:
    """Where a job runs: a GPU index, the CPU, or a SLURM allocation."""

    device: Literal["cuda", "cpu", "slurm"]
    gpu: int | None = None
    index: int = 0  # tells apart slots on the same device (a persistent CPU worker belongs to one)

    @property
    def label(self) -> str:
        return f"cuda:{self.gpu}" if self.gpu is not None else self.device

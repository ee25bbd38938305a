"""From measured seconds to a time range for the jobs still to run, and whether the machine the
measurements come from is busy. Plain arithmetic on numbers handed in (no torch, no clock, no run
folder), so tests give it known measurements and check known answers.

A job's work is a few named amounts ({"pre-train mae": 3200} image-steps, say); a rate is the
seconds one unit of an amount took, as a range (`Span`) over the measurements of that amount. A
job's seconds are the sum of its amounts times their rates, low ends and high ends apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from benchmark.core.text import duration_text

#: The narrowest range a rate is given: ±10 % about its middle. A single measurement (one finished
#: job, a probe repeating itself closely) spreads less than jobs of one kind do from run to run.
MIN_SPREAD = 0.10


@dataclass(frozen=True)
class Span:
    """A range of seconds (or of seconds per unit of work): the low and high estimates."""

    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Span:
        """From the smallest to the largest of `values` (at least one)."""
        values = list(values)
        return cls(min(values), max(values))

    def __add__(self, other: Span) -> Span:
        return Span(self.low + other.low, self.high + other.high)

    def scaled(self, factor: float) -> Span:
        return Span(self.low * factor, self.high * factor)

    def widened(self, spread: float = MIN_SPREAD) -> Span:
        """At least ±`spread` about the middle; a wider range is kept as it is."""
        middle = (self.low + self.high) / 2
        return Span(min(self.low, middle * (1 - spread)), max(self.high, middle * (1 + spread)))


ZERO = Span(0.0, 0.0)


@dataclass(frozen=True)
class Sample:
    """One measurement: `seconds` for `work` units of the amount `group`."""

    group: str
    work: float
    seconds: float


def rates(samples: Iterable[Sample]) -> dict[str, Span]:
    """Seconds per unit of work of each group: from its fastest to its slowest measurement.
    Samples without work or time say nothing and are left out."""
    per_unit: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        if sample.work > 0 and sample.seconds > 0 and math.isfinite(sample.seconds):
            per_unit[sample.group].append(sample.seconds / sample.work)
    return {group: Span.of(values) for group, values in per_unit.items()}


def seconds_for(work: Mapping[str, float], known: Mapping[str, Span]) -> Span | None:
    """A job's seconds: each amount of its work times that amount's rate (widened to MIN_SPREAD),
    summed; None when a rate is missing."""
    if any(group not in known for group in work):
        return None
    total = ZERO
    for group, units in work.items():
        total = total + known[group].widened().scaled(units)
    return total


def wall_span(jobs: Sequence[Span], workers: int) -> Span:
    """Wall time of `jobs` run `workers` at a time: their seconds shared among the workers, and
    never less than the longest job (a job runs on one worker)."""
    if not jobs:
        return ZERO
    workers = max(1, workers)
    total = sum(jobs, ZERO)
    return Span(max(total.low / workers, max(j.low for j in jobs)),
                max(total.high / workers, max(j.high for j in jobs)))


def span_text(span: Span) -> str:
    """'20–28 s', '25–31 min', '1 h 05 min – 1 h 20 min'; one figure when both ends read alike."""
    low, high = duration_text(span.low), duration_text(span.high)
    if low == high:
        return low
    for unit in (" s", " min"):
        if low.endswith(unit) and high.endswith(unit) and " h " not in low + high:
            return f"{low[:-len(unit)]}–{high}"
    return f"{low} – {high}"


@dataclass(frozen=True)
class BusyLimits:
    """When the machine counts as busy: a 1-minute load average of at least `load_share` of its
    cores (a run that uses every core would share them), or a probe that got less than `cpu_share`
    of a core's time per second of wall time (other processes took the rest)."""

    load_share: float = 0.5
    cpu_share: float = 0.8


@dataclass(frozen=True)
class Machine:
    """What the busy check reads: the 1-minute load average (taken before any probe adds to it)
    and the cores."""

    load: float
    cores: int


def busy_warning(machine: Machine, probe_cpu_share: float | None = None, limits: BusyLimits = BusyLimits()) -> str | None:
    """The line saying the machine is busy, and what that does to the estimate; None when it is not.

    `probe_cpu_share`: CPU seconds per wall second of the probe's steps (None: no probe ran)."""
    loaded = machine.load >= limits.load_share * machine.cores
    starved = probe_cpu_share is not None and probe_cpu_share < limits.cpu_share
    if not (loaded or starved):
        return None
    what = f"load {machine.load:.1f} on {machine.cores} core{'s' if machine.cores != 1 else ''}"
    if starved:
        what += f"; the probe got {probe_cpu_share:.2f} of a core"
    if probe_cpu_share is not None:
        effect = "the probe's steps were slowed by other processes, so the estimate may be high"
    else:
        effect = ("the estimate is the finished jobs' times; jobs started now share the cores with "
                  "that load and may take longer")
    return f"the machine is busy ({what}): {effect}"

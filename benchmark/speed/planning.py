"""What `angiobench plan` estimates a grid to take, and on what basis.

By default from measurements: each job still to run from the finished jobs of the same kind in the
run folder (seconds per image-step, pre-training per method, fine-tuning, scoring); kinds no job has
finished yet from a probe, a few real steps timed here (benchmark.speed.probe). Each job gets a range,
from the fastest to the slowest measurement per unit of work (at least ±10 %: estimate.MIN_SPREAD),
and the run's wall time shares the jobs among the jobs that run at once. The machine's load is read
first: a busy machine slows what is measured now, and the plan says so.

`--speed FILE` (a speed report's images/s) or `--tflops X` (an assumed sustained rate) replace the
measurements, as FLOP-counted figures without a range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from benchmark.config.run_config import RunConfig
from benchmark.core.errors import BenchmarkError
from benchmark.run.folder.job_status import JobStatus
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.store import RunStore
from benchmark.speed.cost import (FINETUNE_STEP, estimate_cost, job_group, job_image_steps, measured_work,
                                  probed_work)
from benchmark.speed.estimate import Machine, Span, busy_warning, rates, seconds_for, span_text, wall_span
from benchmark.speed.history import finished_samples
from benchmark.speed.probe import ProbeConfig, ProbeResult, run_probe
from benchmark.speed.report import estimate_cost_from_speed, load_speed_json
from benchmark.train.device import DeviceOptions

Probe = Callable[[dict[str, Job], DeviceOptions, int, ProbeConfig], ProbeResult]


@dataclass(frozen=True)
class PlanRequest:
    """What the estimate rests on (`speed` or `tflops`; neither: measurements) and how the run would
    run: `workers` jobs at once, each on `threads` torch threads (0: torch's default), on `device`."""

    tflops: float | None = None
    speed: Path | None = None
    workers: int = 1
    threads: int = 0
    device: DeviceOptions = field(default_factory=DeviceOptions)
    probe: ProbeConfig = field(default_factory=ProbeConfig)


def this_machine() -> Machine:
    """The 1-minute load average and the cores of this machine (cores only where there is no load average)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return Machine(load, os.cpu_count() or 1)


@dataclass(frozen=True)
class PlanCost:
    """One row per job (job_key, kind, method, ratio, seed, image_steps, state, low_s, high_s, basis;
    tflop too when FLOPs are the basis), the jobs run at once, the basis in words, notes, and a
    warning when the machine is busy."""

    jobs: pd.DataFrame
    workers: int
    basis: str
    notes: list[str] = field(default_factory=list)
    warning: str | None = None

    @property
    def to_run(self) -> pd.DataFrame:
        return self.jobs[self.jobs["state"] != "done"]

    def job_time(self) -> Span:
        """Seconds of the jobs still to run, one after another."""
        return Span(float(self.to_run["low_s"].sum()), float(self.to_run["high_s"].sum()))

    def wall_time(self) -> Span:
        """Wall seconds of the jobs still to run, `workers` at a time."""
        return wall_span([Span(lo, hi) for lo, hi in zip(self.to_run["low_s"], self.to_run["high_s"])], self.workers)

    def by_kind(self) -> pd.DataFrame:
        """Per method and kind: jobs, jobs to run, image-steps (and TFLOP), what the time of the jobs
        to run rests on, and that time."""
        rows = []
        for (method, kind), group in self.jobs.groupby(["method", "kind"], sort=True):
            left = group[group["state"] != "done"]
            row = {"method": method, "kind": kind, "jobs": len(group), "to_run": len(left),
                   "image_steps": int(group["image_steps"].sum())}
            if "tflop" in group:
                row["tflop"] = float(group["tflop"].sum())
            rows.append({**row, "basis": ", ".join(sorted(set(left["basis"]))) or "done",
                         "time_to_run": span_text(Span(left["low_s"].sum(), left["high_s"].sum())) if len(left) else "-"})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """'160 jobs (18 already done); 142 to run: 49–61 min of job time, 25–31 min with 2 at once'."""
        done = len(self.jobs) - len(self.to_run)
        text = f"{len(self.jobs)} jobs ({done} already done); {len(self.to_run)} to run"
        if self.to_run.empty:
            return text
        return (f"{text}: {span_text(self.job_time())} of job time, "
                f"{span_text(self.wall_time())} with {self.workers} at once")


FRAME_COLUMNS = ["job_key", "kind", "method", "ratio", "seed", "image_steps", "state"]


def _frame(jobs: list[Job], extra_images: int, statuses: list[JobStatus]) -> pd.DataFrame:
    """Who each job is, its image-steps and its state; its times are filled in by the estimate."""
    return pd.DataFrame([{"job_key": job.key, "kind": job.kind, "method": job.method, "ratio": job.ratio,
                          "seed": job.seed, "image_steps": job_image_steps(job, extra_images), "state": status.state}
                         for job, status in zip(jobs, statuses)], columns=FRAME_COLUMNS)


def _flop_cost(jobs: list[Job], config: RunConfig, extra_images: int, statuses: list[JobStatus],
               request: PlanRequest) -> PlanCost:
    """The estimate of `--speed` or `--tflops`: FLOPs at a rate, one figure per job."""
    notes = []
    if request.speed is not None:
        report = load_speed_json(request.speed)
        if (report.size, report.base) != (config.preprocess.size or 256, config.unet.base):
            notes.append(f"note: {request.speed} was measured at {report.size}² px, base {report.base}; "
                         "images/s are scaled by FLOPs per image")
        cost = estimate_cost_from_speed(jobs, config, report, extra_images)
        basis = f"images/s measured on {report.device} ({request.speed})"
    else:
        if request.tflops <= 0:
            raise BenchmarkError(f"--tflops {request.tflops:g}: give a positive sustained rate")
        cost = estimate_cost(jobs, config, request.tflops, extra_images)
        basis = f"{request.tflops:.3g} TFLOP/s"
    seconds = (cost.jobs["hours"] * 3600).to_numpy()
    frame = _frame(jobs, extra_images, statuses).assign(tflop=cost.jobs["tflop"].to_numpy(), low_s=seconds,
                                                        high_s=seconds, basis=basis)
    return PlanCost(frame, request.workers, f"FLOPs counted per step at {basis}", notes)


def _stand_ins(missing: list[Job], jobs: list[Job], extra_images: int) -> dict[str, Job]:
    """For each amount the probe must time, a job at whose sizes to time it: the job itself for a
    pre-training step or the metrics, a fine-tune job of the grid for the fine-tuning step (which a
    score job stands for too)."""
    finetune = next((job for job in jobs if job.kind == "finetune"), None)
    amounts: dict[str, Job] = {}
    for job in missing:
        for amount in probed_work(job, extra_images):
            amounts.setdefault(amount, finetune if amount == FINETUNE_STEP else job)
    return amounts


def _groups_text(groups: set[str]) -> str:
    """'pre-train cmunet, mae; fine-tune; score' from the groups of benchmark.speed.cost.job_group."""
    prefix = "pre-train "
    methods = sorted(g[len(prefix):] for g in groups if g.startswith(prefix))
    rest = sorted(g for g in groups if not g.startswith(prefix))
    return "; ".join(([prefix + ", ".join(methods)] if methods else []) + rest)


def _measured_cost(jobs: list[Job], config: RunConfig, extra_images: int, store: RunStore,
                   statuses: list[JobStatus], request: PlanRequest, machine: Machine, probe: Probe) -> PlanCost:
    """Each job to run from the finished jobs of its kind, or else from a probe; done jobs at their times."""
    samples = finished_samples(store, extra_images, config.unet, config.preprocess.size)
    measured = rates(samples)
    spans: dict[str, Span] = {}
    basis: dict[str, str] = {}
    missing = []
    for job, status in zip(jobs, statuses):
        if status.state == "done":
            took = status.wall_time_s or 0.0
            spans[job.key], basis[job.key] = Span(took, took), "done"
        elif (span := seconds_for(measured_work(job, extra_images), measured)) is not None:
            spans[job.key], basis[job.key] = span, "finished"
        else:
            missing.append(job)
    notes = []
    if samples:
        notes.append(f"from {len(samples)} finished jobs in {store.root} ({_groups_text({s.group for s in samples})}): "
                     "their seconds per image-step")
    result = None
    if missing:
        result = probe(_stand_ins(missing, jobs, extra_images), request.device, request.threads, request.probe)
        for job in missing:
            spans[job.key], basis[job.key] = seconds_for(probed_work(job, extra_images), result.rates), "probe"
        threads = f"{request.threads} torch thread{'s' if request.threads != 1 else ''}" if request.threads \
            else "torch's default threads"
        notes.append(f"from a probe here ({_groups_text({job_group(job) for job in missing})}): {result.steps} "
                     f"timed blocks of real steps and metrics on {request.device.device}, {threads}, "
                     f"{request.device.precision}")
    notes.append("ranges: from the fastest to the slowest measurement per unit of work, at least ±10 %")
    frame = _frame(jobs, extra_images, statuses).assign(
        low_s=[spans[job.key].low for job in jobs], high_s=[spans[job.key].high for job in jobs],
        basis=[basis[job.key] for job in jobs])
    used = " and ".join(part for part, used in (("finished jobs", samples), ("a probe", missing)) if used)
    warning = busy_warning(machine, result.cpu_share if result is not None else None)
    return PlanCost(frame, request.workers, f"measured: {used or 'every job done'}", notes, warning)


def plan_cost(jobs: list[Job], config: RunConfig, extra_images: int, store: RunStore,
              request: PlanRequest = PlanRequest(), machine: Machine | None = None,
              probe: Probe = run_probe) -> PlanCost:
    """The grid's time: from `request.speed` or `request.tflops` if given, else measured (module doc).

    `machine` (default: this one, read before any probe) is what the busy warning judges."""
    if request.speed is not None and request.tflops is not None:
        raise BenchmarkError("give --speed or --tflops, not both")
    if request.workers < 1:
        raise BenchmarkError(f"{request.workers} jobs at once: must be at least 1")
    machine = machine or this_machine()
    statuses = [store.read_status(job.key) for job in jobs]
    if request.speed is not None or request.tflops is not None:
        return _flop_cost(jobs, config, extra_images, statuses, request)
    return _measured_cost(jobs, config, extra_images, store, statuses, request, machine, probe)

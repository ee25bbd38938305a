"""What `angiobench plan` estimates a grid to cost, and on what basis: a measured speed report, an
assumed sustained TFLOP/s, or a quick measurement on this machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmark.config import RunConfig
from benchmark.errors import BenchmarkError
from benchmark.run.jobs import Job
from benchmark.speed.cost import CostEstimate, estimate_cost, measure_tflops
from benchmark.speed.report import estimate_cost_from_speed, load_speed_json


@dataclass(frozen=True)
class PlanCost:
    cost: CostEstimate
    basis: str  # what the hours assume, in words
    notes: list[str] = field(default_factory=list)  # what the user should know about that basis


def plan_cost(jobs: list[Job], config: RunConfig, extra_images: int, tflops: float | None = None,
              speed: Path | None = None, device: str = "cpu") -> PlanCost:
    """The grid's cost from `speed` (a JSON speed report) or `tflops`; neither: measured on `device`."""
    if speed is not None and tflops is not None:
        raise BenchmarkError("give --speed or --tflops, not both")
    size = config.preprocess.size or 256
    if speed is not None:
        report = load_speed_json(speed)
        notes = []
        if (report.size, report.base) != (size, config.unet.base):
            notes.append(f"note: {speed} was measured at {report.size}² px, base {report.base}; "
                         "images/s are scaled by FLOPs per image")
        return PlanCost(estimate_cost_from_speed(jobs, config, report, extra_images),
                        f"images/s measured on {report.device} ({speed})", notes)
    notes = []
    if tflops is None:
        tflops = measure_tflops(config.unet, size, device)
        notes.append(f"measured {tflops:.3g} TFLOP/s for fine-tuning steps on {device}")
    elif tflops <= 0:
        raise BenchmarkError(f"--tflops {tflops:g}: give a positive sustained rate")
    return PlanCost(estimate_cost(jobs, config, tflops, extra_images), f"{tflops:.3g} TFLOP/s", notes)

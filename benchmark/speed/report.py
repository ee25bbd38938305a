"""The speed report: measured images/s and what follows from them (speed-up, TFLOP/s, share of
peak), as tables and JSON, and as the throughput `plan` turns into hours.

Only measured quantities are stored; every derived column is computed from them, so a report read
back from JSON prints the same tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.config.run_config import RunConfig
from benchmark.speed.cost import CostEstimate, estimate_cost
from benchmark.train.flops import training_flops_per_image
from benchmark.core.dataclass_io import to_plain, update
from benchmark.core.errors import BenchmarkError
from benchmark.run.plan.jobs import Job
from benchmark.model.unet import UNetConfig

#: The row of the fine-tuning step; every other row is named after the method it pre-trains.
FINETUNE = "finetune"


@dataclass(frozen=True)
class SpeedRow:
    """One training step timed both ways; images/s are per device, FLOPs forward + backward."""

    step: str = FINETUNE
    flops_per_image: float = 0.0
    harness_ips: float = 0.0
    plain_ips: float = 0.0
    compile_s: float | None = None  # first-step seconds when the harness compiled, else None

    @property
    def ratio(self) -> float:
        return self.harness_ips / self.plain_ips

    @property
    def harness_tflops(self) -> float:
        return self.flops_per_image * self.harness_ips / 1e12

    @property
    def plain_tflops(self) -> float:
        return self.flops_per_image * self.plain_ips / 1e12


@dataclass(frozen=True)
class ConcurrencyRow:
    """k tiny fine-tuning jobs at once on one device: their images/s together and each on its own."""

    jobs: int = 1
    images_per_second: float = 0.0  # all jobs' images over the span from the first start to the last end
    per_job_ips: float = 0.0  # mean over the jobs of each one's images / own timed seconds
    images: int = 0  # images all jobs trained in their timed blocks


@dataclass(frozen=True)
class MetricSpeed:
    """Median ms per image pair, fast metrics against the contour reference, and whether the values agree."""

    metric: str = ""
    fast_ms: float = 0.0
    reference_ms: float = 0.0
    agree: bool = False  # every compared value within the metric tests' tolerance
    max_difference: float = 0.0  # largest |fast − reference| over the compared values
    size: int = 512


@dataclass(frozen=True)
class SpeedReport:
    """One `measure_speed` run: its settings, the matmul peaks and the rows (plus concurrency and
    metric timings when measured). Written by `to_json`, read by `load_speed_json`."""

    device: str = ""
    device_type: str = "cpu"
    size: int = 256
    batch: int = 32
    base: int = 64
    steps: int = 0
    warmup: int = 0
    repeats: int = 1  # timed blocks per path; images/s are their median
    compile: bool = False
    loader_workers: int = 0  # DataLoader workers of the plain loop
    threads: int = 1  # torch's CPU threads in the measuring process
    peak_tflops: dict[str, float] = field(default_factory=dict)  # matmul peaks: {"bf16": …, "fp32": …}
    peak_dtype: str = "bf16"  # the peak the shares refer to: the precision the harness computes in
    rows: tuple[SpeedRow, ...] = ()
    concurrency: tuple[ConcurrencyRow, ...] = ()
    metrics: tuple[MetricSpeed, ...] = ()

    def peak_share(self, tflops: float) -> float:
        """Fraction of the measured `peak_dtype` matmul peak."""
        return tflops / self.peak_tflops[self.peak_dtype]

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """(title, table) for what was measured: training steps, concurrency, metrics."""
        tables = []
        if self.rows:
            peaks = ", ".join(f"{k} {v:.3g}" for k, v in self.peak_tflops.items())
            tables.append((f"training steps on {self.device}: {self.size}² px, batch {self.batch}, base {self.base}, "
                           f"median of {self.repeats} × {self.steps} timed steps; % of the {self.peak_dtype} matmul peak "
                           f"(measured TFLOP/s: {peaks})", self._training_frame()))
        if self.concurrency:
            one = next((r.images_per_second for r in self.concurrency if r.jobs == 1), np.nan)
            frame = pd.DataFrame({
                "jobs": [r.jobs for r in self.concurrency],
                "img/s all jobs": [r.images_per_second for r in self.concurrency],
                "img/s per job": [r.per_job_ips for r in self.concurrency],
                "vs 1 job": [r.images_per_second / one for r in self.concurrency],
            })
            tables.append(("concurrent tiny fine-tuning jobs on one device", frame))
        if self.metrics:
            frame = pd.DataFrame({
                "metric": [m.metric for m in self.metrics],
                "fast ms": [m.fast_ms for m in self.metrics],
                "reference ms": [m.reference_ms for m in self.metrics],
                "speed-up": [m.reference_ms / m.fast_ms for m in self.metrics],
                "agree": [m.agree for m in self.metrics],
                "max |fast − reference|": [m.max_difference for m in self.metrics],
            })
            tables.append((f"metrics per {self.metrics[0].size}² pair, one core: fast vs contour reference", frame))
        return tables

    def _training_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({
            "step": [r.step for r in self.rows],
            "GFLOP/img": [r.flops_per_image / 1e9 for r in self.rows],
            "harness img/s": [r.harness_ips for r in self.rows],
            "plain img/s": [r.plain_ips for r in self.rows],
            "speed-up": [r.ratio for r in self.rows],
            "harness TFLOP/s": [r.harness_tflops for r in self.rows],
            "harness % peak": [100 * self.peak_share(r.harness_tflops) for r in self.rows],
            "plain TFLOP/s": [r.plain_tflops for r in self.rows],
            "plain % peak": [100 * self.peak_share(r.plain_tflops) for r in self.rows],
        })
        if self.compile:
            frame["compile s"] = [r.compile_s for r in self.rows]
        return frame

    def lines(self) -> list[str]:
        """The tables as plain text."""
        return [line for title, frame in self.tables()
                for line in (title, *frame.to_string(index=False, float_format="{:.4g}".format).splitlines(), "")]

    def to_json(self, path: Path | str) -> None:
        try:
            Path(path).write_text(json.dumps(to_plain(self), indent=2) + "\n")
        except OSError as error:
            raise BenchmarkError(f"{path}: cannot write the speed report ({error.strerror})") from None


def load_speed_json(path: Path | str) -> SpeedReport:
    """A report written by `SpeedReport.to_json` (`angiobench speed --json`)."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: no such file; write one with `angiobench speed --json {path}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BenchmarkError(f"{path}: not a readable speed report JSON ({error})") from None
    if not isinstance(values, dict):
        raise BenchmarkError(f"{path}: not a speed report (expected a JSON object)")
    return update(SpeedReport(), values, str(path))


def images_per_second_for(
    report: SpeedReport, method: str | None, unet: UNetConfig | None = None, size: int | None = None
) -> float:
    """The harness's images/s for fine-tuning (method None) or for `method`'s pre-training.

    At another UNet width or image size than measured, scaled by FLOPs per image, i.e. by
    (measured base / base)² · (measured size / size)²: the constant-TFLOP/s assumption of
    benchmark.speed.cost, applied to a measured rate.
    """
    step = FINETUNE if method is None else method
    row = next((r for r in report.rows if r.step == step), None)
    if row is None:
        measured = ", ".join(r.step for r in report.rows) or "nothing"
        raise BenchmarkError(f"the speed report has no row for {step!r} (it measured {measured}); "
                             f"measure it with `angiobench speed --methods {step}`")
    base = report.base if unet is None else unet.base
    return row.harness_ips * (report.base / base) ** 2 * (report.size / (size or report.size)) ** 2


def estimate_cost_from_speed(
    jobs: list[Job], config: RunConfig, report: SpeedReport, extra_images: int = 0
) -> CostEstimate:
    """benchmark.cost.estimate_cost with each job's hours from the measured images/s of its step.

    Each step's jobs are costed at that step's own throughput (FLOPs per image × images/s), so
    hours = image-steps / images/s; the estimate's `tflops` is the grid's overall rate.
    """
    size = config.preprocess.size or 256
    parts = []
    for method in dict.fromkeys(job.method if job.kind == "pretrain" else None for job in jobs):
        group = [job for job in jobs if (job.method if job.kind == "pretrain" else None) == method]
        tflops = training_flops_per_image(method, config.unet, size) * images_per_second_for(report, method, config.unet, size) / 1e12
        parts.append(estimate_cost(group, config, tflops, extra_images).jobs)
    order = {job.key: i for i, job in enumerate(jobs)}
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["job_key", "tflop", "hours"])
    frame = frame.sort_values("job_key", key=lambda keys: keys.map(order)).reset_index(drop=True)
    hours = float(frame["hours"].sum())
    return CostEstimate(frame, float(frame["tflop"].sum()) / (hours * 3600) if hours else 0.0)

"""A few real steps, timed here, when no finished job says how fast this machine runs a grid.

For each amount a job's work is counted in (benchmark.speed.cost.probed_work) the probe times the
harness's own code on synthetic images at the job's sizes: each method's pre-training step (its
settings and recipe as the job has them), the fine-tuning step, and the metrics of scored images.
Each amount gets one untimed warm-up and up to `repeats` timed blocks; its rate is the range of
the blocks' seconds per unit. Steps take at most `max_batch` images, so a large batch costs a few
seconds, not minutes (per-image time is about constant once a batch is that large). The probe runs
on the torch threads one job of the run would get, and counts its CPU time against its wall time:
a probe that got less than a core was slowed by other processes (benchmark.speed.estimate.busy_warning).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from benchmark.evaluate.reference import vessel_like_pair
from benchmark.evaluate.rows import metric_rows
from benchmark.model.unet import UNet
from benchmark.run.plan.jobs import Job
from benchmark.speed.cost import FINETUNE_STEP, METRICS, pretrain_step
from benchmark.speed.estimate import Span
from benchmark.speed.measure import Timer, harness_finetune_timer, harness_pretrain_timer, image_pool, timed
from benchmark.train.device import DeviceOptions
from methods import registry


@dataclass(frozen=True)
class ProbeConfig:
    """How much the probe times: a warm-up and `repeats` timed blocks of one step per amount, at
    most `max_batch` images a step, and `metric_images` image pairs scored per block. Once the timed
    blocks add up to `budget_s`, every amount left gets one block: costly steps (the paper's UNet on
    a CPU, say) then cost each amount a warm-up and one step."""

    repeats: int = 3
    max_batch: int = 16
    metric_images: int = 4
    budget_s: float = 20.0


@dataclass(frozen=True)
class Block:
    """One timed block: units of work done (image-steps, scored images), wall and CPU seconds."""

    units: int
    wall_s: float
    cpu_s: float


def timed_block(timer: Timer) -> Block:
    """Run one block of `timer`, its wall time and this process's CPU time around it."""
    cpu = time.process_time()
    window = timer()
    return Block(window.images, window.end - window.start, time.process_time() - cpu)


@dataclass(frozen=True)
class ProbeResult:
    """Seconds per unit of each amount probed, and the probe's total wall and CPU seconds."""

    rates: dict[str, Span]
    wall_s: float
    cpu_s: float
    steps: int  # timed blocks, all amounts together

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second: about the threads used on an idle machine, less under load."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def _batch(recipe_batch: int, images: int, config: ProbeConfig) -> int:
    """Images per probed step: the job's batch (no more than it has images), at most `max_batch`,
    at least 2 (BatchNorm needs two)."""
    return max(2, min(recipe_batch, images or recipe_batch, config.max_batch))


def pretrain_timer(job: Job, options: DeviceOptions, config: ProbeConfig) -> Timer:
    """One pre-training step of the job's method, with its settings and recipe, warmed up."""
    spec = job.pretrain
    cls = registry()[job.method]
    images, masks = image_pool(_batch(spec.recipe.batch_size, len(spec.image_ids), config), job.preprocess.size or 256)
    torch.manual_seed(0)
    method = cls(UNet(job.unet), spec.settings)
    timer, _ = harness_pretrain_timer(method, images, 1, 1, options, spec.recipe, masks if cls.uses_labels else None)
    return timer


def finetune_timer(job: Job, options: DeviceOptions, config: ProbeConfig) -> Timer:
    """One fine-tuning step at the job's batch, warmed up."""
    spec = job.finetune
    images, masks = image_pool(_batch(spec.recipe.batch_size, len(spec.train_ids), config), job.preprocess.size or 256)
    torch.manual_seed(0)
    timer, _ = harness_finetune_timer(UNet(job.unet), images, masks, 1, 1, options)
    return timer


def metrics_timer(job: Job, config: ProbeConfig) -> Timer:
    """The metrics of `metric_images` vessel-like pairs at the job's image side (on the CPU, as in
    a job), after one untimed pair (numba loads its compiled kernels)."""
    pairs = [vessel_like_pair(job.preprocess.size or 256, seed) for seed in range(config.metric_images)]
    pred, gt = (np.stack(masks) for masks in zip(*pairs))
    ids = [str(i) for i in range(len(pairs))]
    metric_rows(pred[:1], gt[:1], ids[:1])
    return lambda: timed(lambda: metric_rows(pred, gt, ids), torch.device("cpu"), len(ids))


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch's CPU threads set to `threads` (0: left as they are) while the probe runs."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def probe_timers(amounts: dict[str, Job], options: DeviceOptions, config: ProbeConfig) -> dict[str, Callable[[], Timer]]:
    """A warmed-up timer's maker for each amount, from the job that stands for it."""
    makers: dict[str, Callable[[], Timer]] = {}
    for amount, job in amounts.items():
        if amount == METRICS:
            makers[amount] = lambda job=job: metrics_timer(job, config)
        elif amount == FINETUNE_STEP:
            makers[amount] = lambda job=job: finetune_timer(job, options, config)
        elif job.pretrain is not None and amount == pretrain_step(job.method):
            makers[amount] = lambda job=job: pretrain_timer(job, options, config)
        else:
            raise ValueError(f"no probe times {amount!r} with job {job.key}")
    return makers


def run_probe(amounts: dict[str, Job], options: DeviceOptions, threads: int = 0,
              config: ProbeConfig = ProbeConfig()) -> ProbeResult:
    """Seconds per unit of each amount (name → a job whose sizes it is timed at), over `repeats`
    blocks each, on `threads` torch threads."""
    rates: dict[str, Span] = {}
    wall = cpu = 0.0
    blocks = 0
    with torch_threads(threads):
        for amount, make in probe_timers(amounts, options, config).items():
            timer = make()
            timed_blocks = [timed_block(timer)]
            spent = wall + timed_blocks[0].wall_s
            while len(timed_blocks) < config.repeats and spent < config.budget_s:
                timed_blocks.append(timed_block(timer))
                spent += timed_blocks[-1].wall_s
            rates[amount] = Span.of(b.wall_s / b.units for b in timed_blocks)
            wall += sum(b.wall_s for b in timed_blocks)
            cpu += sum(b.cpu_s for b in timed_blocks)
            blocks += len(timed_blocks)
    return ProbeResult(rates, wall, cpu, blocks)

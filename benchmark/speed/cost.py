"""What a run will cost before it runs: the work of each job (image-steps, FLOPs, images scored),
and its time at a given throughput.

FLOPs per image of a training step come from benchmark.train.flops. The work measures here are what
`angiobench plan` multiplies measured seconds by (benchmark.speed.estimate): a finished job's seconds
per image-step of its kind, or a probe's seconds per step and per scored image.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmark.config.run_config import RunConfig
from benchmark.run.plan.jobs import Job
from benchmark.train.flops import training_flops_per_image
from benchmark.train.schedule import finetune_rounds, pretrain_schedule


def job_image_steps(job: Job, extra_images: int = 0) -> int:
    """Images passed through a training step by the job (validation forward passes count 1/3 each),
    from what the job itself says it trains."""
    if job.pretrain is not None:  # the unlabelled pool counts where the job pre-trains on it
        n = len(job.pretrain.image_ids) + (extra_images if job.pretrain.unlabelled else 0)
        return pretrain_schedule(n, job.pretrain.recipe).images_seen if n else 0
    if job.score is not None:  # one forward pass per image of the external set
        return job.score.test_set.images // 3
    spec = job.finetune
    recipe = spec.recipe
    rounds = finetune_rounds(recipe, len(spec.train_ids))
    steps = sum(samples for samples, _ in rounds) + sum(v for _, v in rounds) * len(spec.val_ids) / 3
    if recipe.cv_folds:
        grid = max(1, len(recipe.lr_grid)) * max(1, len(recipe.batch_grid))
        steps *= 1 + grid
    elif recipe.lr_grid:
        steps *= len(recipe.lr_grid)
    return int(steps)


#: The amounts a probe measures besides each method's pre-training step (benchmark.speed.probe).
FINETUNE_STEP, METRICS = "fine-tune step", "metrics"


def job_group(job: Job) -> str:
    """The kind of job whose finished times predict this one's: pre-training per method (each
    method's step costs its own), fine-tuning, scoring."""
    if job.kind == "pretrain":
        return f"pre-train {job.method}"
    return "fine-tune" if job.kind == "finetune" else "score"


def measured_work(job: Job, extra_images: int = 0) -> dict[str, float]:
    """What a finished job's wall time is divided by, and a job still to run multiplied by: its
    image-steps, in its group. Everything else a job does (loading, metrics, checkpoints) is taken
    to grow with them, as it does between jobs of one kind in one run."""
    return {job_group(job): float(job_image_steps(job, extra_images))}


def pretrain_step(method: str) -> str:
    """The probe's name for one image-step of `method`'s pre-training."""
    return f"{method} step"


def probed_work(job: Job, extra_images: int = 0) -> dict[str, float]:
    """The amounts a probe's rates multiply: image-steps of the job's own training step (a score job's
    forward passes count 1/3, as in job_image_steps), and the images whose metrics it computes."""
    steps = float(job_image_steps(job, extra_images))
    if job.pretrain is not None:
        return {pretrain_step(job.method): steps}
    scored = len(job.finetune.test_ids) if job.finetune is not None else job.score.test_set.images
    return {FINETUNE_STEP: steps, METRICS: float(scored)}


@dataclass(frozen=True)
class CostEstimate:
    jobs: pd.DataFrame  # one row per job: key, kind, method, ratio, seed, image_steps, tflop, hours
    tflops: float  # the throughput the hours assume

    @property
    def total_hours(self) -> float:
        return float(self.jobs["hours"].sum())


def estimate_cost(jobs: list[Job], config: RunConfig, tflops: float, extra_images: int = 0) -> CostEstimate:
    size = config.preprocess.size or 256
    flops = {None: training_flops_per_image(None, config.unet, size)}
    rows = []
    for job in jobs:
        method = job.method if job.kind == "pretrain" else None
        if method not in flops:
            flops[method] = training_flops_per_image(method, config.unet, size)
        steps = job_image_steps(job, extra_images)
        total = steps * flops[method] / 1e12
        rows.append({"job_key": job.key, "kind": job.kind, "method": job.method, "ratio": job.ratio,
                     "seed": job.seed, "image_steps": steps, "tflop": total, "hours": total / tflops / 3600})
    return CostEstimate(pd.DataFrame(rows), tflops)

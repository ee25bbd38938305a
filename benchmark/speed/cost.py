"""What a run will cost before it runs: image-steps and FLOPs per job, time at a given throughput.

FLOPs per image of a training step come from benchmark.train.flops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch

from benchmark.config import RunConfig
from benchmark.run.jobs import Job
from benchmark.losses import dice_ce_loss
from benchmark.nets import UNet, UNetConfig
from benchmark.train.flops import training_flops_per_image
from benchmark.train.schedule import finetune_rounds, pretrain_schedule

def measure_tflops(config: UNetConfig, size: int, device: str, batch: int = 2, steps: int = 2) -> float:
    """Achieved TFLOP/s of fine-tuning steps of this UNet on `device` (a quick, rough measurement)."""
    unet = UNet(config).to(device)
    optimizer = torch.optim.Adam(unet.parameters())
    images = torch.randn(batch, 1, size, size, device=device)
    target = torch.zeros(batch, size, size, dtype=torch.long, device=device)
    use_bf16 = torch.device(device).type == "cuda"

    def step() -> None:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = dice_ce_loss(unet(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    if use_bf16:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if use_bf16:
        torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start) / steps
    return training_flops_per_image(None, config, size) * batch / elapsed / 1e12


def job_image_steps(job: Job, extra_images: int = 0) -> int:
    """Images passed through a training step by the job (validation forward passes count 1/3 each),
    from what the job itself says it trains."""
    if job.pretrain is not None:
        n = len(job.pretrain.image_ids) + extra_images
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

"""The pre-training job: the method's pretext task on its pre-training images (and the unlabelled
pool), then its loss curve, previews and the UNet weights it transfers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from benchmark.model.unet import UNet, count_parameters
from benchmark.run.handlers.context import PREVIEW_COUNT, JobContext, JobResult
from benchmark.run.folder.job_status import PretrainOutcome
from benchmark.run.folder.previews import PretextPreview
from benchmark.train.flops import training_flops_per_image
from benchmark.train.health import pretext_health
from benchmark.train.loops import image_tensor, pretrain
from benchmark.train.schedule import pretrain_schedule
from methods import registry


def run_pretrain(context: JobContext) -> JobResult:
    job, data, store, options = context.job, context.data, context.store, context.options
    spec = job.pretrain
    cls = registry()[job.method]
    torch.manual_seed(job.job_seed)
    method = cls(UNet(job.unet), spec.settings)
    index = data.index(spec.image_ids)
    masks = None
    if cls.uses_labels:  # the positive control: this job's own pre-training ids, with their labels
        images, masks = data.images[index], image_tensor(data.masks[index])
    else:
        images = np.concatenate([data.images[index], data.extra])
    context.log(f"pre-training {job.method} on {len(images)} images, recipe {spec.recipe}")
    curve = pretrain(method, image_tensor(images), spec.recipe, options, job.job_seed, context.progress, masks)
    store.write_loss_curve(job.key, pd.DataFrame(curve).assign(job_key=job.key, method=job.method, seed=job.seed))
    fixed = image_tensor(data.images[data.index(sorted(spec.image_ids)[:PREVIEW_COUNT])]).to(options.torch_device)
    torch.manual_seed(0)
    method.eval()  # preview must not move BN statistics of the weights being transferred
    with options.autocast():
        preview = {k: v.float().cpu().numpy() for k, v in method.preview(fixed).items()}
    store.write_previews(job.key, PretextPreview.from_method(fixed.cpu().numpy(), preview))
    store.write_checkpoint(job.key, method.pretrained_unet().state_dict())
    context.log(f"final loss {curve[-1]['loss']:.5f}" if curve else "no steps run")
    schedule = pretrain_schedule(len(images), spec.recipe)
    flops = training_flops_per_image(job.method, job.unet, images.shape[-1]) * schedule.images_seen
    health = pretext_health(curve)
    if health.learned is False:
        context.log(f"pretext did not learn: final loss {health.loss_end:.4f}, chance level {health.chance_loss:.4f}")
    return JobResult(PretrainOutcome(
        params_pretrain=count_parameters(method), final_loss=health.loss_end,
        steps=schedule.total_steps, images_seen=schedule.images_seen, lr=spec.recipe.lr, flops=flops,
        loss_start=health.loss_start, chance_loss=health.chance_loss, pretext_learned=health.learned))

"""The fine-tune job: the UNet, from its pre-training job's transferred weights, from external
weights (`--pretrained`) or from scratch, fine-tuned and selected on the fine-tuning set
(benchmark.train.selection), then scored on the run's own test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from benchmark.data.external import IN_DOMAIN
from benchmark.evaluate.rows import metric_rows
from benchmark.model.unet import UNet, count_parameters
from benchmark.run.plan.imported_weights import load_imported
from benchmark.run.handlers.context import PREVIEW_COUNT, JobContext, JobResult, Scores, row_source
from benchmark.run.folder.job_status import FinetuneOutcome
from benchmark.run.folder.previews import PredictionPreview
from benchmark.train.health import relative_shift
from benchmark.train.loops import TensorSet, freeze_encoder, predict
from benchmark.train.selection import Finetuning, train_selected
from methods import registry


def run_finetune(context: JobContext) -> JobResult:
    job, data, store, options = context.job, context.data, context.store, context.options
    spec = job.finetune
    torch.manual_seed(job.job_seed)
    unet = UNet(job.unet)
    if spec.pretrained:
        registry()[job.method].load_transferred(unet, store.read_checkpoint(spec.pretrained))
        context.log(f"starting from {spec.pretrained} ({registry()[job.method].transfers})")
    elif spec.imported is not None:
        load_imported(unet, spec.imported)
        context.log(f"starting from imported weights {spec.imported.file} (sha256 {spec.imported.sha256}, "
                    f"{spec.imported.transfers})")

    transferred = {name: p.detach().clone() for name, p in unet.named_parameters() if name.startswith("encoder.")} \
        if spec.pretrained or spec.imported is not None else None
    if spec.frozen_encoder:
        freeze_encoder(unet)
        context.log("frozen-encoder probe: the encoder keeps its start, the decoder and head train")

    def subset(ids: tuple[str, ...]) -> TensorSet:
        index = data.index(ids)
        return TensorSet.from_numpy(data.images[index], data.masks[index])

    train, val = subset(spec.train_ids), subset(spec.val_ids)
    context.log(f"fine-tuning on {len(train)} images, selecting on {len(val)}")
    result, recipe = train_selected(unet, Finetuning(train, val, spec.recipe, options, job.job_seed, context.progress),
                                    context.log)
    unet.load_state_dict(result.state)
    context.log(f"best validation Dice {result.best_val_dice:.4f} at epoch {result.best_epoch}")
    test_ids = list(spec.test_ids)
    test = subset(spec.test_ids)
    pred = predict(unet, test.images.to(options.torch_device), options).cpu().numpy()
    params = count_parameters(unet)
    del unet
    context.free_device()  # the device is free for the next job while metrics run on the CPU
    store.write_checkpoint(job.key, result.state)
    store.write_history(job.key, pd.DataFrame(result.history))
    shown = [test_ids.index(i) for i in sorted(test_ids)[:PREVIEW_COUNT]]
    store.write_previews(job.key, PredictionPreview(ids=np.array([test_ids[i] for i in shown]),
                                                    image=test.images.numpy()[shown, 0],
                                                    mask=test.masks.numpy()[shown], pred=pred[shown]))
    scores = metric_rows(pred, test.masks.numpy(), test_ids, processes=context.metric_processes)
    outcome = FinetuneOutcome(params_finetune=params, best_epoch=result.best_epoch,
                              best_val_dice=result.best_val_dice, lr=result.lr, steps=result.steps,
                              batch_size=recipe.batch_size,
                              encoder_shift=relative_shift(transferred, result.state, list(transferred))
                              if transferred else None)
    return JobResult(outcome, Scores(IN_DOMAIN, scores, row_source(job, job, params)))

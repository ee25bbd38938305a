"""The score job: a fine-tune job's selected weights predict one external test set, and every image
is scored. Nothing is trained or chosen here."""

from __future__ import annotations

from benchmark.evaluate.rows import metric_rows
from benchmark.model.unet import UNet, count_parameters
from benchmark.run.handlers.context import JobContext, JobResult, Scores, row_source
from benchmark.run.folder.job_status import ScoreOutcome
from benchmark.train.loops import image_tensor, predict


def run_score(context: JobContext) -> JobResult:
    job, store, options = context.job, context.store, context.options
    spec = job.score
    external = context.data.external_set(spec.test_set)
    unet = UNet(job.unet)
    unet.load_state_dict(store.read_checkpoint(spec.finetune))
    unet.to(options.torch_device, memory_format=options.memory_format())
    context.log(f"scoring {spec.finetune} on {spec.test_set.name} ({len(external.ids)} images)")
    pred = predict(unet, image_tensor(external.images).to(options.torch_device), options).cpu().numpy()
    params = count_parameters(unet)
    del unet
    context.free_device()
    scores = metric_rows(pred, external.masks, list(external.ids), processes=context.metric_processes)
    model = store.read_job(spec.finetune)  # the fine-tune job the model is from
    return JobResult(ScoreOutcome(params_finetune=params), Scores(external.name, scores, row_source(job, model, params)))

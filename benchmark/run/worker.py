"""Runs one job of a run folder, in whatever process it is given: a local subprocess, a SLURM task,
a persistent CPU worker, or the caller's own process.

The job's `job.json` says everything it trains from; the only other input is the prepared data,
checked against the job's data fingerprint. The run's config.toml is never read here, so a config
edited after planning cannot change what a planned job trains. Everything the job makes is written
through the store, atomically, `status.json` last.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from benchmark.data.external import IN_DOMAIN
from benchmark.errors import BenchmarkError
from benchmark.evaluate.rows import metric_rows
from benchmark.nets import UNet, count_parameters
from benchmark.progress import Progress
from benchmark.run import rundata
from benchmark.run.jobs import Job
from benchmark.run.provenance import git_commit, versions
from benchmark.run.store import RunStore
from benchmark.train.device import DeviceOptions
from benchmark.train.flops import training_flops_per_image
from benchmark.train.hardware import device_name
from benchmark.train.loops import TensorSet, cross_validate, finetune, predict, pretrain, pretrain_schedule, select_lr
from methods import registry

PREVIEW_COUNT = 4


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]


def _run_pretrain(job: Job, data: rundata.RunData, store: RunStore, options: DeviceOptions,
                  log: Callable[[str], None], progress: Progress | None) -> dict:
    spec = job.pretrain
    cls = registry()[job.method]
    torch.manual_seed(job.job_seed)
    method = cls(UNet(job.unet), spec.settings)
    index = data.index(spec.image_ids)
    masks = None
    if cls.uses_labels:  # the positive control: this job's own pre-training ids, with their labels
        images, masks = data.images[index], _tensor(data.masks[index])
    else:
        images = np.concatenate([data.images[index], data.extra])
    log(f"pre-training {job.method} on {len(images)} images, recipe {spec.recipe}")
    curve = pretrain(method, _tensor(images), spec.recipe, options, job.job_seed, progress, masks)
    store.write_loss_curve(job.key, pd.DataFrame(curve).assign(job_key=job.key, method=job.method, seed=job.seed))
    fixed = _tensor(data.images[data.index(sorted(spec.image_ids)[:PREVIEW_COUNT])]).to(options.torch_device)
    torch.manual_seed(0)
    method.eval()  # preview must not move BN statistics of the weights being transferred
    with options.autocast():
        preview = {k: v.float().cpu().numpy() for k, v in method.preview(fixed).items()}
    store.write_previews(job.key, target=fixed.cpu().numpy(), **preview)
    store.write_checkpoint(job.key, method.pretrained_unet().state_dict())
    log(f"final loss {curve[-1]['loss']:.5f}" if curve else "no steps run")
    schedule = pretrain_schedule(len(images), spec.recipe)
    flops = training_flops_per_image(job.method, job.unet, images.shape[-1]) * schedule.images_seen
    return {"params_pretrain": count_parameters(method), "final_loss": curve[-1]["loss"] if curve else None,
            "steps": schedule.total_steps, "images_seen": schedule.images_seen, "lr": spec.recipe.lr,
            "flops": flops}


def _run_finetune(job: Job, data: rundata.RunData, store: RunStore, options: DeviceOptions,
                  log: Callable[[str], None], progress: Progress | None,
                  release: Callable[[], None] | None = None, metric_processes: int = 1) -> dict:
    spec = job.finetune
    torch.manual_seed(job.job_seed)
    unet = UNet(job.unet)
    if spec.pretrained:
        registry()[job.method].load_transferred(unet, store.read_checkpoint(spec.pretrained))
        log(f"starting from {spec.pretrained} ({registry()[job.method].transfers})")

    def subset(ids: tuple[str, ...]) -> TensorSet:
        index = data.index(ids)
        return TensorSet.from_numpy(data.images[index], data.masks[index])

    train, val = subset(spec.train_ids), subset(spec.val_ids)
    recipe = spec.recipe
    log(f"fine-tuning on {len(train)} images, selecting on {len(val)}")
    if recipe.cv_folds:
        both = TensorSet(torch.cat([train.images, val.images]), torch.cat([train.masks, val.masks]))
        recipe, grid = cross_validate(unet, both, recipe, options, job.job_seed)
        log(f"cross-validation chose lr {recipe.lr:g}, batch {recipe.batch_size}: {grid}")
        result = finetune(unet, train, val, recipe, options, job.job_seed, progress)
    elif recipe.lr_grid:
        result, grid = select_lr(unet, train, val, recipe, options, job.job_seed, progress)
        log(f"validation chose lr {result.lr:g}: {grid}")
    else:
        result = finetune(unet, train, val, recipe, options, job.job_seed, progress)
    unet.load_state_dict(result.state)
    log(f"best validation Dice {result.best_val_dice:.4f} at epoch {result.best_epoch}")
    test_ids = list(spec.test_ids)
    test = subset(spec.test_ids)
    pred = predict(unet, test.images.to(options.torch_device), options).cpu().numpy()
    params = count_parameters(unet)
    del unet
    if release:
        release()  # the device is free for the next job while metrics run on the CPU
    store.write_checkpoint(job.key, result.state)
    store.write_history(job.key, pd.DataFrame(result.history))
    shown = [test_ids.index(i) for i in sorted(test_ids)[:PREVIEW_COUNT]]
    store.write_previews(job.key, ids=np.array([test_ids[i] for i in shown]),
                         image=test.images.numpy()[shown, 0], mask=test.masks.numpy()[shown], pred=pred[shown])
    rows = _scored_rows(IN_DOMAIN, pred, test.masks.numpy(), test_ids, metric_processes)
    return {"rows": rows, "params_finetune": params, "best_epoch": result.best_epoch,
            "best_val_dice": result.best_val_dice, "lr": result.lr, "steps": result.steps,
            "batch_size": recipe.batch_size}


def _scored_rows(test_set: str, pred: np.ndarray, truth: np.ndarray, ids: list[str], processes: int) -> list[dict]:
    return [{**row, "test_set": test_set, "n_test": len(ids)}
            for row in metric_rows(pred, truth, ids, processes=processes)]


def _run_score(job: Job, data: rundata.RunData, store: RunStore, options: DeviceOptions,
               log: Callable[[str], None], release: Callable[[], None] | None = None,
               metric_processes: int = 1) -> dict:
    """Predict an external test set with a fine-tune job's selected weights, and score every image."""
    spec = job.score
    external = data.external_set(spec.test_set)
    unet = UNet(job.unet)
    unet.load_state_dict(store.read_checkpoint(spec.finetune))
    unet.to(options.torch_device, memory_format=options.memory_format())
    log(f"scoring {spec.finetune} on {spec.test_set.name} ({len(external.ids)} images)")
    pred = predict(unet, _tensor(external.images).to(options.torch_device), options).cpu().numpy()
    params = count_parameters(unet)
    del unet
    if release:
        release()
    rows = _scored_rows(external.name, pred, external.masks, list(external.ids), metric_processes)
    return {"rows": rows, "params_finetune": params}


def check_data(job: Job, data: rundata.RunData) -> None:
    """Refuse prepared data other than the data the job was planned on (its key hashes the fingerprint)."""
    if data.fingerprint != job.data:
        raise BenchmarkError(f"job {job.key} was planned on data {job.data}, but the run folder's prepared "
                             f"data is {data.fingerprint}; plan the run again")


def run_job(run_dir: Path | str, key: str, options: DeviceOptions, progress: Progress | None = None,
            release: Callable[[], None] | None = None, metric_processes: int = 1,
            load_data: Callable[[Path], rundata.RunData] = rundata.load) -> None:
    """Run job `key` of the run folder; records done or failed (with the error) in its status.json.

    `release` is called once the job no longer needs the device (before CPU-side metrics);
    `load_data` reads the prepared data (a persistent worker passes one that reads it once).
    """
    store = RunStore(run_dir)
    job = store.read_job(key)
    started = time.time()
    device = device_name(options.torch_device)
    store.write_status(key, "running", started=started, pid=os.getpid(), device=device)

    def log(message: str) -> None:
        store.log(key, message)

    try:
        data = load_data(store.prepared_path)
        check_data(job, data)
        log(f"{job.kind} {job.method} ratio {job.ratio} seed {job.seed} on {device}, {options.precision}")
        if job.kind == "pretrain":
            outcome = _run_pretrain(job, data, store, options, log, progress)
        elif job.kind == "score":
            outcome = _run_score(job, data, store, options, log, release, metric_processes)
        else:
            outcome = _run_finetune(job, data, store, options, log, progress, release, metric_processes)
        wall = time.time() - started
        provenance = {"git_commit": git_commit(), "versions": versions(), "device": device,
                      "precision": options.precision, "compiled": options.compile, "wall_time_s": wall}
        rows = outcome.pop("rows", None)
        if rows is not None:
            model = store.read_job(job.score.finetune) if job.score else job  # the fine-tune job the model is from
            frame = pd.DataFrame(rows).assign(
                job_key=key, finetune_job=model.key, method=job.method, protocol=job.protocol, pt_ratio=job.pt_ratio,
                ft_ratio=job.ft_ratio, ratio=job.ratio, seed=job.seed, params_finetune=outcome["params_finetune"],
                pretrained_from=model.finetune.pretrained or "", n_pretrain=model.finetune.pretrain_images,
                n_finetune_train=len(model.finetune.train_ids), n_finetune_val=len(model.finetune.val_ids),
                **provenance,
            )
            store.write_rows(key, frame)
        store.write_status(key, "done", **provenance, **outcome)
        log(f"done in {wall:.1f} s")
    except BaseException as error:
        log("".join(traceback.format_exception(error)))
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        store.write_status(key, "failed", error=reason, device=device, wall_time_s=time.time() - started)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run angiobench jobs of a run folder (used by the local queue).")
    parser.add_argument("run_dir")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="run this one job, then exit")
    which.add_argument("--serve", action="store_true",
                       help="run the job keys read from stdin, one a line, until it closes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--metric-processes", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # every step has the same shapes

    def report(done: int, total: int, message: str) -> None:
        print(json.dumps({"done": done, "total": total, "message": message}), flush=True)

    def release() -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print(json.dumps({"release": True}), flush=True)

    bf16 = None if args.precision == "auto" else args.precision == "bf16"
    options = DeviceOptions(device=args.device, compile=args.compile, bf16=bf16)
    if not args.serve:
        try:
            run_job(args.run_dir, args.key, options, report, release, args.metric_processes)
        except BaseException:
            return 1
        return 0
    load_once = functools.lru_cache(maxsize=1)(rundata.load)  # every job of this worker reads the same data
    for line in sys.stdin:
        key = line.strip()
        if not key:
            continue
        try:
            run_job(args.run_dir, key, options, report, release, args.metric_processes, load_once)
            code = 0
        except Exception:  # recorded in the job's status.json; the worker takes the next job
            code = 1
        print(json.dumps({"finished": key, "code": code}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

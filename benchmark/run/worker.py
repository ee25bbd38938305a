"""Runs one job of a run folder, in whatever process it is given: a local subprocess, a SLURM task.

Everything the job needs is read from the run folder (config, splits, prepared data, job.json), and
everything it makes is written there atomically, `status.json` last.
"""

from __future__ import annotations

import argparse
import io
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

from benchmark.run import rundata
from benchmark.config import RunConfig, load_config
from benchmark.evaluate.rows import metric_rows
from benchmark.data.splits import Splits
from benchmark.nets import UNet, count_parameters
from benchmark.train.hardware import device_name
from benchmark.run.provenance import git_commit, versions
from benchmark.files import atomic_write_bytes, atomic_write_parquet
from benchmark.run.store import RunStore
from benchmark.progress import Progress
from benchmark.train.device import DeviceOptions
from benchmark.train.loops import TensorSet, cross_validate, finetune, predict, pretrain
from methods import registry

PREVIEW_COUNT = 4


def _save_torch(path: Path, payload: object) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


class JobLog:
    """Appends timestamped lines to the job's log.txt (a log is never a completion marker)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        with open(self.path, "a") as handle:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]


def _run_pretrain(job: dict, config: RunConfig, data: rundata.RunData, splits: Splits, store: RunStore,
                  options: DeviceOptions, log: JobLog, progress: Progress | None) -> dict:
    cls = registry()[job["method"]]
    part = splits.ratio(job["ratio"])
    torch.manual_seed(job["job_seed"])
    method = cls(UNet(config.unet), config.method.get(job["method"]))
    images = np.concatenate([data.images[data.index(part.pretrain)], data.extra])
    log(f"pre-training {job['method']} on {len(images)} images, recipe {config.pretrain[job['method']]}")
    curve = pretrain(method, _tensor(images), config.pretrain[job["method"]], options, job["job_seed"], progress)
    folder = store.job_dir(job["key"])
    frame = pd.DataFrame(curve).assign(job_key=job["key"], method=job["method"], seed=job["seed"])
    atomic_write_parquet(folder / "loss_curve.parquet", frame)
    fixed = _tensor(data.images[data.index(sorted(part.pretrain)[:PREVIEW_COUNT])]).to(options.torch_device)
    torch.manual_seed(0)
    method.eval()  # preview must not move BN statistics of the weights being transferred
    with options.autocast():
        preview = {k: v.float().cpu().numpy() for k, v in method.preview(fixed).items()}
    _save_npz(folder / "previews.npz", target=fixed.cpu().numpy(), **preview)
    _save_torch(folder / "checkpoint.pt", method.pretrained_unet().state_dict())
    log(f"final loss {curve[-1]['loss']:.5f}" if curve else "no steps run")
    return {"params_pretrain": count_parameters(method), "final_loss": curve[-1]["loss"] if curve else None}


def _run_finetune(job: dict, config: RunConfig, data: rundata.RunData, splits: Splits, store: RunStore,
                  options: DeviceOptions, log: JobLog, progress: Progress | None,
                  release: Callable[[], None] | None = None, metric_processes: int = 1) -> dict:
    spec = job["spec"]
    torch.manual_seed(job["job_seed"])
    unet = UNet(config.unet)
    if spec.get("pretrained"):
        state = torch.load(store.job_dir(spec.get("pretrained")) / "checkpoint.pt", map_location="cpu")
        unet.load_state_dict(state, strict=True)
        log(f"starting from {spec['pretrained']}")

    def subset(ids: list[str]) -> TensorSet:
        index = data.index(ids)
        return TensorSet.from_numpy(data.images[index], data.masks[index])

    train, val = subset(spec["train_ids"]), subset(spec["val_ids"])
    recipe = config.finetune
    if recipe.cv_folds:
        both = TensorSet(torch.cat([train.images, val.images]), torch.cat([train.masks, val.masks]))
        recipe, grid = cross_validate(unet, both, recipe, options, job["job_seed"])
        log(f"cross-validation chose lr {recipe.lr:g}, batch {recipe.batch_size}: {grid}")
    log(f"fine-tuning on {len(train)} images, selecting on {len(val)}")
    result = finetune(unet, train, val, recipe, options, job["job_seed"], progress)
    unet.load_state_dict(result.state)
    log(f"best validation Dice {result.best_val_dice:.4f} at epoch {result.best_epoch}")
    test_ids = spec["test_ids"]
    test = subset(test_ids)
    pred = predict(unet, test.images.to(options.torch_device), options).cpu().numpy()
    params = count_parameters(unet)
    del unet
    if release:
        release()  # the device is free for the next job while metrics run on the CPU
    folder = store.job_dir(job["key"])
    _save_torch(folder / "checkpoint.pt", result.state)
    atomic_write_parquet(folder / "history.parquet", pd.DataFrame(result.history))
    shown = [test_ids.index(i) for i in sorted(test_ids)[:PREVIEW_COUNT]]
    _save_npz(folder / "previews.npz", ids=np.array([test_ids[i] for i in shown]),
              image=test.images.numpy()[shown, 0], mask=test.masks.numpy()[shown], pred=pred[shown])
    rows = metric_rows(pred, test.masks.numpy(), test_ids, processes=metric_processes)
    return {"rows": rows, "params_finetune": params, "best_epoch": result.best_epoch,
            "best_val_dice": result.best_val_dice, "lr": recipe.lr, "batch_size": recipe.batch_size}


def run_job(run_dir: Path | str, key: str, options: DeviceOptions, progress: Progress | None = None,
            release: Callable[[], None] | None = None, metric_processes: int = 1) -> None:
    """Run job `key` of the run folder; records done or failed (with the error) in its status.json.

    `release` is called once the job no longer needs the device (before CPU-side metrics).
    """
    store = RunStore(run_dir)
    job = store.read_job(key)
    folder = store.job_dir(key)
    log = JobLog(folder / "log.txt")
    started = time.time()
    device = device_name(options.torch_device)
    store.write_status(key, "running", started=started, pid=os.getpid(), device=device)
    try:
        config = load_config(store.config_path)
        data, splits = rundata.load(store.prepared_path), Splits.load(store.splits_path)
        log(f"{job['kind']} {job['method']} ratio {job['ratio']} seed {job['seed']} on {device}, {options.precision}")
        if job["kind"] == "pretrain":
            outcome = _run_pretrain(job, config, data, splits, store, options, log, progress)
        else:
            outcome = _run_finetune(job, config, data, splits, store, options, log, progress,
                                    release, metric_processes)
        wall = time.time() - started
        provenance = {"git_commit": git_commit(), "versions": versions(), "device": device,
                      "precision": options.precision, "compiled": options.compile, "wall_time_s": wall}
        rows = outcome.pop("rows", None)
        if rows is not None:
            frame = pd.DataFrame(rows).assign(
                job_key=key, method=job["method"], pt_ratio=job["pt_ratio"], ft_ratio=job["ft_ratio"],
                ratio=job["ratio"], seed=job["seed"], params_finetune=outcome["params_finetune"],
                pretrained_from=job["spec"].get("pretrained") or "", **provenance,
            )
            atomic_write_parquet(folder / "rows.parquet", frame)
        store.write_status(key, "done", **provenance, **outcome)
        log(f"done in {wall:.1f} s")
    except BaseException as error:
        detail = "".join(traceback.format_exception(error))
        log(detail)
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        store.write_status(key, "failed", error=reason, device=device, wall_time_s=time.time() - started)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one angiobench job (used by the local queue).")
    parser.add_argument("run_dir")
    parser.add_argument("key")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--metric-processes", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step")
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

    try:
        run_job(args.run_dir, args.key, DeviceOptions(device=args.device, compile=args.compile), report, release,
                args.metric_processes)
    except BaseException:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from benchmark.core.errors import BenchmarkError
from benchmark.config.profiles import PRECISIONS
from benchmark.core.progress import Progress
from benchmark.run.folder import rundata
from benchmark.run.handlers import HANDLERS, JobContext
from benchmark.run.folder.job_status import JobStatus, Provenance
from benchmark.run.plan.jobs import Job
from benchmark.run.execute.messages import FinishedMessage, ProgressMessage, ReleaseMessage, encode
from benchmark.run.folder.provenance import git_commit, versions
from benchmark.run.folder.row_schema import RowProvenance, result_frame
from benchmark.run.folder.store import RunStore
from benchmark.train.device import DeviceOptions
from benchmark.train.hardware import device_name


def check_data(job: Job, data: rundata.RunData) -> None:
    """Refuse prepared data other than the data the job was planned on (its key hashes the fingerprint)."""
    if data.fingerprint != job.data:
        raise BenchmarkError(f"job {job.key} was planned on data {job.data}, but the run folder's prepared "
                             f"data is {data.fingerprint}; plan the run again")


def run_job(run_dir: Path | str, key: str, options: DeviceOptions, progress: Progress | None = None,
            release: Callable[[], None] | None = None, metric_processes: int = 1,
            load_data: Callable[[Path], rundata.RunData] = rundata.load) -> None:
    """Run job `key` of the run folder with its kind's handler (benchmark.run.handlers); records done
    (with the outcome) or failed (with the error) in its status.json, and the rows of a job that scores.

    `release` is called once the job no longer needs the device (before CPU-side metrics);
    `load_data` reads the prepared data (a persistent worker passes one that reads it once).
    """
    store = RunStore(run_dir)
    job = store.read_job(key)
    started = time.time()
    device = device_name(options.torch_device)
    store.write_status(key, JobStatus("running", started=started, pid=os.getpid(), device=device))

    def log(message: str) -> None:
        store.log(key, message)

    try:
        data = load_data(store.prepared_path)
        check_data(job, data)
        log(f"{job.kind} {job.method} ratio {job.ratio} seed {job.seed} on {device}, {options.precision}")
        context = JobContext(job, data, store, options, log, progress, release, metric_processes)
        result = HANDLERS[job.kind](context)
        wall = time.time() - started
        provenance = Provenance(git_commit(), versions(), options.precision, options.compile)
        if result.scores is not None:
            scores = result.scores
            made = RowProvenance(provenance.git_commit, provenance.versions, device, provenance.precision,
                                 provenance.compiled, wall)
            store.write_rows(key, result_frame(scores.per_image, scores.test_set, scores.source, made))
        store.write_status(key, JobStatus("done", device=device, wall_time_s=wall, provenance=provenance,
                                          outcome=result.outcome))
        log(f"done in {wall:.1f} s")
    except BaseException as error:
        log("".join(traceback.format_exception(error)))
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        store.write_status(key, JobStatus("failed", error=reason, device=device, wall_time_s=time.time() - started))
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
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # every step has the same shapes

    def report(done: int, total: int, message: str) -> None:
        print(encode(ProgressMessage(done, total, message)), flush=True)

    def release() -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print(encode(ReleaseMessage()), flush=True)

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
        print(encode(FinishedMessage(key, code)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark as one library call: prepare the run folder, build the job graph, run the queue.

`angiobench run`, `plan` and `status` are thin wrappers over the functions here, so a notebook
can do everything the CLI does. A re-run with nothing to do never gets here: the CLI answers it from
the run folder (benchmark.run.folder.store.finished_run) without importing this module's training stack.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.run.folder import rundata
from benchmark.config.run_config import RunConfig
from benchmark.core.errors import BenchmarkError
from benchmark.data.external import ExternalTestRef
from benchmark.data.splits import Splits
from benchmark.run.plan.imported_weights import resolve_all
from benchmark.run.plan.jobs import Job, build_jobs
from benchmark.run.folder.lock import run_lock
from benchmark.run.folder.looks import imported_look, looks_of, write_looks
from benchmark.run.execute.executors import Event, EventSink, check_executor
from benchmark.run.execute.job_queue import QueueSummary, run_queue
from benchmark.run.execute.tracking import Publisher, TrackingConfig, make_sinks
from benchmark.config.options import ExecutorConfig
from benchmark.run.folder.store import RunStore, load_results
from benchmark.core.progress import Progress
from methods import registry


@dataclass
class RunOutcome:
    store: RunStore
    jobs: list[Job]
    summary: QueueSummary
    wall_time_s: float


def open_run(config: RunConfig, run_dir: Path, force: bool = False,
             progress: Progress | None = None, request: str = "") -> tuple[RunStore, list[Job]]:
    """Claim the folder for this config, prepare data and splits (once), and build the job graph;
    with the digest of the `request` it came from (benchmark.config.request), record which jobs it planned.

    Imported weights are checked first (a file that does not fit the UNet makes no folder); jobs of
    an imported contender that the plan no longer has (its file changed) are retired from the folder."""
    weights = resolve_all(config.pretrained, config.unet)
    store = RunStore(run_dir)
    data, splits = rundata.prepare_run(config, store, force, progress)
    # what reports name and colour each contender by
    write_looks(run_dir, {**looks_of(registry()), **{w.name: imported_look(w.name) for w in weights}})
    external = tuple(ExternalTestRef(t.name, t.fingerprint, len(t.ids)) for t in data.external)
    jobs = build_jobs(config, splits, data.fingerprint, len(data.extra), external, weights)
    retire_replaced(store, jobs, {w.name for w in weights})
    if request:
        store.record_plan(request, [job.key for job in jobs])
    return store, jobs


def retire_replaced(store: RunStore, jobs: list[Job], names: set[str]) -> list[str]:
    """Move the folder's jobs of the imported contenders `names` that `jobs` no longer has (their
    weights changed, so their keys did) out of the jobs folder, so no table mixes the results of two
    files under one name, and bring back retired ones the plan has again (the file was changed
    back); the keys retired."""
    planned = {job.key for job in jobs}
    stale = [key for key in store.job_keys() if key not in planned and store.read_identity(key).method in names]
    for key in stale:
        store.retire_job(key)
    for job in jobs:
        if job.method in names:
            store.restore_job(job.key)
    return stale


def run_benchmark(
    config: RunConfig,
    run_dir: Path,
    executor: ExecutorConfig = ExecutorConfig(),
    force: bool = False,
    retry_failed: bool = False,
    on_event: EventSink | None = None,
    progress: Progress | None = None,
    tracking: TrackingConfig = TrackingConfig(),
    request: str = "",
    on_open: Callable[[RunStore, list[Job]], None] | None = None,
) -> RunOutcome:
    """Run every job of the grid not yet done in `run_dir`; finished jobs are kept and skipped.
    `request`: the digest of what the run was asked for, recorded with its plan (see `open_run`);
    `on_open` is told the store and the jobs once the plan is made, before any job runs.

    Holds the folder's lock throughout (benchmark.run.folder.lock): a second run on it is refused."""
    started = time.time()
    check_executor(executor)
    tracking.check()
    with run_lock(run_dir), removed_if_refused(run_dir):
        store, jobs = open_run(config, run_dir, force, progress, request)
        if on_open is not None:
            on_open(store, jobs)
        return execute(store, jobs, executor, retry_failed, on_event, started, tracking)


@contextmanager
def removed_if_refused(run_dir: Path) -> Iterator[None]:
    """Remove the run folder the block made when the block fails with a user error before any job
    started (a scheduler that turns the submission down): a refused run leaves nothing behind."""
    existed = Path(run_dir).exists()
    try:
        yield
    except BenchmarkError:
        store = RunStore(run_dir)
        if not existed and store.root.exists() and all(store.state(k) == "pending" for k in store.job_keys()):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def execute(store: RunStore, jobs: list[Job], executor: ExecutorConfig = ExecutorConfig(),
            retry_failed: bool = False, on_event: EventSink | None = None,
            started: float | None = None, tracking: TrackingConfig = TrackingConfig()) -> RunOutcome:
    """Run the jobs of an opened run (see `open_run`); each finished job is published to the tracking
    sinks, a failing sink reported as a "warning" event."""
    started = started or time.time()
    summary = run_queue(store, jobs, executor, tracked(store, tracking, on_event), retry_failed)
    return RunOutcome(store, jobs, summary, time.time() - started)


def tracked(store: RunStore, tracking: TrackingConfig, on_event: EventSink | None) -> EventSink | None:
    """`on_event`, with each "done" job published to the run's tracking sinks first."""
    sinks = make_sinks(tracking, store.root)
    if not sinks:
        return on_event
    publisher = Publisher(store, sinks)

    def handle(event: Event) -> None:
        warnings = publisher.publish(event.job) if event.kind == "done" else []
        if on_event is not None:
            on_event(event)
            for message in warnings:
                on_event(Event("warning", event.job, message=message))

    return handle


def plan_run(config: RunConfig, run_dir: Path) -> tuple[RunStore, list[Job], Splits, int]:
    """The jobs a run would do (and its splits and unlabelled-pool size), without writing anything.

    Needs no image read: splits and keys depend only on ids and the source's fingerprint.
    """
    store = RunStore(run_dir)
    weights = resolve_all(config.pretrained, config.unet)
    index = rundata.index_source(config)
    splits = rundata.draw_splits(config, index)
    jobs = build_jobs(config, splits, index.fingerprint, index.extra_count, index.external, weights)
    return store, jobs, splits, index.extra_count


def run_single_finetune(config: RunConfig, out: Path, ft_ratio: float, seed: int, force: bool = False,
                 on_event: EventSink | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Fine-tune the supervised baseline once on `ft_ratio` % of the labels; write `out/rows.parquet`.

    A one-job run in `out` (so it is resumable like any run), evaluated on the run's test split.
    """
    from benchmark.data.splits import Ratio
    from benchmark.core.files import atomic_write_parquet

    ratio = Ratio.parse(f"0:{ft_ratio:g}")
    single = dataclasses.replace(config, methods=("supervised",), ratios=(ratio,), seeds=(seed,),
                                 pretrain={}, method_settings={}, pretrained={})
    outcome = run_benchmark(single, out, ExecutorConfig(kind="inline"), force, True, on_event, progress)
    if outcome.summary.failed:
        error = outcome.store.read_status(outcome.summary.failed[0]).error or "unknown error"
        raise BenchmarkError(f"fine-tuning failed: {error}")
    rows = load_results(out)
    atomic_write_parquet(Path(out) / "rows.parquet", rows)
    return rows

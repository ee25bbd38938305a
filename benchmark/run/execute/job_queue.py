"""A dependency-aware queue: runs each job once its dependencies are done, on a free slot of the
run's executor (benchmark.run.execute.executors), and records what happened. A job that crashes, runs out
of memory or diverges is recorded as failed; its dependants are skipped with the reason; every
other job goes on.
"""

from __future__ import annotations

import queue as stdqueue
from dataclasses import dataclass, field

from benchmark.run.execute.executors import Event, EventSink, Handle, Slot, make_executor
from benchmark.run.folder.job_status import JobStatus
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.store import RunStore
from benchmark.config.options import ExecutorConfig


@dataclass
class QueueSummary:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    interrupted: bool = False


def _settle_stale(store: RunStore, key: str, retry_failed: bool) -> str:
    """A job's state on arrival: 'done', 'failed' (kept unless retrying), or 'pending'.

    'running' left by a killed process and 'interrupted' failures (Ctrl-C, a SLURM job cancelled or
    preempted) count as never started.
    """
    status = store.read_status(key)
    state = status.state
    if state == "done":
        return "done"
    if state == "failed" and not retry_failed and not (status.error or "").startswith("interrupted"):
        return "failed"
    if state != "pending":
        store.reset_job(key)
    return "pending"


def _outcome(store: RunStore, key: str, code: int, handle: Handle) -> tuple[str, str]:
    """('done' | 'failed', message) of a job whose handle ended with `code`; a worker that died
    without recording anything gets a failed status naming its exit code and last stderr lines."""
    status = store.read_status(key)
    if code == 0 and status.state == "done":
        return "done", f"{status.wall_time_s or 0:.1f} s"
    error = status.error if status.state == "failed" else None
    if not error:
        tail = handle.error_tail()
        error = f"worker exited with code {code}" + (f": {tail}" if tail else "")
        store.write_status(key, JobStatus("failed", error=error))
    return "failed", error


def run_queue(
    store: RunStore,
    jobs: list[Job],
    config: ExecutorConfig,
    on_event: EventSink | None = None,
    retry_failed: bool = False,
) -> QueueSummary:
    """Run every job not yet done, each once its dependencies are done; return what happened."""
    emit = on_event or (lambda event: None)
    by_key = {job.key: job for job in jobs}
    summary = QueueSummary()
    state: dict[str, str] = {}
    events: stdqueue.Queue = stdqueue.Queue()
    executor = make_executor(config, store, events, len(jobs))
    free: list[Slot] = executor.slots()
    running: dict[str, tuple[Handle, Slot]] = {}
    for job in jobs:
        store.write_job(job)
        adopted = executor.adopt(job) if store.state(job.key) in ("pending", "running") else None
        if adopted is not None:  # still queued or running from a driver that died: watched, not resubmitted
            state[job.key] = "running"
            running[job.key] = (adopted, free.pop(0))
            emit(Event("start", job, message="adopted"))
            continue
        state[job.key] = _settle_stale(store, job.key, retry_failed)
        if state[job.key] == "done":
            summary.already_done.append(job.key)
    released: set[str] = set()

    def skip_dependants() -> None:
        changed = True
        while changed:
            changed = False
            for job in jobs:
                bad = [d for d in job.depends_on if state[d] in ("failed", "skipped")]
                if state[job.key] == "pending" and bad:
                    state[job.key] = "skipped"
                    reason = f"depends on {state[bad[0]]} job {bad[0]}"
                    store.write_status(job.key, JobStatus("skipped", error=reason))
                    summary.skipped.append(job.key)
                    emit(Event("skipped", job, message=reason))
                    changed = True

    try:
        while True:
            skip_dependants()
            ready = [j for j in jobs if state[j.key] == "pending" and all(state[d] == "done" for d in j.depends_on)]
            while ready and free:
                job, slot = ready.pop(0), free.pop(0)
                state[job.key] = "running"
                emit(Event("start", job, message=slot.label))
                running[job.key] = (executor.start(job, slot), slot)
            if not running:
                break
            try:
                event = events.get(timeout=config.poll_seconds)
            except stdqueue.Empty:
                event = None
            if event is not None:
                entry = running.get(event.job.key)
                if event.kind == "release" and entry and entry[1].gpu is not None:
                    released.add(event.job.key)  # its metrics run on the CPU; the GPU takes the next job
                    free.append(entry[1])
                emit(event)
                continue
            for key, (handle, slot) in list(running.items()):
                code = handle.poll()
                if code is None:
                    continue
                del running[key]
                if key not in released:
                    free.append(slot)
                outcome, message = _outcome(store, key, code, handle)
                state[key] = outcome
                (summary.done if outcome == "done" else summary.failed).append(key)
                emit(Event(outcome, by_key[key], message=message))
    except KeyboardInterrupt:
        summary.interrupted = True
        for key, (handle, _) in running.items():
            handle.stop()
            store.reset_job(key)
    finally:
        executor.close()
    return summary

"""A dependency-aware queue that runs ready jobs on free devices, locally or on SLURM.

Local: each job runs in its own subprocess (`python -m benchmark.run.worker`), one slot per visible GPU
(× jobs per device, with CUDA_VISIBLE_DEVICES set) or N CPU slots. SLURM: one SLURM job per
benchmark job through submitit, submitted once its dependencies are done. A job that crashes, runs
out of memory or diverges is recorded as failed; its dependants are skipped with the reason; every
other job goes on.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue as stdqueue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol

import torch

from benchmark.errors import BenchmarkError
from benchmark.run.jobs import Job
from benchmark.run.store import RunStore


@dataclass(frozen=True)
class ExecutorConfig:
    kind: Literal["local", "inline", "slurm"] = "local"  # inline: in this process, one job at a time
    devices: tuple[int, ...] = ()  # GPU indices to use; () = every visible GPU
    jobs_per_device: int = 1
    cpu_workers: int = 1  # slots when there is no GPU
    threads_per_worker: int = 0  # torch threads per CPU job; 0 = cores / workers
    slurm_partition: str = ""
    slurm_gpus_per_job: int = 1
    slurm_cpus_per_job: int = 8
    slurm_time_min: int = 240
    slurm_cluster: str = "slurm"  # "local" runs through submitit's local executor (tests)
    poll_seconds: float = 0.2
    compile: bool = False  # torch.compile each job's training step: pays on long GPU jobs


@dataclass(frozen=True)
class Slot:
    """Where a job runs: a GPU index, or the CPU."""

    device: str  # "cuda" or "cpu"
    gpu: int | None = None

    @property
    def label(self) -> str:
        return f"cuda:{self.gpu}" if self.gpu is not None else "cpu"


@dataclass(frozen=True)
class Event:
    """What the queue tells its caller: a job started, progressed, finished, failed or was skipped."""

    kind: Literal["start", "progress", "release", "done", "failed", "skipped"]
    job: Job
    done: int = 0
    total: int = 0
    message: str = ""


EventSink = Callable[[Event], None]


@dataclass
class QueueSummary:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    interrupted: bool = False


def plan_slots(config: ExecutorConfig) -> list[Slot]:
    """The local slots: every chosen GPU × jobs per device, else CPU workers."""
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if config.devices:
        missing = [d for d in config.devices if d >= visible]
        if missing:
            raise BenchmarkError(
                f"--devices {','.join(map(str, config.devices))}: GPU {missing[0]} does not exist "
                f"({visible} visible)"
            )
        gpus = list(config.devices)
    else:
        gpus = list(range(visible))
    if config.jobs_per_device < 1:
        raise BenchmarkError("--jobs-per-device must be at least 1")
    if gpus:
        return [Slot("cuda", g) for g in gpus for _ in range(config.jobs_per_device)]
    if config.cpu_workers < 1:
        raise BenchmarkError("--cpu-workers must be at least 1")
    return [Slot("cpu") for _ in range(config.cpu_workers)]


class Handle(Protocol):
    job: Job

    def poll(self) -> int | None: ...
    def stop(self) -> None: ...


def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL when the queue process dies, so no orphan writes later."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalHandle:
    """A worker subprocess; a thread forwards its progress lines to the queue's event stream."""

    def __init__(self, job: Job, slot: Slot, store: RunStore, threads: int, events: stdqueue.Queue,
                 metric_processes: int = 1, compile: bool = False) -> None:
        self.job = job
        env = dict(os.environ)
        device = "cpu"
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
            device = "cuda"
        command = [sys.executable, "-m", "benchmark.run.worker", str(store.root), job.key, "--device", device]
        if threads:
            command += ["--threads", str(threads)]
        if metric_processes > 1:
            command += ["--metric-processes", str(metric_processes)]
        if compile:
            command.append("--compile")
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._read_progress, args=(events,), daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_progress(self, events: stdqueue.Queue) -> None:
        for line in self.process.stdout:
            try:
                info = json.loads(line)
                if info.get("release"):
                    events.put(Event("release", self.job))
                else:
                    events.put(Event("progress", self.job, info["done"], info["total"], info["message"]))
            except (ValueError, KeyError):
                continue

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr = (self.stderr + [line])[-20:]

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class InlineHandle:
    """Runs the job to completion in this process when created (notebooks, tests, `finetune`)."""

    def __init__(self, job: Job, slot: Slot, store: RunStore, events: stdqueue.Queue, compile: bool = False) -> None:
        from benchmark.train.device import DeviceOptions
        from benchmark.run.worker import run_job

        self.job = job
        self.stderr: list[str] = []

        def report(done: int, total: int, message: str) -> None:
            events.put(Event("progress", job, done, total, message))

        try:
            run_job(store.root, job.key, DeviceOptions(device=slot.device, compile=compile), report)
            self.code = 0
        except KeyboardInterrupt:
            raise
        except Exception as error:  # recorded in status.json by run_job; the queue goes on
            self.stderr = [f"{type(error).__name__}: {error}"]
            self.code = 1

    def poll(self) -> int | None:
        return self.code

    def stop(self) -> None:
        """Nothing runs after the constructor returns."""


def _slurm_entry(run_dir: str, key: str, compile: bool = False) -> None:
    """What a SLURM task runs: the job, on the GPU SLURM gave it (or the CPU)."""
    from benchmark.train.device import DeviceOptions
    from benchmark.run.worker import run_job

    run_job(run_dir, key, DeviceOptions(device="cuda" if torch.cuda.is_available() else "cpu", compile=compile))


class SlurmHandle:
    """A benchmark job submitted as one SLURM job through submitit."""

    def __init__(self, job: Job, executor: object, store: RunStore, compile: bool = False) -> None:
        self.job = job
        self.submitted = executor.submit(_slurm_entry, str(store.root), job.key, compile)

    def poll(self) -> int | None:
        if not self.submitted.done():
            return None
        return 1 if self.submitted.exception() is not None else 0

    def stop(self) -> None:
        self.submitted.cancel(check=False)


def make_submitit_executor(config: ExecutorConfig, store: RunStore) -> object:
    try:
        import submitit
    except ImportError:
        raise BenchmarkError("--executor slurm needs submitit: pip install submitit") from None
    executor = submitit.AutoExecutor(folder=store.root / "slurm", cluster=config.slurm_cluster)
    params: dict[str, object] = {"timeout_min": config.slurm_time_min, "cpus_per_task": config.slurm_cpus_per_job}
    if config.slurm_cluster == "slurm":
        params.update(gpus_per_node=config.slurm_gpus_per_job)
        if config.slurm_partition:
            params["slurm_partition"] = config.slurm_partition
    executor.update_parameters(**params)
    return executor


def check_executor(config: ExecutorConfig) -> None:
    """Refuse an impossible executor before anything is written: a missing GPU, no submitit."""
    if config.kind == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise BenchmarkError("--executor slurm needs submitit: pip install submitit") from None
    else:
        plan_slots(config)


def _settle_stale(store: RunStore, key: str, retry_failed: bool) -> str:
    """A job's state on arrival: 'done', 'failed' (kept unless retrying), or 'pending'.

    'running' left by a killed process and 'interrupted' failures count as never started.
    """
    status = store.read_status(key)
    state = status.get("state", "pending")
    if state == "done":
        return "done"
    if state == "failed" and not retry_failed and status.get("error") != "interrupted":
        return "failed"
    if state != "pending":
        store.reset_job(key)
    return "pending"


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
    for job in jobs:
        store.write_job(job)
        state[job.key] = _settle_stale(store, job.key, retry_failed)
        if state[job.key] == "done":
            summary.already_done.append(job.key)
    if config.kind == "slurm":
        executor = make_submitit_executor(config, store)
        free: list[Slot | None] = [None] * max(1, len(jobs))
    elif config.kind == "inline":
        executor = None
        free = list(plan_slots(ExecutorConfig(devices=config.devices)))[:1]
    else:
        executor = None
        free = list(plan_slots(config))
    cores = os.cpu_count() or 1
    threads = config.threads_per_worker or max(1, cores // max(1, len(free)))
    # On GPUs a fine-tune job hands its slot back before its CPU-side metrics, so those overlap the
    # next job; the CPU cores are shared by the metric processes of the jobs in flight.
    metric_processes = max(1, min(8, cores // max(1, len(free)))) if free and free[0] and free[0].gpu is not None else 1
    events: stdqueue.Queue = stdqueue.Queue()
    running: dict[str, tuple[Handle, Slot | None]] = {}
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
                    store.write_status(job.key, "skipped", error=reason)
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
                emit(Event("start", job, message=slot.label if slot else "slurm"))
                handle: Handle
                if executor is not None:
                    handle = SlurmHandle(job, executor, store, config.compile)
                elif config.kind == "inline":
                    handle = InlineHandle(job, slot, store, events, config.compile)
                else:
                    handle = LocalHandle(job, slot, store, threads, events, metric_processes, config.compile)
                running[job.key] = (handle, slot)
            if not running:
                break
            try:
                event = events.get(timeout=config.poll_seconds)
            except stdqueue.Empty:
                event = None
            if event is not None:
                entry = running.get(event.job.key)
                if event.kind == "release" and entry and entry[1] is not None and entry[1].gpu is not None:
                    released.add(event.job.key)
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
                job = by_key[key]
                status = store.read_status(key)
                if code == 0 and status.get("state") == "done":
                    state[key] = "done"
                    summary.done.append(key)
                    emit(Event("done", job, message=f"{status.get('wall_time_s', 0):.1f} s"))
                else:
                    error = status.get("error") if status.get("state") == "failed" else None
                    if not error:
                        tail = "".join(getattr(handle, "stderr", [])[-3:]).strip().replace("\n", " | ")
                        error = f"worker exited with code {code}" + (f": {tail}" if tail else "")
                        store.write_status(key, "failed", error=error)
                    state[key] = "failed"
                    summary.failed.append(key)
                    emit(Event("failed", job, message=error))
    except KeyboardInterrupt:
        summary.interrupted = True
        for key, (handle, _) in running.items():
            handle.stop()
            store.reset_job(key)
    return summary

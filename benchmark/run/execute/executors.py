"""Where jobs run: one class per executor, each with the same small interface.

An executor offers `slots()`, `start(job, slot)` returns a `Handle` to `poll()` and `stop()`, and
`close()` ends whatever it keeps alive. The queue (benchmark.run.execute.job_queue) only schedules.

- `LocalExecutor`: on GPUs, each job in its own subprocess (CUDA_VISIBLE_DEVICES set per slot), so
  a crash or a leak never outlives its job. On CPUs, one persistent worker process per slot that
  imports torch and loads the prepared data once, then runs job after job (importing torch alone
  takes 2–5 s on a 2-core machine, as long as a tiny job's training); a worker that dies is
  replaced, and its job is recorded as failed.
- `InlineExecutor`: in this process, one job at a time (notebooks, tests, `finetune`).
- `SlurmExecutor` (benchmark.run.execute.slurm): one SLURM job per benchmark job through submitit.
"""

from __future__ import annotations

import ctypes
import functools
import os
import queue as stdqueue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import torch

from benchmark.core.errors import BenchmarkError
from benchmark.run.folder import rundata
from benchmark.run.plan.jobs import Job
from benchmark.run.execute.messages import FinishedMessage, Message, ProgressMessage, ReleaseMessage, decode
from benchmark.run.execute.slot import Slot
from benchmark.run.folder.store import RunStore
from benchmark.config.options import ExecutorConfig
from benchmark.train.device import DeviceOptions


@dataclass(frozen=True)
class Event:
    """What the queue tells its caller: a job started, progressed, finished, failed or was skipped; or a
    warning about it (a tracking sink that failed)."""

    kind: Literal["start", "progress", "release", "done", "failed", "skipped", "warning"]
    job: Job
    done: int = 0
    total: int = 0
    message: str = ""


EventSink = Callable[[Event], None]


class Handle(Protocol):
    job: Job

    def poll(self) -> int | None:
        """None while running, else the exit code (0: the job ran; its status.json says how)."""

    def stop(self) -> None: ...

    def error_tail(self) -> str:
        """The last lines the job wrote to stderr, for a failure that left no status."""


class Executor(Protocol):
    def slots(self) -> list[Slot]: ...
    def start(self, job: Job, slot: Slot) -> Handle: ...
    def close(self) -> None: ...

    def adopt(self, job: Job) -> Handle | None:
        """A handle on `job` still running from an earlier driver (SLURM), else None: start it anew."""


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
    if gpus:
        return [Slot("cuda", g, i) for i, g in enumerate(g for g in gpus for _ in range(config.jobs_per_device))]
    return [Slot("cpu", None, i) for i in range(cpu_worker_count(config))]


def cpu_worker_count(config: ExecutorConfig) -> int:
    """CPU slots: as asked, or one per core up to 4. Tiny jobs use one thread poorly, so two jobs of
    one thread each train about twice the images/s of one job on two threads (angiobench speed --jobs)."""
    return config.cpu_workers or max(1, min(4, os.cpu_count() or 1))


def job_threads(config: ExecutorConfig, slots: list[Slot]) -> int:
    """Torch threads of each local job: as asked, or the cores shared among the slots."""
    return config.threads_per_worker or max(1, (os.cpu_count() or 1) // len(slots))


def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL when the queue process dies, so no orphan writes later."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _spawn(command: list[str], env: dict[str, str], stdin: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _worker_command(store: RunStore, device: str, threads: int, metric_processes: int, compile: bool,
                    precision: str = "auto") -> list[str]:
    command = [sys.executable, "-m", "benchmark.run.execute.worker", str(store.root), "--device", device,
               "--precision", precision]
    if threads:
        command += ["--threads", str(threads)]
    if metric_processes > 1:
        command += ["--metric-processes", str(metric_processes)]
    if compile:
        command.append("--compile")
    return command


class _Process:
    """A worker subprocess whose stdout carries its messages (benchmark.run.execute.messages); stderr's tail
    is kept for errors."""

    def __init__(self, command: list[str], env: dict[str, str], on_line: Callable[[Message], None],
                 stdin: bool = False) -> None:
        self.process = _spawn(command, env, stdin)
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stdout, args=(on_line,), daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self, on_line: Callable[[Message], None]) -> None:
        for line in self.process.stdout:
            message = decode(line)
            if message is not None:
                on_line(message)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr = (self.stderr + [line])[-20:]

    def tail(self) -> str:
        return "".join(self.stderr[-3:]).strip().replace("\n", " | ")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _forward(events: stdqueue.Queue, job: Job, message: Message) -> None:
    if isinstance(message, ReleaseMessage):
        events.put(Event("release", job))
    elif isinstance(message, ProgressMessage):
        events.put(Event("progress", job, message.done, message.total, message.message))


class _SubprocessHandle:
    """One job in its own worker subprocess (GPU slots, or CPU slots without persistent workers)."""

    def __init__(self, job: Job, command: list[str], env: dict[str, str], events: stdqueue.Queue) -> None:
        self.job = job
        self.worker = _Process(command + ["--key", job.key], env, lambda info: _forward(events, job, info))

    def poll(self) -> int | None:
        return self.worker.process.poll()

    def stop(self) -> None:
        self.worker.stop()

    def error_tail(self) -> str:
        return self.worker.tail()


class _PersistentWorker:
    """A worker process that runs the job keys it is sent, one after another (CPU slots)."""

    def __init__(self, command: list[str], env: dict[str, str], events: stdqueue.Queue) -> None:
        self.events = events
        self.job: Job | None = None
        self.finished: dict[str, int] = {}
        self.worker = _Process(command + ["--serve"], env, self._on_line, stdin=True)

    def _on_line(self, message: Message) -> None:
        if isinstance(message, FinishedMessage):
            self.finished[message.finished] = message.code
        elif self.job is not None:
            _forward(self.events, self.job, message)

    def alive(self) -> bool:
        return self.worker.process.poll() is None

    def send(self, job: Job) -> None:
        self.job = job
        self.worker.process.stdin.write(job.key + "\n")
        self.worker.process.stdin.flush()

    def close(self) -> None:
        if self.alive():
            try:
                self.worker.process.stdin.close()
                self.worker.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.worker.stop()


class _PersistentHandle:
    def __init__(self, job: Job, worker: _PersistentWorker) -> None:
        self.job = job
        self.worker = worker
        worker.send(job)

    def poll(self) -> int | None:
        if self.job.key in self.worker.finished:
            return self.worker.finished.pop(self.job.key)
        code = self.worker.worker.process.poll()
        if code is None:
            return None
        return self.worker.finished.pop(self.job.key, code or 1)  # died mid-job: a failure

    def stop(self) -> None:
        self.worker.worker.stop()

    def error_tail(self) -> str:
        return self.worker.worker.tail()


class LocalExecutor:
    """Jobs on this machine's GPUs (a subprocess each) or CPUs (persistent workers)."""

    def __init__(self, config: ExecutorConfig, store: RunStore, events: stdqueue.Queue) -> None:
        self.config, self.store, self.events = config, store, events
        self._slots = plan_slots(config)
        cores = os.cpu_count() or 1
        self.threads = job_threads(config, self._slots)
        on_gpu = self._slots[0].gpu is not None
        # On GPUs a fine-tune job hands its slot back before its CPU-side metrics, so those overlap the
        # next job; the CPU cores are shared by the metric processes of the jobs in flight.
        self.metric_processes = max(1, min(8, cores // len(self._slots))) if on_gpu else 1
        self.workers: dict[int, _PersistentWorker] = {}  # CPU slot index → its worker

    def slots(self) -> list[Slot]:
        return list(self._slots)

    def start(self, job: Job, slot: Slot) -> Handle:
        env = dict(os.environ)
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
            command = _worker_command(self.store, "cuda", self.threads, self.metric_processes, self.config.compile,
                                      self.config.precision)
            return _SubprocessHandle(job, command, env, self.events)
        env["CUDA_VISIBLE_DEVICES"] = ""
        command = _worker_command(self.store, "cpu", self.threads, 1, self.config.compile, self.config.precision)
        if not self.config.persistent_cpu_workers:
            return _SubprocessHandle(job, command, env, self.events)
        worker = self.workers.get(slot.index)
        if worker is None or not worker.alive():
            worker = self.workers[slot.index] = _PersistentWorker(command, env, self.events)
        return _PersistentHandle(job, worker)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()

    def adopt(self, job: Job) -> None:
        """Local workers die with their driver (PR_SET_PDEATHSIG): there is never one to adopt."""
        return None


class _DoneHandle:
    """A job that ran to completion in this process before its handle was made."""

    def __init__(self, job: Job, code: int, error: str = "") -> None:
        self.job, self.code, self.error = job, code, error

    def poll(self) -> int | None:
        return self.code

    def stop(self) -> None:
        """Nothing runs after the job returned."""

    def error_tail(self) -> str:
        return self.error


class InlineExecutor:
    """Runs each job to completion in this process when started (notebooks, tests, `finetune`)."""

    def __init__(self, config: ExecutorConfig, store: RunStore, events: stdqueue.Queue) -> None:
        self.config, self.store, self.events = config, store, events
        self._slots = plan_slots(ExecutorConfig(devices=config.devices))[:1]
        self.load_data = functools.lru_cache(maxsize=1)(rundata.load)  # read once for all its jobs

    def slots(self) -> list[Slot]:
        return list(self._slots)

    def start(self, job: Job, slot: Slot) -> Handle:
        from benchmark.run.execute.worker import run_job

        def report(done: int, total: int, message: str) -> None:
            self.events.put(Event("progress", job, done, total, message))

        try:
            run_job(self.store.root, job.key, DeviceOptions(device=slot.device, compile=self.config.compile, bf16=self.config.bf16()),
                    report, load_data=self.load_data)
            return _DoneHandle(job, 0)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # recorded in status.json by run_job; the queue goes on
            return _DoneHandle(job, 1, f"{type(error).__name__}: {error}")

    def close(self) -> None:
        self.load_data.cache_clear()

    def adopt(self, job: Job) -> None:
        """An inline job ran in a driver that is gone: there is nothing to adopt."""
        return None


def check_executor(config: ExecutorConfig) -> None:
    """Refuse an impossible executor before anything is written: a missing GPU, no submitit."""
    if config.kind == "slurm":
        from benchmark.run.execute.slurm import check_controller, check_gpus, import_submitit

        import_submitit()
        if config.slurm_cluster == "slurm":
            check_controller()
            check_gpus(config.slurm_partition, config.slurm_gpus_per_job)
    else:
        plan_slots(config)


def make_executor(config: ExecutorConfig, store: RunStore, events: stdqueue.Queue, jobs: int) -> Executor:
    """The executor `config` names, chosen once for the whole run."""
    if config.kind == "slurm":
        from benchmark.run.execute.slurm import SlurmExecutor

        return SlurmExecutor(config, store, events, jobs)
    if config.kind == "inline":
        return InlineExecutor(config, store, events)
    return LocalExecutor(config, store, events)

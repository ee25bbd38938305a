"""The SLURM executor: one SLURM job per benchmark job, submitted through submitit, watched without
accounting.

Many clusters run no accounting (slurmdbd), and there `sacct` — what submitit asks — knows nothing:
a job cancelled with `scancel` or killed by the node would look "running" forever. So a job's end
is read from what needs no accounting: its result file (written by submitit when the job returns)
and the controller's own queue (`squeue --states=all`, which keeps ended jobs for MinJobAge).

Each submission is recorded in the job's folder (`slurm.json`), so a driver started again after
one that died adopts the SLURM jobs still queued or running instead of submitting them twice.
"""

from __future__ import annotations

import queue as stdqueue
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from benchmark.core.errors import BenchmarkError
from benchmark.run.execute.slot import Slot
from benchmark.run.folder.job_status import JobStatus
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.store import RunStore
from benchmark.config.options import ExecutorConfig

#: squeue states of a job that has not ended
ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                    "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"})
#: ended by the cluster or a person, not by the job: re-run on resume like a Ctrl-C
INTERRUPTED = frozenset({"CANCELLED", "PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "REVOKED"})
#: answers of the controller that must say a job ended (or is gone) before its missing result counts as none
RESULT_GRACE_READINGS = 3


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise BenchmarkError("--executor slurm needs submitit: pip install submitit") from None
    return submitit


def _command(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchmarkError(f"--executor slurm: `{name}` is not on PATH; run on a machine of the cluster "
                             "(or --slurm-cluster local to try it without one)")
    return path


def check_controller(timeout_s: float = 30) -> None:
    """Refuse a SLURM run when the controller does not answer, before anything is submitted."""
    try:
        answer = subprocess.run([_command("scontrol"), "ping"], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"--executor slurm: the SLURM controller did not answer `scontrol ping` "
                             f"within {timeout_s:.0f} s") from None
    if answer.returncode != 0 or "DOWN" in answer.stdout:
        said = " ".join((answer.stdout.splitlines() or answer.stderr.splitlines() or ["no answer"])[:1])
        raise BenchmarkError(f"--executor slurm: the SLURM controller is down ({said.strip()}); "
                             "start slurmctld or ask the cluster's admins")


def gpu_shortage(sinfo: str, partition: str, gpus_per_job: int) -> str | None:
    """What is wrong with asking `gpus_per_job` GPUs of `partition` ("" = the cluster's default), from
    `sinfo -h -o "%P|%G"` (one "partition|GRES" line per node group, the default partition marked
    "*"); None when nothing is, or when sinfo does not say."""
    if gpus_per_job <= 0:
        return None
    gres: dict[str, list[str]] = {}
    default = ""
    for line in sinfo.splitlines():
        name, _, resources = line.strip().partition("|")
        if not name:
            continue
        if name.endswith("*"):
            name = default = name[:-1]
        gres.setdefault(name, []).append(resources)
    target = partition or default
    if target not in gres:
        return None if not partition else (f"--slurm-partition {partition}: sinfo lists no such partition "
                                           f"(it lists {', '.join(gres) or 'none'})")
    if any("gpu" in resources for resources in gres[target]):
        return None
    return (f"--slurm-gpus-per-job {gpus_per_job}: partition {target} has no GPUs (sinfo lists its GRES as "
            f"{', '.join(dict.fromkeys(gres[target]))}); pass --slurm-gpus-per-job 0 to run on its CPUs, or "
            "--slurm-partition a partition with GPUs")


def check_gpus(partition: str, gpus_per_job: int, timeout_s: float = 30) -> None:
    """Refuse, before the run folder is made, a request for GPUs the partition does not have (what
    sbatch would refuse at the first submission); silent where sinfo cannot tell."""
    if gpus_per_job <= 0 or shutil.which("sinfo") is None:
        return
    try:
        answer = subprocess.run(["sinfo", "-h", "-o", "%P|%G"], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return
    problem = gpu_shortage(answer.stdout, partition, gpus_per_job) if answer.returncode == 0 else None
    if problem:
        raise BenchmarkError(problem)


@dataclass
class SlurmQueue:
    """The controller's view of this user's jobs, read at most every `refresh_s` (one `squeue` for all)."""

    refresh_s: float = 2.0
    controller_timeout_s: float = 300.0
    _states: dict[str, str] = field(default_factory=dict)
    _read_at: float = float("-inf")
    _unreachable_since: float | None = None

    def state(self, slurm_id: str, since: float = float("-inf")) -> tuple[str | None, float]:
        """The job's state and when it was read: "" when the controller does not list it (ended long
        ago, or never), None when the controller cannot be asked right now or its last answer is
        older than `since` (a job submitted after it). Raises once the controller has not answered
        for `controller_timeout_s`, so a dead controller ends the run with a message, not a hang."""
        if time.monotonic() - self._read_at >= self.refresh_s or self._read_at < since:
            self._refresh()
        if self._unreachable_since is not None or self._read_at < since:
            return None, self._read_at
        return self._states.get(slurm_id, ""), self._read_at

    def _refresh(self) -> None:
        self._read_at = time.monotonic()
        try:
            answer = subprocess.run([_command("squeue"), "--me", "--noheader", "--states=all", "--format=%i|%T"],
                                    capture_output=True, text=True, timeout=60)
            ok, said = answer.returncode == 0, (answer.stderr or answer.stdout).strip()
        except subprocess.TimeoutExpired:
            ok, said = False, "squeue timed out"
        if ok:
            self._unreachable_since = None
            self._states = dict(line.split("|", 1) for line in answer.stdout.splitlines() if "|" in line)
            return
        self._unreachable_since = self._unreachable_since or time.monotonic()
        if time.monotonic() - self._unreachable_since > self.controller_timeout_s:
            raise BenchmarkError(f"the SLURM controller has not answered for {self.controller_timeout_s:.0f} s "
                                 f"({said.splitlines()[-1] if said else 'no answer'}); its jobs keep running: "
                                 "run the same command again once it is back, and it picks them up")


class SlurmHandle:
    """One submitted SLURM job, done when its result file appears or the controller says it ended."""

    def __init__(self, job: Job, submitted: object, store: RunStore, queue: SlurmQueue) -> None:
        self.job, self.submitted, self.store, self.queue = job, submitted, store, queue
        self.slurm_id = str(submitted.job_id)
        self.watched_from = time.monotonic()  # only the controller's answers after this count
        self.ended_readings: set[float] = set()
        self.message = ""

    def poll(self) -> int | None:
        if self.submitted.paths.result_pickle.exists():
            return 1 if self.submitted.exception() is not None else 0
        state, read_at = self.queue.state(self.slurm_id, since=self.watched_from)
        if state is None or state.split()[:1] and state.split()[0] in ACTIVE:
            return None
        self.ended_readings.add(read_at)
        if len(self.ended_readings) < RESULT_GRACE_READINGS:  # the result file may lag on a shared file system
            return None
        state = state.split()[0] if state else "gone from the queue"
        if state in INTERRUPTED:
            self.store.write_status(self.job.key, JobStatus("failed", error=f"interrupted (SLURM job {self.slurm_id} {state})"))
        else:
            self.message = f"SLURM job {self.slurm_id} ended {state} without a result"
        return 1

    def stop(self) -> None:
        self.submitted.cancel(check=False)

    def error_tail(self) -> str:
        try:
            lines = self.submitted.paths.stderr.read_text().strip().splitlines()
        except OSError:
            lines = []
        return " | ".join([self.message, *lines[-3:]] if self.message else lines[-3:])


class SubmititHandle:
    """A job of submitit's local emulation (`--slurm-cluster local`), watched through submitit."""

    def __init__(self, job: Job, submitted: object) -> None:
        self.job, self.submitted = job, submitted

    def poll(self) -> int | None:
        if not self.submitted.done():
            return None
        return 1 if self.submitted.exception() is not None else 0

    def stop(self) -> None:
        self.submitted.cancel(check=False)

    def error_tail(self) -> str:
        return ""


#: What a refusal's words point to, and the option that changes it (first match wins).
REFUSAL_HINTS = (
    ("gres", "the nodes have no GPUs of that kind or count: --slurm-gpus-per-job 0 for CPU nodes"),
    ("partition", "--slurm-partition must name a partition `sinfo` lists"),
    ("time limit", "--slurm-time-min must fit the partition's time limit"),
    ("cpu", "--slurm-cpus-per-job must fit a node"),
    ("account", "the cluster asks for an account: set it in SBATCH_ACCOUNT"),
)


def refusal_message(error: str) -> str:
    """One line for a submission sbatch refused: what sbatch said, and the option most likely behind it."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    said = next((line for line in lines if "sbatch: error:" in line), lines[-1] if lines else "no reason given")
    said = said.split("sbatch: error:", 1)[-1].strip()
    hint = next((text for word, text in REFUSAL_HINTS if word in said.lower()), "check the --slurm-* options")
    return f"--executor slurm: sbatch refused the job ({said}); {hint}"


def _entry(run_dir: str, key: str, compile: bool = False, bf16: bool | None = None) -> None:
    """What a SLURM task runs: the job, on the GPU SLURM gave it (or the CPU)."""
    import torch

    from benchmark.run.execute.worker import run_job
    from benchmark.train.device import DeviceOptions

    device = "cuda" if torch.cuda.is_available() else "cpu"
    run_job(run_dir, key, DeviceOptions(device=device, compile=compile, bf16=bf16))


class SlurmExecutor:
    """One SLURM job per benchmark job, submitted as its dependencies finish; as many slots as jobs."""

    def __init__(self, config: ExecutorConfig, store: RunStore, events: stdqueue.Queue, jobs: int = 1) -> None:
        submitit = import_submitit()
        self.config, self.store, self.submitit = config, store, submitit
        self.folder = store.root / "slurm"
        self.executor = submitit.AutoExecutor(folder=self.folder, cluster=config.slurm_cluster)
        params: dict[str, object] = {"timeout_min": config.slurm_time_min, "cpus_per_task": config.slurm_cpus_per_job}
        self.on_cluster = config.slurm_cluster == "slurm"
        if self.on_cluster:
            params.update(gpus_per_node=config.slurm_gpus_per_job)
            if config.slurm_partition:
                params["slurm_partition"] = config.slurm_partition
        self.executor.update_parameters(**params)
        self.queue = SlurmQueue(max(2.0, config.poll_seconds), config.slurm_controller_timeout_s)
        self._slots = [Slot("slurm", None, i) for i in range(max(1, jobs))]

    def slots(self) -> list[Slot]:
        return list(self._slots)

    def start(self, job: Job, slot: Slot) -> SlurmHandle | SubmititHandle:
        self.executor.update_parameters(name=f"angiobench-{job.key}")
        try:
            submitted = self.executor.submit(_entry, str(self.store.root), job.key, self.config.compile,
                                             self.config.bf16())
        except self.submitit.core.utils.FailedJobError as error:
            raise BenchmarkError(refusal_message(str(error))) from None
        if self.on_cluster:
            self.store.write_slurm_submission(job.key, str(submitted.job_id))
            return SlurmHandle(job, submitted, self.store, self.queue)
        return SubmititHandle(job, submitted)  # submitit's local emulation: its own bookkeeping is exact

    def adopt(self, job: Job) -> SlurmHandle | None:
        """The handle of `job`'s SLURM job when one submitted by an earlier driver is still queued or
        running (so it is watched, not submitted again); else None."""
        if not self.on_cluster:
            return None
        slurm_id = self.store.read_slurm_submission(job.key)
        if not slurm_id:
            return None
        state, _ = self.queue.state(slurm_id)
        if state is None:
            raise BenchmarkError("--executor slurm: the SLURM controller does not answer; cannot tell which "
                                 "jobs of an earlier run are still queued")
        if not state or state.split()[0] not in ACTIVE:
            return None
        submitted = self.submitit.SlurmJob(folder=self.folder, job_id=slurm_id)
        return SlurmHandle(job, submitted, self.store, self.queue)

    def close(self) -> None:
        """SLURM jobs finish on their own; nothing is kept here."""


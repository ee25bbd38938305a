"""The run folder: config, splits, and one folder per job, every file written atomically.

Each file is written to a temporary name and renamed into place, and a job's `status.json` is
written last, so a killed process never leaves a partial file that counts as done. Every reader and
writer of a run goes through here; the file names themselves are in benchmark.run.folder.layout.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
import pandas as pd

from benchmark.data.external import IN_DOMAIN
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_bytes, atomic_write_json, atomic_write_parquet
from benchmark.run.folder import layout
from benchmark.run.folder.lock import run_lock
from benchmark.run.plan.job_identity import JobIdentity
from benchmark.run.folder.job_status import JobState, JobStatus
from benchmark.run.folder.previews import Preview, preview_bytes, read_preview
from benchmark.run.folder.row_schema import METRIC_COLUMNS, conform, empty_rows

if TYPE_CHECKING:  # the store reads results without the training stack; jobs.py imports the methods
    import torch

    from benchmark.run.plan.jobs import Job

__all__ = ["METRIC_COLUMNS", "JobState", "RunStore", "load_jobs", "load_loss_curves", "load_results"]

#: The run folder's format, written when a run starts (RUN_DIR/format.json). Bumped when this version
#: can no longer read a folder an earlier one wrote (2: every row has `test_set` and `evaluation`,
#: methods.json has each method's role); such a folder is refused, naming what to do, instead of
#: being read half right.
FOLDER_FORMAT = 2


class RunStore:
    """Paths and state of one run folder; every reader and writer of a run goes through here."""

    def __init__(self, run_dir: Path | str) -> None:
        self.root = Path(run_dir)

    @property
    def config_path(self) -> Path:
        return self.root / layout.CONFIG

    @property
    def splits_path(self) -> Path:
        return self.root / layout.SPLITS

    @property
    def prepared_path(self) -> Path:
        return self.root.joinpath(*layout.PREPARED)

    def job_dir(self, key: str) -> Path:
        return self.root / layout.JOBS / key

    def job_keys(self) -> list[str]:
        jobs = self.root / layout.JOBS
        return sorted(p.name for p in jobs.iterdir() if p.is_dir()) if jobs.is_dir() else []

    def is_run(self) -> bool:
        return self.config_path.is_file()

    def is_debris(self) -> bool:
        """A config and no job: what a start killed before any job was written left behind; it holds
        no result to protect."""
        return self.config_path.is_file() and not self.job_keys()

    def resumes(self, config_toml: str, force: bool) -> bool:
        """Whether this folder holds the run of `config_toml` to continue; refuses (writing nothing)
        a run of another config and a folder that is not a run. `force` or debris: start afresh."""
        if force or not self.root.exists() or self.is_debris():
            return False
        if self.config_path.is_file():
            if self.config_path.read_text() != config_toml:
                raise BenchmarkError(
                    f"{self.root} holds a run of a different config; choose another --out, "
                    "or pass --force to delete it and start again"
                )
            self.check_format()
            return True
        if any(self.root.iterdir()):
            raise BenchmarkError(f"{self.root} exists and is not a run folder; choose another --out")
        return False

    def claim(self, config_toml: str, force: bool) -> bool:
        """Make this folder the home of a run of `config_toml` (see `resumes`); True if it resumes.

        `force` wipes the folder first, so results of two configs never mix; debris is cleared.
        """
        if self.resumes(config_toml, force):
            return True
        if self.root.exists() and (force or self.is_debris()):
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.root / layout.FORMAT, {"run_folder_format": FOLDER_FORMAT})
        atomic_write_bytes(self.config_path, config_toml.encode())
        return False

    def check_format(self) -> None:
        """Refuse a folder written in another format than this version's (FOLDER_FORMAT), naming it."""
        path = self.root / layout.FORMAT
        try:
            found = json.loads(path.read_text()).get("run_folder_format")
        except (OSError, ValueError, AttributeError):
            found = None
        if found != FOLDER_FORMAT:
            written = "an earlier angiobench" if found is None or found < FOLDER_FORMAT else "a later angiobench"
            raise BenchmarkError(
                f"{self.root} is a run folder of {written} (format {found or 1}; this version reads format "
                f"{FOLDER_FORMAT}): read it with the version that wrote it, or run it again with --force")

    def replace_config(self, config_toml: str) -> None:
        """Record the run's config anew: only for a change that keeps every job's meaning (external
        test sets added; see benchmark.run.folder.rundata)."""
        atomic_write_bytes(self.config_path, config_toml.encode())

    def record_plan(self, request: str, keys: list[str]) -> None:
        """Which jobs the request with digest `request` planned here (benchmark.config.request): the
        same request again is then answered from the folder once they are all done."""
        atomic_write_json(self.root / layout.PLAN, {"request": request, "jobs": sorted(keys)})

    def finished_plan(self, request: str) -> list[str] | None:
        """The jobs the request with digest `request` planned here, when every one is done; None when
        the folder records no plan, another request's, or one with a job not done."""
        try:
            plan = json.loads((self.root / layout.PLAN).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(plan, dict) or plan.get("request") != request:
            return None
        keys = [str(key) for key in plan.get("jobs", [])]
        return keys if all(self.state(key) == "done" for key in keys) else None

    def _job_table(self, key: str) -> dict[str, Any]:
        path = self.job_dir(key) / layout.JOB
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise BenchmarkError(f"{self.job_dir(key)}: no readable job.json ({error})") from None

    def read_status(self, key: str) -> JobStatus:
        """The job's status; pending when it has none yet (or a half-written one from an old version)."""
        path = self.job_dir(key) / layout.STATUS
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError):
            return JobStatus()
        kind = self._job_table(key).get("kind", "") if set(table) - {"state", "time"} else ""
        return JobStatus.from_json(table, kind, str(path))

    def write_status(self, key: str, status: JobStatus) -> None:
        """Record `status`, stamped with the time it is written."""
        stamped = dataclasses.replace(status, time=time.time())
        atomic_write_json(self.job_dir(key) / layout.STATUS, stamped.to_json())

    def state(self, key: str) -> JobState:
        return self.read_status(key).state

    def write_slurm_submission(self, key: str, slurm_id: str) -> None:
        atomic_write_json(self.job_dir(key) / layout.SLURM_SUBMISSION, {"job_id": slurm_id})

    def read_slurm_submission(self, key: str) -> str | None:
        """The SLURM job id `key` was last submitted as, if any (reset_job forgets it)."""
        try:
            return str(json.loads((self.job_dir(key) / layout.SLURM_SUBMISSION).read_text())["job_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_job(self, job: Job) -> None:
        path = self.job_dir(job.key) / layout.JOB
        if not path.exists():
            atomic_write_json(path, job.to_json())

    def read_job(self, key: str) -> Job:
        """The whole job (settings rebuilt as their method's dataclass: this imports the methods)."""
        from benchmark.run.plan.jobs import Job

        return Job.from_json(self._job_table(key), str(self.job_dir(key) / layout.JOB))

    def read_identity(self, key: str) -> JobIdentity:
        """Which job `key` is, without the method registry."""
        return JobIdentity.from_json(self._job_table(key), str(self.job_dir(key) / layout.JOB))

    # --- what a job makes: named here only ------------------------------------------------------

    def checkpoint_path(self, key: str) -> Path:
        return self.job_dir(key) / layout.CHECKPOINT

    def previews_path(self, key: str) -> Path:
        return self.job_dir(key) / layout.PREVIEWS

    def rows_path(self, key: str) -> Path:
        return self.job_dir(key) / layout.ROWS

    def loss_curve_path(self, key: str) -> Path:
        return self.job_dir(key) / layout.LOSS_CURVE

    def history_path(self, key: str) -> Path:
        return self.job_dir(key) / layout.HISTORY

    def log_path(self, key: str) -> Path:
        return self.job_dir(key) / layout.LOG

    def write_checkpoint(self, key: str, state: dict[str, torch.Tensor]) -> None:
        import torch  # only jobs and exports touch weights

        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.checkpoint_path(key), buffer.getvalue())

    def read_checkpoint(self, key: str) -> dict[str, torch.Tensor]:
        import torch

        return torch.load(self.checkpoint_path(key), map_location="cpu")

    def write_previews(self, key: str, preview: Preview) -> None:
        atomic_write_bytes(self.previews_path(key), preview_bytes(preview))

    def read_previews(self, key: str) -> Preview | None:
        """A job's previews (None when the job saved none)."""
        return read_preview(self.previews_path(key))

    def write_rows(self, key: str, frame: pd.DataFrame) -> None:
        atomic_write_parquet(self.rows_path(key), frame)

    def write_loss_curve(self, key: str, frame: pd.DataFrame) -> None:
        atomic_write_parquet(self.loss_curve_path(key), frame)

    def write_history(self, key: str, frame: pd.DataFrame) -> None:
        atomic_write_parquet(self.history_path(key), frame)

    def log(self, key: str, message: str) -> None:
        """Appends a timestamped line to the job's log (a log is never a completion marker)."""
        path = self.log_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def retired_dir(self, key: str) -> Path:
        return self.root / layout.SUPERSEDED / key

    def retire_job(self, key: str) -> None:
        """Move a job's folder out of the jobs folder, under superseded/, where nothing reads it as a
        result: for a job whose inputs outside the config changed (the plan has it under a new key)."""
        target = self.retired_dir(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        self.job_dir(key).rename(target)

    def restore_job(self, key: str) -> bool:
        """Bring a retired job back into the jobs folder (its inputs are back); whether there was one."""
        source = self.retired_dir(key)
        if not source.is_dir() or self.job_dir(key).exists():
            return False
        self.job_dir(key).parent.mkdir(parents=True, exist_ok=True)
        source.rename(self.job_dir(key))
        return True

    def reset_job(self, key: str) -> None:
        """Forget a job's outputs (for a retry); its job.json stays."""
        folder = self.job_dir(key)
        for path in folder.iterdir() if folder.is_dir() else []:
            if path.name != layout.JOB:
                path.unlink() if path.is_file() else shutil.rmtree(path)


def require_run(run_dir: Path | str) -> RunStore:
    """The store of `run_dir`, which must be a run folder (an error naming it otherwise)."""
    store = RunStore(run_dir)
    if not store.root.is_dir():
        raise BenchmarkError(f"{store.root}: no such folder")
    if not store.is_run():
        raise BenchmarkError(f"{store.root} is not an angiobench run folder (no config.toml)")
    store.check_format()
    return store


def _done_frames(store: RunStore, path_of: Callable[[str], Path]) -> list[tuple[Path, pd.DataFrame]]:
    """The table at `path_of(key)` of every finished job that has one (a failed job's files never
    count), with its path."""
    paths = (path_of(key) for key in store.job_keys() if store.state(key) == "done")
    return [(path, pd.read_parquet(path)) for path in paths if path.is_file()]


def finished_run(run_dir: Path, request: str) -> list[str] | None:
    """The jobs of `run_dir` when the request with digest `request` planned them there and all are
    done: a re-run with nothing to do, answered from the folder (under its lock) without planning."""
    if not RunStore(run_dir).is_run():
        return None
    with run_lock(run_dir):
        return RunStore(run_dir).finished_plan(request)


def load_jobs(run_dir: Path | str) -> pd.DataFrame:
    """One row per job in the folder: identity, state, error, wall time, device."""
    store = require_run(run_dir)
    rows = []
    for key in store.job_keys():
        job = store.read_identity(key)
        status = store.read_status(key)
        rows.append({
            "job_key": key, "kind": job.kind, "method": job.method, "ratio": job.ratio,
            "pt_ratio": job.pt_ratio, "ft_ratio": job.ft_ratio, "seed": job.seed,
            "depends_on": ",".join(job.depends_on), "state": status.state,
            "error": status.error or "", "wall_time_s": status.wall_time_s,
            "device": status.device or "",
        })
    columns = ["job_key", "kind", "method", "ratio", "pt_ratio", "ft_ratio", "seed", "depends_on",
               "state", "error", "wall_time_s", "device"]
    return pd.DataFrame(rows, columns=columns)


def load_results(run_dir: Path | str, test_sets: Literal["in-domain", "external", "all"] = "in-domain") -> pd.DataFrame:
    """Rows of every finished fine-tune job, long format: one row per (job, test set, test image).

    Columns: those of benchmark.run.folder.row_schema (identity, metrics, set sizes, provenance), in its
    order. By default only
    the run's own test split (test_set "in-domain"), which every table but the generalisation
    table is about; "external" gives the external test sets' rows, "all" both.
    """
    store = require_run(run_dir)
    frames = [conform(frame, path) for path, frame in _done_frames(store, store.rows_path)]
    if not frames:
        return empty_rows()
    rows = pd.concat(frames, ignore_index=True)
    if test_sets == "all":
        return rows
    if test_sets not in ("in-domain", "external"):
        raise BenchmarkError(f"test_sets {test_sets!r} is not one of in-domain, external, all")
    keep = rows["test_set"] == IN_DOMAIN
    return rows[keep if test_sets == "in-domain" else ~keep].reset_index(drop=True)


def summary_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """Mean test Dice per method × ratio (ratios ordered by fine-tuning share, largest first), per
    test set: the run's own split first, then each external set; {} before any fine-tune job is done."""
    rows = load_results(run_dir, "all")
    tables = {}
    for name in dict.fromkeys([IN_DOMAIN, *sorted(set(rows["test_set"]))]):
        part = rows[rows["test_set"] == name]
        if part.empty:
            continue
        table = part.pivot_table(index="method", columns="ratio", values="dice", aggfunc="mean")
        order = part.drop_duplicates("ratio").sort_values("ft_ratio", ascending=False)["ratio"]
        tables[name] = table[[r for r in order if r in table.columns]]
    return tables


def load_loss_curves(run_dir: Path | str) -> pd.DataFrame:
    """The loss curve of every finished pre-training job: job_key, method, seed, step, epoch, loss."""
    store = require_run(run_dir)
    frames = [frame for _, frame in _done_frames(store, store.loss_curve_path)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["job_key", "method", "seed", "step", "epoch", "loss"]
    )

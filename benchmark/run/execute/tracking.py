"""Experiment-tracking sinks: each finished job's curves and scores, where researchers watch them.

Off by default, optional extras (`pip install -e ".[tracking]"`): TensorBoard event files and MLflow
(a local SQLite store in the run folder by default — MLflow 3 retires its file store —, any tracking
URI by option). The driver publishes a
job when it finishes, from the files the job wrote (benchmark.run.folder.layout): its identity as tags and
params, the pre-training loss curve with its chance level, the fine-tuning loss and validation Dice
per round, and the mean test metrics. Publishing runs in the driver, not in the job, so a sink can
never fail or slow a job: a sink that fails says so in one warning line and is not tried again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from benchmark.core.errors import BenchmarkError
from benchmark.run.plan.jobs import Job
from benchmark.run.folder.layout import TRACKING
from benchmark.run.folder.store import METRIC_COLUMNS, RunStore

SINKS = ("tensorboard", "mlflow")
#: What each sink imports (MLflow's SQLite store needs SQLAlchemy and Alembic).
REQUIRES = {"tensorboard": ("tensorboard",), "mlflow": ("mlflow", "sqlalchemy", "alembic")}


@dataclass(frozen=True)
class TrackingConfig:
    """Which sinks a run publishes to (none by default) and MLflow's tracking URI ("" = the run's own
    SQLite store, RUN/tracking/mlflow.db)."""

    sinks: tuple[str, ...] = ()
    mlflow_uri: str = ""

    def check(self) -> None:
        unknown = [s for s in self.sinks if s not in SINKS]
        if unknown:
            raise BenchmarkError(f"--track {','.join(unknown)}: not a sink; choose from {', '.join(SINKS)}")
        for sink, modules in REQUIRES.items():
            for module in modules if sink in self.sinks else ():
                try:
                    __import__(module)
                except ImportError:
                    raise BenchmarkError(f"--track {sink} needs {module}: pip install -e \".[tracking]\"") from None


@dataclass(frozen=True)
class JobRecord:
    """What a sink publishes of one finished job."""

    name: str  # "mae fine-tune 79:1 seed 3"
    params: dict[str, str]
    curves: dict[str, list[tuple[int, float]]]  # metric name → (step, value)
    scores: dict[str, float]  # mean test metrics of a fine-tune job


def job_record(store: RunStore, job: Job) -> JobRecord:
    """A finished job's identity, curves and scores, read from its files."""
    params = {"job_key": job.key, "kind": job.kind, "method": job.method, "ratio": job.ratio, "seed": str(job.seed),
              "protocol": job.protocol, "run": store.root.name}
    curves: dict[str, list[tuple[int, float]]] = {}
    scores: dict[str, float] = {}
    if store.loss_curve_path(job.key).is_file():
        frame = pd.read_parquet(store.loss_curve_path(job.key))
        for column in ("loss", "chance"):
            if column in frame:
                curves[f"pretrain/{column}"] = _points(frame, column)
    if store.history_path(job.key).is_file():
        frame = pd.read_parquet(store.history_path(job.key))
        for column in ("loss", "val_dice"):
            if column in frame:
                curves[f"finetune/{column}"] = _points(frame, column)
    rows_path = store.job_dir(job.key) / "rows.parquet"
    if rows_path.is_file():
        rows = pd.read_parquet(rows_path)
        scores = {f"test/{c}": float(rows[c].mean()) for c in METRIC_COLUMNS if c in rows and rows[c].notna().any()}
    return JobRecord(job.label, params, curves, scores)


def _points(frame: pd.DataFrame, column: str) -> list[tuple[int, float]]:
    steps = frame["step"] if "step" in frame else pd.Series(range(len(frame)))
    return [(int(s), float(v)) for s, v in zip(steps, frame[column]) if not math.isnan(float(v))]


class Sink(Protocol):
    name: str

    def publish(self, record: JobRecord) -> None: ...


class TensorBoardSink:
    """One event-file folder per job: RUN/tracking/tensorboard/<job key>."""

    name = "tensorboard"

    def __init__(self, root: Path) -> None:
        self.root = root / TRACKING / "tensorboard"

    def publish(self, record: JobRecord) -> None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(self.root / record.params["job_key"]))
        try:
            writer.add_text("job", ", ".join(f"{k}: {v}" for k, v in record.params.items()))
            for name, points in record.curves.items():
                for step, value in points:
                    writer.add_scalar(name, value, step)
            for name, value in record.scores.items():
                writer.add_scalar(name, value, 0)
        finally:
            writer.close()


class MLflowSink:
    """One MLflow run per job, in an experiment named after the run folder."""

    name = "mlflow"

    def __init__(self, root: Path, uri: str) -> None:
        self.uri = uri or default_mlflow_uri(root)
        self.experiment = root.resolve().name
        self._client = None

    def publish(self, record: JobRecord) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        if self._client is None:  # once: opening a store checks its schema
            if self.uri.startswith("sqlite:///"):
                Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.uri)
        client = self._client
        found = client.get_experiment_by_name(self.experiment)
        experiment = found.experiment_id if found else client.create_experiment(self.experiment)
        run = client.create_run(experiment, run_name=record.name, tags={k: v for k, v in record.params.items()})
        metrics = [Metric(name, value, 0, step) for name, points in record.curves.items() for step, value in points]
        metrics += [Metric(name, value, 0, 0) for name, value in record.scores.items()]
        params = [Param(k, v) for k, v in record.params.items()]
        for start in range(0, max(len(metrics), 1), 1000):  # MLflow takes at most 1,000 metrics a batch
            client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000],
                             params=params if start == 0 else [], tags=[RunTag("angiobench", "job")] if start == 0 else [])
        client.set_terminated(run.info.run_id)


def default_mlflow_uri(root: Path) -> str:
    """The run's own MLflow store: RUN/tracking/mlflow.db (SQLite)."""
    return f"sqlite:///{(root / TRACKING / 'mlflow.db').resolve()}"


def make_sinks(config: TrackingConfig, root: Path) -> list[Sink]:
    config.check()
    sinks: list[Sink] = []
    if "tensorboard" in config.sinks:
        sinks.append(TensorBoardSink(root))
    if "mlflow" in config.sinks:
        sinks.append(MLflowSink(root, config.mlflow_uri))
    return sinks


class Publisher:
    """Publishes each finished job to every sink still working; a sink that fails once is dropped
    with a one-line warning, and the run goes on."""

    def __init__(self, store: RunStore, sinks: list[Sink]) -> None:
        self.store, self.sinks = store, list(sinks)

    def publish(self, job: Job) -> list[str]:
        """Publish `job`; the warnings of the sinks that failed (and are now off)."""
        if not self.sinks:
            return []
        record, warnings = job_record(self.store, job), []
        for sink in list(self.sinks):
            try:
                sink.publish(record)
            except Exception as error:  # a sink never fails a run: any error of its library ends its use
                self.sinks.remove(sink)
                warnings.append(f"tracking sink {sink.name} failed and is off for the rest of this run "
                                f"({type(error).__name__}: {error})".splitlines()[0])
        return warnings

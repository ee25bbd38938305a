"""Tracking sinks: what a run publishes is read back with each library's own reader, and a sink that
fails never fails a job."""

import pandas as pd
import pytest

from benchmark.core.errors import BenchmarkError
from benchmark.run.execute import runner
from benchmark.run.folder.store import RunStore
from benchmark.run.execute.tracking import MLflowSink, TrackingConfig
from benchmark.config.options import ExecutorConfig, resolve_run_config

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")

INLINE = ExecutorConfig(kind="inline", precision="fp32")


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """supervised and MAE at one ratio: one pre-training and two fine-tune jobs, both sinks on."""
    from conftest import write_tiny_config
    folder = tmp_path_factory.mktemp("tracked")
    path = write_tiny_config(folder, methods=["supervised", "mae"], ratios=["70:10"],
                             pretrain={"mae": {"epochs": 1, "steps": 4, "batch_size": 8}})
    config = resolve_run_config(path)[0]
    events = []
    outcome = runner.run_benchmark(config, folder / "run", INLINE, on_event=events.append,
                                   tracking=TrackingConfig(("tensorboard", "mlflow")))
    assert len(outcome.summary.done) == 3 and not [e for e in events if e.kind == "warning"]
    return outcome.store, outcome.jobs


def same_curve(read: list[tuple[int, float]], frame: pd.DataFrame, column: str) -> bool:
    """Steps equal, values equal to float32 (what TensorBoard stores)."""
    steps, values = zip(*read) if read else ((), ())
    return list(steps) == frame["step"].tolist() and list(values) == pytest.approx(frame[column].tolist(), rel=1e-6)


def test_tensorboard_holds_each_jobs_curves_and_scores(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    store, jobs = tracked_run
    for job in jobs:
        events = EventAccumulator(str(store.root / "tracking" / "tensorboard" / job.key))
        events.Reload()
        scalars = events.Tags()["scalars"]
        if job.kind == "pretrain":
            curve = pd.read_parquet(store.loss_curve_path(job.key))
            assert same_curve([(e.step, e.value) for e in events.Scalars("pretrain/loss")], curve, "loss")
        else:
            history = pd.read_parquet(store.history_path(job.key))
            assert same_curve([(e.step, e.value) for e in events.Scalars("finetune/val_dice")], history, "val_dice")
            rows = pd.read_parquet(store.job_dir(job.key) / "rows.parquet")
            assert events.Scalars("test/dice")[0].value == pytest.approx(rows["dice"].mean())
            assert "pretrain/loss" not in scalars


def test_mlflow_holds_one_run_per_job_with_its_identity_and_curves(tracked_run):
    from mlflow.tracking import MlflowClient
    store, jobs = tracked_run
    client = MlflowClient(tracking_uri=f"sqlite:///{(store.root / 'tracking' / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name(store.root.resolve().name)
    runs = {r.data.params["job_key"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {job.key for job in jobs}
    for job in jobs:
        run = runs[job.key]
        assert (run.data.params["method"], run.data.params["ratio"], run.data.params["seed"]) == \
            (job.method, job.ratio, str(job.seed))
        assert run.data.tags["kind"] == job.kind and run.info.status == "FINISHED"
        if job.kind == "finetune":
            history = pd.read_parquet(store.history_path(job.key))
            loss = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "finetune/loss"))
            assert same_curve(loss, history, "loss")


def test_a_failing_sink_warns_once_and_every_job_still_finishes(tmp_path, monkeypatch):
    from conftest import write_tiny_config

    def broken(self, record):
        raise ConnectionError("tracking server unreachable\nsecond line")

    monkeypatch.setattr(MLflowSink, "publish", broken)
    config = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10", "60:20"]))[0]
    events = []
    outcome = runner.run_benchmark(config, tmp_path / "run", INLINE, on_event=events.append,
                                   tracking=TrackingConfig(("tensorboard", "mlflow")))
    warnings = [e.message for e in events if e.kind == "warning"]
    assert len(outcome.summary.done) == 2 and not outcome.summary.failed
    assert warnings == ["tracking sink mlflow failed and is off for the rest of this run "
                        "(ConnectionError: tracking server unreachable"]
    assert all((tmp_path / "run" / "tracking" / "tensorboard" / k).is_dir() for k in outcome.summary.done)
    assert all(RunStore(tmp_path / "run").state(k) == "done" for k in outcome.summary.done)


def test_an_unknown_sink_is_refused_naming_it():
    with pytest.raises(BenchmarkError, match="--track wandb: not a sink; choose from tensorboard, mlflow"):
        TrackingConfig(("wandb",)).check()

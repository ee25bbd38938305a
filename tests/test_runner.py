"""The grid end to end: rows, resume, failures, SIGKILL, SLURM through submitit's local executor."""

import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from benchmark.run.execute import runner
from benchmark.core.errors import BenchmarkError
from benchmark.config.options import ExecutorConfig
from benchmark.config.options import resolve_run_config
from benchmark.run.folder.store import METRIC_COLUMNS, RunStore, load_jobs, load_results
from benchmark.train.device import DeviceOptions
from conftest import write_tiny_config

INLINE = ExecutorConfig(kind="inline")


def _config(path, **options):
    return resolve_run_config(path, **options)[0]


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values(["job_key", "image_id"]).reset_index(drop=True)


def test_tiny_grid_gives_one_row_per_job_and_test_image_and_a_rerun_does_nothing(tiny_config, tmp_path):
    config = _config(tiny_config)
    outcome = runner.run_benchmark(config, tmp_path / "run", INLINE)
    finetunes = [j for j in outcome.jobs if j.kind == "finetune"]
    assert len(finetunes) == 2 * 2 and len(outcome.summary.done) == len(outcome.jobs) == 6
    rows = load_results(tmp_path / "run")
    assert len(rows) == len(finetunes) * 10  # 20 % of 50 images are the test set
    assert rows[METRIC_COLUMNS].notna().all().all()
    assert set(rows["method"]) == {"supervised", "mae"}
    assert {"git_commit", "versions", "device", "precision", "wall_time_s", "protocol"} <= set(rows.columns)
    counts = rows[rows["ratio"] == "70:10"].iloc[0]  # the ratio label and its actual image counts
    assert counts[["n_pretrain", "n_finetune_train", "n_finetune_val", "n_test"]].tolist() == [35, 4, 1, 10]
    assert set(rows["precision"]) == {DeviceOptions(device="cpu").precision}
    again = runner.run_benchmark(config, tmp_path / "run", INLINE)
    assert again.summary.done == [] and len(again.summary.already_done) == 6
    pd.testing.assert_frame_equal(_sorted(load_results(tmp_path / "run")), _sorted(rows))


def test_compile_switch_reaches_every_job_and_is_recorded_in_its_rows(tiny_config, tmp_path, compiled):
    config = _config(tiny_config, ratios="70:10")  # mae pre-training, then supervised and mae fine-tuning
    runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline", compile=True))
    rows = load_results(tmp_path / "run")
    fits_per_finetune = max(1, len(config.finetune.lr_grid))  # one fine-tuning per lr of the grid
    assert len(compiled) == 1 + 2 * fits_per_finetune and rows["compiled"].all()
    assert set(rows["method"]) == {"supervised", "mae"}


def test_a_diverging_job_is_recorded_and_its_dependants_skipped_while_others_finish(tmp_path):
    path = write_tiny_config(tmp_path, methods=["supervised", "mae"], ratios=["70:10"],
                             pretrain={"mae": {"steps": 4, "batch_size": 8, "lr": 1e30}})
    outcome = runner.run_benchmark(_config(path), tmp_path / "run", INLINE)
    jobs = load_jobs(tmp_path / "run").set_index("kind")
    assert jobs.loc["pretrain", "state"] == "failed"
    assert "NaN" in jobs.loc["pretrain", "error"] or "inf" in jobs.loc["pretrain", "error"]
    states = load_jobs(tmp_path / "run").set_index("method")["state"]
    assert states["supervised"] == "done"
    finetune_mae = load_jobs(tmp_path / "run").query("kind == 'finetune' and method == 'mae'").iloc[0]
    assert finetune_mae["state"] == "skipped" and "depends on failed job" in finetune_mae["error"]
    assert len(outcome.summary.failed) == 1 and len(outcome.summary.skipped) == 1
    assert set(load_results(tmp_path / "run")["method"]) == {"supervised"}


def test_a_folder_of_another_config_is_refused_unless_forced(tiny_config, tmp_path):
    config = _config(tiny_config, methods="supervised", ratios="70:10")
    runner.run_benchmark(config, tmp_path / "run", INLINE)
    other = _config(tiny_config, methods="supervised", ratios="60:20")
    with pytest.raises(BenchmarkError, match="different config"):
        runner.open_run(other, tmp_path / "run")
    runner.open_run(other, tmp_path / "run", force=True)
    assert load_jobs(tmp_path / "run").empty  # the old results are gone, never mixed


def _cli(*args, cwd):
    return [sys.executable, "-c", "from benchmark.cli import app; app()", *args]


def test_sigkill_part_way_then_rerun_gives_the_same_rows_as_an_uninterrupted_run(tmp_path):
    path = write_tiny_config(tmp_path, methods=["supervised", "mae"], ratios=["70:10"],
                             pretrain={"mae": {"steps": 8, "batch_size": 8}}, finetune={"steps": 6, "eval_every": 3, "batch_size": 4})
    command = ["run", "--config", str(path), "--profile", "tiny"]
    subprocess.run(_cli(*command, "--out", str(tmp_path / "clean"), cwd=tmp_path), check=True, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen(_cli(*command, "--out", str(killed), cwd=tmp_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore(killed)
    deadline = time.time() + 120
    while time.time() < deadline and not any(store.state(k) == "done" for k in store.job_keys()):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done_before = [k for k in store.job_keys() if store.state(k) == "done"]
    assert 0 < len(done_before) < 3, "the kill should land part way through the grid"
    rerun = subprocess.run(_cli(*command, "--out", str(killed), cwd=tmp_path), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} already done" in rerun.stdout
    clean_rows = _sorted(load_results(tmp_path / "clean"))
    killed_rows = _sorted(load_results(killed))
    columns = ["job_key", "image_id", *METRIC_COLUMNS]
    pd.testing.assert_frame_equal(killed_rows[columns], clean_rows[columns])


def test_slurm_executor_runs_the_grid_through_submitit_local(tiny_config, tmp_path):
    config = _config(tiny_config, methods="supervised,mae", ratios="70:10")
    slurm = ExecutorConfig(kind="slurm", slurm_cluster="local", poll_seconds=0.5)
    outcome = runner.run_benchmark(config, tmp_path / "run", slurm)
    assert len(outcome.summary.done) == 3, outcome.summary
    assert len(load_results(tmp_path / "run")) == 2 * 10
    assert (tmp_path / "run" / "slurm").is_dir()


def test_devices_naming_a_missing_gpu_is_refused(tiny_config, tmp_path):
    config = _config(tiny_config, methods="supervised", ratios="70:10")
    with pytest.raises(BenchmarkError, match="GPU 7 does not exist"):
        runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(devices=(7,)))


def test_every_registered_method_runs_end_to_end_on_a_tiny_grid(tmp_path):
    from methods import registry

    names = sorted(registry())
    path = write_tiny_config(tmp_path, methods=names, ratios=["70:10"],
                             pretrain={n: {"steps": 3, "batch_size": 8} for n in names if registry()[n].pretrains})
    outcome = runner.run_benchmark(_config(path), tmp_path / "run", INLINE)
    assert not outcome.summary.failed, load_jobs(tmp_path / "run").query("state == 'failed'")["error"].tolist()
    rows = load_results(tmp_path / "run")
    assert sorted(rows["method"].unique()) == names
    assert len(rows) == len(names) * 10
    # every pre-training says whether its pretext learned, against a chance level of its own; every
    # fine-tune from transferred weights says how far its encoder moved, one from scratch nothing
    store = RunStore(tmp_path / "run")
    for job in outcome.jobs:
        done = store.read_status(job.key).outcome
        if job.kind == "pretrain":
            assert done.chance_loss > 0 and isinstance(done.pretext_learned, bool), job.method
            assert done.loss_start is not None and done.final_loss is not None
        elif job.kind == "finetune":
            transferred = registry()[job.method].pretrains
            assert (done.encoder_shift is not None and done.encoder_shift > 0) == transferred, job.method


def _clean_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_stops_cleanly_and_leaves_no_half_written_job(tmp_path):
    # a pre-training job long enough (400 steps: seconds even on a fast CPU) that the interrupt lands while it runs
    path = write_tiny_config(tmp_path, methods=["supervised", "mae"], ratios=["70:10"],
                             pretrain={"mae": {"steps": 400, "batch_size": 8}})
    run_dir = tmp_path / "run"
    command = _cli("run", "--config", str(path), "--profile", "tiny", "--out", str(run_dir), cwd=tmp_path)
    # the run starts as from a shell: SIGINT handled and unblocked, whatever an earlier test in this
    # pytest process left (a child inherits an ignored or blocked SIGINT, and then cannot be stopped)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_clean_sigint)
    store = RunStore(run_dir)
    deadline = time.time() + 120
    while time.time() < deadline and not any(k.startswith("pretrain-") and store.state(k) == "running"
                                             for k in store.job_keys()):
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130
    states = {k: store.state(k) for k in store.job_keys()}
    assert "running" not in states.values(), states
    assert all(not (store.job_dir(k) / "rows.parquet").exists() for k, s in states.items() if s != "done")
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert len(load_results(run_dir)) == 2 * 10


def test_persistent_cpu_workers_give_the_rows_of_a_subprocess_per_job(tiny_config, tmp_path):
    config = _config(tiny_config, ratios="70:10")
    rows = {}
    for persistent in (True, False):
        run_dir = tmp_path / f"persistent-{persistent}"
        outcome = runner.run_benchmark(config, run_dir, ExecutorConfig(persistent_cpu_workers=persistent))
        assert len(outcome.summary.done) == 3, outcome.summary
        rows[persistent] = _sorted(load_results(run_dir))[["job_key", "image_id", *METRIC_COLUMNS]]
    pd.testing.assert_frame_equal(rows[True], rows[False])

"""Fault injection: the whole run SIGKILLed at seeded moments of every stage, then resumed, gives the
rows of an uninterrupted run; a job that raises is recorded failed while the rest finish; a write
that fails mid-way (a full disk) leaves no partial file that a later run reads.

The kills come from tests/faults/sitecustomize.py (on PYTHONPATH of the run's processes only).
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.data.synthetic import write_synthetic
from benchmark.run.execute import runner
from benchmark.run.folder.store import METRIC_COLUMNS, RunStore, load_jobs, load_results
from benchmark.config.options import ExecutorConfig, resolve_run_config
from conftest import write_tiny_config

FAULTS = Path(__file__).parent / "faults"
SEED = 20261202  # draws the call at which each moment's kill lands

#: moment: (the function whose N-th call kills the run, the range N is drawn from; "+": after the call)
MOMENTS = {
    "data preparation": ("benchmark.data.preprocess:preprocess_pair", 5, 45, ""),
    "pre-training": ("methods.mae:MAE.training_step", 2, 7, ""),
    "fine-tuning": ("benchmark.train.loops:validation_dice", 1, 6, ""),
    "rows written, status not yet": ("benchmark.run.folder.store:RunStore.write_rows", 1, 2, "+"),
    "scoring an external set": ("benchmark.evaluate.metrics:segmentation_metrics", 22, 31, ""),
    "report": ("matplotlib.figure:Figure.savefig", 1, 3, ""),
}
KEYS = ["job_key", "test_set", "image_id"]


def _kill_at(moment: str) -> str:
    target, low, high, after = MOMENTS[moment]
    return f"{target}@{random.Random(f'{SEED}-{moment}').randint(low, high)}{after}"


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, list[str]]:
    """A tiny grid with an external test set (so it has score jobs), and its uninterrupted rows."""
    folder = tmp_path_factory.mktemp("faults")
    external = write_synthetic(folder / "external", n=6, size=64, seed=99)
    config = write_tiny_config(folder, methods=["supervised", "mae"], ratios=["70:10"],
                               pretrain={"mae": {"steps": 8, "batch_size": 8}})
    command = ["run", "--config", str(config), "--profile", "tiny", "--cpu-workers", "1",
               "--external-test", f"ext={external}"]
    _run(command, folder / "clean")
    return folder, command


def _run(command: list[str], out: Path, kill: str = "", counter: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")]))}
    if kill:
        env |= {"ANGIOBENCH_TEST_KILL": kill, "ANGIOBENCH_TEST_KILL_COUNTER": str(counter)}
    result = subprocess.run([sys.executable, "-c", "from benchmark.cli import app; app()", *command, "--out", str(out)],
                            env=env, capture_output=True, text=True, start_new_session=True, timeout=600)
    if not kill:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _rows(run_dir: Path) -> pd.DataFrame:
    rows = load_results(run_dir, "all")
    return rows.sort_values(KEYS).reset_index(drop=True)[[*KEYS, *METRIC_COLUMNS]]


def _landed_in(moment: str, store: RunStore) -> bool:
    """Whether the kill hit the stage it was meant for (the run's state tells)."""
    states = {key: store.state(key) for key in store.job_keys()}
    kinds = {key: key.split("-")[0] for key in states}
    done = {kind: [states[k] == "done" for k in states if kinds[k] == kind] for kind in set(kinds.values())}
    if moment == "data preparation":
        return not states
    if moment == "pre-training":
        return not any(done.get("pretrain", [True]))
    if moment in ("fine-tuning", "rows written, status not yet"):
        return not all(done.get("finetune", [False]))
    if moment == "scoring an external set":
        return all(done["finetune"]) and not all(done.get("score", [False]))
    return all(s == "done" for s in states.values())  # the report: after every job


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_run_killed_at_a_seeded_moment_resumes_to_the_rows_of_an_uninterrupted_run(grid, moment, tmp_path):
    folder, command = grid
    killed = _run(command, tmp_path / "run", _kill_at(moment), tmp_path / "calls")
    assert killed.returncode == -9, f"the kill at {_kill_at(moment)} never fired:\n{killed.stdout}{killed.stderr}"
    assert _landed_in(moment, RunStore(tmp_path / "run")), load_jobs(tmp_path / "run")
    resumed = _run(command, tmp_path / "run")
    assert "report:" in resumed.stdout
    pd.testing.assert_frame_equal(_rows(tmp_path / "run"), _rows(folder / "clean"))


def test_a_job_that_raises_is_recorded_failed_with_its_error_and_the_rest_finish(tmp_path, monkeypatch):
    from methods.mae import MAE

    def broken(self, *args, **kwargs):
        raise ValueError("a bug in the method")

    monkeypatch.setattr(MAE, "training_step", broken)
    config = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised", "mae"], ratios=["70:10"],
                                                  pretrain={"mae": {"steps": 4, "batch_size": 8}}))[0]
    outcome = runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline"))
    jobs = load_jobs(tmp_path / "run").set_index("method")
    assert jobs.loc["mae"].query("kind == 'pretrain'")["error"].item() == "ValueError: a bug in the method"
    assert jobs.loc["mae"].query("kind == 'finetune'")["state"].item() == "skipped"
    assert len(outcome.summary.done) == 1 and set(load_results(tmp_path / "run")["method"]) == {"supervised"}


def test_a_write_that_fails_mid_way_leaves_no_partial_file_and_a_retry_completes(tmp_path, monkeypatch):
    import benchmark.core.files

    config = resolve_run_config(write_tiny_config(tmp_path, methods=["supervised"], ratios=["70:10"]))[0]
    clean = runner.run_benchmark(config, tmp_path / "clean", ExecutorConfig(kind="inline"))
    assert not clean.summary.failed
    real_fsync = os.fsync

    def full_disk_on_rows(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and ".rows.parquet." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(benchmark.core.files.os, "fsync", full_disk_on_rows)
    failed = runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline"))
    key = failed.summary.failed[0]
    store = RunStore(tmp_path / "run")
    assert "No space left on device" in store.read_status(key).error
    leftovers = [p.name for p in store.job_dir(key).iterdir() if p.name != "job.json" and p.name != "status.json"]
    assert not any("rows.parquet" in name for name in leftovers), leftovers  # neither the file nor its temp
    assert load_results(tmp_path / "run").empty
    monkeypatch.setattr(benchmark.core.files.os, "fsync", real_fsync)
    retried = runner.run_benchmark(config, tmp_path / "run", ExecutorConfig(kind="inline"), retry_failed=True)
    assert retried.summary.done == [key]
    pd.testing.assert_frame_equal(_rows(tmp_path / "run"), _rows(tmp_path / "clean"))
